"""Login (OAuth2 password flow) and who-am-I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from api.deps import ActorDep, ConnDep, ServicesDep
from api.security import issue_token
from sharpeyes.passwords import verify_password

router = APIRouter(prefix="/api/v1", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    person_id: str
    role: str


class MeOut(BaseModel):
    person_id: str
    role: str
    region_path: str | None
    grid_codes: list[str]


@router.post("/auth/token", response_model=TokenOut)
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], conn: ConnDep,
          services: ServicesDep) -> TokenOut:
    row = conn.execute(
        "SELECT id, role, password_hash FROM people WHERE username = %s AND active",
        (form.username,),
    ).fetchone()
    if row is None or not verify_password(form.password, row["password_hash"]):
        raise HTTPException(401, "wrong username or password",
                            headers={"WWW-Authenticate": "Bearer"})
    minutes = services.settings.token_minutes
    token = issue_token(row["id"], row["role"], services.jwt_secret, minutes)
    return TokenOut(access_token=token, expires_in=minutes * 60, person_id=row["id"],
                    role=row["role"])


@router.get("/me", response_model=MeOut)
def me(actor: ActorDep) -> MeOut:
    return MeOut(person_id=actor.person_id, role=actor.role.value,
                 region_path=actor.region_path, grid_codes=sorted(actor.grid_codes))
