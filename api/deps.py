"""FastAPI dependencies as ``Annotated`` aliases: services, a connection, the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, cast

import psycopg
from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer
from psycopg.rows import DictRow

from api.security import InvalidToken, decode_token, load_actor
from api.services import Services
from grid.actors import Actor, Role

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_conn(services: ServicesDep) -> Iterator[psycopg.Connection[DictRow]]:
    with services.pool.connection() as conn:
        yield cast(psycopg.Connection[DictRow], conn)  # the pool's row factory is dict_row


ConnDep = Annotated[psycopg.Connection[DictRow], Depends(get_conn)]

_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def get_actor(services: ServicesDep, conn: ConnDep,
              token: Annotated[str, Depends(oauth2)]) -> Actor:
    try:
        person_id = decode_token(token, services.jwt_secret)
    except InvalidToken as exc:
        raise HTTPException(401, f"invalid access token: {exc}", headers=_UNAUTHORIZED) from exc
    actor = load_actor(conn, person_id)
    if actor is None:
        raise HTTPException(401, "the account no longer exists or is disabled",
                            headers=_UNAUTHORIZED)
    return actor


ActorDep = Annotated[Actor, Depends(get_actor)]


def require(*roles: Role) -> object:
    """A dependency that admits only ``roles``."""

    def check(actor: ActorDep) -> Actor:
        if actor.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise HTTPException(403, f"this needs one of the roles: {allowed}")
        return actor

    return Depends(check)
