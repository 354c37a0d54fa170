"""Access tokens (JWT, HS256) and turning a token into an :class:`grid.actors.Actor`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import psycopg
from psycopg.rows import tuple_row

from grid.actors import Actor, Role
from kernel.errors import ForbiddenError

ALGORITHM = "HS256"


class InvalidToken(ForbiddenError):
    pass


def issue_token(person_id: str, role: str, secret: str, minutes: int) -> str:
    now = datetime.now(UTC)
    claims = {"sub": person_id, "role": role, "iat": now, "exp": now + timedelta(minutes=minutes)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(token: str, secret: str) -> str:
    """The person id in a valid, unexpired token."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp"]})
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    subject = claims.get("sub")
    if not isinstance(subject, str):
        raise InvalidToken("token has no subject")
    return subject


def load_actor(conn: psycopg.Connection[Any], person_id: str) -> Actor | None:
    row = conn.cursor(row_factory=tuple_row).execute(
        "SELECT p.role, r.path, COALESCE(array_agg(m.grid_code) FILTER"
        " (WHERE m.grid_code IS NOT NULL), '{}')"
        " FROM people p LEFT JOIN regions r ON r.id = p.region_id"
        " LEFT JOIN grid_members m ON m.person_id = p.id"
        " WHERE p.id = %s AND p.active GROUP BY p.role, r.path",
        (person_id,),
    ).fetchone()
    if row is None:
        return None
    role, path, grids = row
    return Actor(person_id, Role(role), path, frozenset(grids))
