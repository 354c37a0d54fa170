"""Login (OAuth2 password flow, rate limited) and who-am-I."""

from __future__ import annotations

from functools import cache
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from api.deps import ActorDep, ConnDep, ServicesDep
from api.ratelimit import LoginLimits, TooManyAttempts, begin_attempt
from api.security import issue_token
from kernel.passwords import hash_password, verify_password

router = APIRouter(prefix="/api/v1", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")
    person_id: str
    role: str


class MeOut(BaseModel):
    person_id: str
    role: str
    region_path: str | None
    grid_codes: list[str]
    display_name: str | None = None
    name_latin: str | None = None
    region_name: str | None = Field(None, description="The caller's centre (its region).")
    region_name_latin: str | None = None
    region_level: str | None = Field(None, description="city, district, street, community.")


_LOGIN_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"description": "wrong username or password"},
    429: {"description": "too many attempts; retry after `Retry-After` seconds",
          "headers": {"Retry-After": {"schema": {"type": "integer"},
                                      "description": "seconds to wait"}}},
}


@cache
def _decoy_hash() -> str:
    return hash_password("decoy password that matches nobody")


@router.post("/auth/token", response_model=TokenOut, responses=_LOGIN_RESPONSES)
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], conn: ConnDep,
          services: ServicesDep, request: Request) -> TokenOut:
    """Exchange a username and password for a bearer token (form-encoded, OAuth2)."""
    limits: LoginLimits = request.app.state.login_limits
    client = request.client.host if request.client else "unknown"
    try:
        attempt = begin_attempt(conn, limits, form.username, client)
    except TooManyAttempts as exc:
        raise HTTPException(429, f"{exc}; try again in {exc.retry_after} s",
                            headers={"Retry-After": str(exc.retry_after)}) from exc
    row = conn.execute(
        "SELECT id, role, password_hash FROM people WHERE username = %s AND active",
        (form.username,),
    ).fetchone()
    # An unknown username costs the same scrypt as a known one: timing reveals nothing.
    stored = row["password_hash"] if row else _decoy_hash()
    if not verify_password(form.password, stored) or row is None:
        attempt.failed()
        raise HTTPException(401, "wrong username or password",
                            headers={"WWW-Authenticate": "Bearer"})
    attempt.succeeded()
    minutes = services.settings.token_minutes
    token = issue_token(row["id"], row["role"], services.jwt_secret, minutes)
    return TokenOut(access_token=token, expires_in=minutes * 60, person_id=row["id"],
                    role=row["role"])


@router.get("/me", response_model=MeOut)
def me(actor: ActorDep, conn: ConnDep) -> MeOut:
    """The caller: role, scope (region subtree or grids) and display name."""
    row = conn.execute(
        "SELECT p.display_name, p.name_latin, r.name AS region_name,"
        " r.name_latin AS region_name_latin, r.level AS region_level"
        " FROM people p LEFT JOIN regions r ON r.id = p.region_id WHERE p.id = %s",
        (actor.person_id,)).fetchone()
    names = dict(row) if row else {}
    return MeOut(person_id=actor.person_id, role=actor.role.value,
                 region_path=actor.region_path, grid_codes=sorted(actor.grid_codes), **names)
