"""Errors as RFC 9457 problem details (``application/problem+json``).

Bad input never becomes a 500: validation, task, HTTP and database errors that a
request can provoke all map to precise 4xx; a database that is down or overloaded is a
503 with ``Retry-After``. Anything else is a bug: logged with its traceback and
answered with a 500 problem that reveals nothing internal.

    HTTPException (starlette)      → its status
    RequestValidationError         → 422, ``errors`` lists each problem and where
    kernel.errors kinds            → NotFound 404, Forbidden 403, Conflict 409, Invalid 422
                                     (alerts' Invalid lists each problem and where),
                                     Limit 429, Unavailable 503 (every stage's errors)
    psycopg.DataError              → 422 (a value PostgreSQL cannot take, e.g. NUL)
    psycopg.IntegrityError         → 409 (still referenced, already exists) or 422
    OverflowError                  → 422 (date arithmetic on an extreme date, say year 1)
    psycopg.OperationalError,
    psycopg_pool.PoolTimeout       → 503
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg import errors as pg_errors
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from alerts.errors import Invalid
from api.problem_titles import title
from kernel.errors import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    LimitError,
    NotFoundError,
    SharpEyesError,
    UnavailableError,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# Documented on every operation, so the OpenAPI document lists what a client can meet.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid access token"},
    403: {"description": "your role may not do this"},
    400: {"description": "the body cannot be parsed (not JSON, or a broken form)"},
    422: {"description": "invalid request; `errors` lists each problem and where"},
    503: {"description": "the store is unavailable; retry after `Retry-After` seconds"},
}


def problem(status: int, detail: str, *, headers: dict[str, str] | None = None,
            request: Request | None = None, **extra: Any) -> JSONResponse:
    """A problem response; its ``title`` in Chinese when ``request`` prefers it."""
    language = request.headers.get("accept-language") if request is not None else None
    body = {"type": "about:blank", "title": title(status, language), "status": status,
            "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


# Domain error kinds (kernel/errors.py) → HTTP status; the first match wins.
_KIND_STATUS: tuple[tuple[type[SharpEyesError], int], ...] = (
    (NotFoundError, 404), (ForbiddenError, 403), (ConflictError, 409), (InvalidError, 422),
    (LimitError, 429), (UnavailableError, 503))


def integrity_problem(exc: psycopg.IntegrityError,
                      request: Request | None = None) -> JSONResponse:
    """What a constraint violation means for the caller, in words."""
    diag = exc.diag
    if isinstance(exc, pg_errors.ForeignKeyViolation):
        detail = diag.message_detail or diag.message_primary or "a reference does not hold"
        if "still referenced" in detail:
            return problem(409, f"still in use: {detail}", request=request)
        return problem(422, f"refers to something that does not exist: {detail}",
                       request=request)
    if isinstance(exc, pg_errors.UniqueViolation):
        return problem(409, f"already exists: {diag.message_detail or diag.message_primary}",
                       request=request)
    return problem(422, f"not allowed by the data model: {diag.message_primary}"
                        f" ({diag.constraint_name or 'constraint'})", request=request)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(r: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None),
                       request=r)

    @app.exception_handler(RequestValidationError)
    async def validation_error(r: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"location": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:3])
        return problem(422, f"invalid request: {summary}", errors=errors, request=r)

    @app.exception_handler(SharpEyesError)
    async def domain_error(r: Request, exc: SharpEyesError) -> JSONResponse:
        status = next((s for kind, s in _KIND_STATUS if isinstance(exc, kind)), None)
        if status is None:  # a kind the API does not know: a bug, like any other
            log.error("unmapped %s on %s %s", type(exc).__name__, r.method, r.url.path,
                      exc_info=exc)
            return problem(500, "internal error", request=r)
        if isinstance(exc, Invalid):
            return problem(422, str(exc), request=r, errors=[
                {"location": p.location, "message": p.message} for p in exc.problems])
        return problem(status, str(exc), request=r)

    _install_store_handlers(app)


def _install_store_handlers(app: FastAPI) -> None:
    @app.exception_handler(psycopg.DataError)
    async def data_error(r: Request, exc: psycopg.DataError) -> JSONResponse:
        # Values that pass the schema but not PostgreSQL (NUL characters, out-of-range
        # numbers, malformed text for a typed column): the request is at fault.
        return problem(422, f"a value cannot be stored: {exc.diag.message_primary or exc}",
                       request=r)

    @app.exception_handler(psycopg.IntegrityError)
    async def integrity_error(r: Request, exc: psycopg.IntegrityError) -> JSONResponse:
        return integrity_problem(exc, r)

    @app.exception_handler(OverflowError)
    async def overflow(r: Request, exc: OverflowError) -> JSONResponse:
        # Only input reaches the limits of datetime or float arithmetic in this API.
        return problem(422, f"a date or number in the request is out of range: {exc}",
                       request=r)

    @app.exception_handler(psycopg.OperationalError)
    async def store_down(r: Request, exc: psycopg.OperationalError) -> JSONResponse:
        log.warning("store unavailable: %s", exc)
        return problem(503, "the store is unavailable; try again shortly",
                       headers={"Retry-After": "5"}, request=r)

    @app.exception_handler(PoolTimeout)
    async def pool_exhausted(r: Request, exc: PoolTimeout) -> JSONResponse:
        log.warning("no database connection free: %s", exc)
        return problem(503, "the server is busy; try again shortly",
                       headers={"Retry-After": "2"}, request=r)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "an unexpected error occurred; it has been logged",
                       request=request)
