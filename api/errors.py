"""Errors as RFC 9457 problem details (``application/problem+json``).

Bad input never becomes a 500: validation, task and HTTP errors all map to precise 4xx.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from grid.tasks import ActionNotAllowed, TaskError, TaskNotFound, TransitionConflict

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem(status: int, detail: str, *, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status,
            "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_TASK_STATUS = {TaskNotFound: 404, ActionNotAllowed: 403, TransitionConflict: 409}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_r: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_r: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"location": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:3])
        return problem(422, f"invalid request: {summary}", errors=errors)

    @app.exception_handler(TaskError)
    async def task_error(_r: Request, exc: TaskError) -> JSONResponse:
        return problem(_TASK_STATUS.get(type(exc), 409), str(exc))
