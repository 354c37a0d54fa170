"""FastAPI dependencies as ``Annotated`` aliases: services, a connection, the caller, roles.

Who may call what is decided in two places, both here: :func:`require` (one endpoint)
and the role groups below, which :mod:`api.app` applies to whole routers. Scope (which
rows a caller sees) is :mod:`grid.visibility`'s job.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, cast

import psycopg
from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import OAuth2PasswordBearer
from psycopg.rows import DictRow

from api.security import InvalidToken, decode_token, load_actor
from api.services import Services
from grid.actors import Actor, Role

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token")
_optional_oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)

# Role groups: who watches the city (hotspots, alerts, tasks, KPIs) and who keeps the
# device registry. Integrators connect devices; they do not watch people or crowds.
WATCHERS = (Role.ADMIN, Role.OPERATOR, Role.WORKER, Role.VIEWER)
CENTRE = (Role.ADMIN, Role.OPERATOR)
REGISTRY_READERS = (Role.ADMIN, Role.OPERATOR, Role.INTEGRATOR, Role.VIEWER)
REGISTRY_WRITERS = (Role.ADMIN, Role.INTEGRATOR)

_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


async def get_services(request: Request) -> Services:
    # async: an attribute read needs no worker thread (sync dependencies each take one).
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_conn(services: ServicesDep) -> Iterator[psycopg.Connection[DictRow]]:
    with services.pool.connection() as conn:
        yield cast(psycopg.Connection[DictRow], conn)  # the pool's row factory is dict_row


ConnDep = Annotated[psycopg.Connection[DictRow], Depends(get_conn)]


def _actor_for(conn: psycopg.Connection[Any], services: Services, token: str) -> Actor:
    try:
        person_id = decode_token(token, services.jwt_secret)
    except InvalidToken as exc:
        raise HTTPException(401, f"invalid access token: {exc}", headers=_UNAUTHORIZED) from exc
    actor = load_actor(conn, person_id)
    if actor is None:
        raise HTTPException(401, "the account no longer exists or is disabled",
                            headers=_UNAUTHORIZED)
    return actor


def get_actor(services: ServicesDep, conn: ConnDep,
              token: Annotated[str, Depends(oauth2)]) -> Actor:
    return _actor_for(conn, services, token)


ActorDep = Annotated[Actor, Depends(get_actor)]


def get_stream_actor(
    services: ServicesDep,
    header_token: Annotated[str | None, Depends(_optional_oauth2)],
    access_token: Annotated[str | None, Query(
        max_length=4096, description="The bearer token, for clients that cannot set headers "
        "(EventSource). Prefer the Authorization header.")] = None,
) -> Actor:
    """The caller of a long-lived response: the connection is returned to the pool at once
    instead of being held for the life of the stream."""
    token = header_token or access_token
    if not token:
        raise HTTPException(401, "send a bearer token in the Authorization header or as "
                            "access_token", headers=_UNAUTHORIZED)
    with services.pool.connection() as conn:
        return _actor_for(conn, services, token)


StreamActorDep = Annotated[Actor, Depends(get_stream_actor)]


def _check_role(actor: Actor, roles: tuple[Role, ...]) -> Actor:
    if actor.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise HTTPException(403, f"this needs one of the roles: {allowed}; "
                            f"you are {actor.role.value}")
    return actor


def require(*roles: Role) -> object:
    """A dependency that admits only ``roles``."""
    return roles_gate(*roles)


def roles_gate(*roles: Role) -> Any:
    """:func:`require`, typed for ``Annotated[Actor, ...]`` and ``dependencies=[...]``."""

    async def check(actor: ActorDep) -> Actor:
        return _check_role(actor, roles)

    return Depends(check)
