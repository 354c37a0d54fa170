"""Errors of the alerts package; ``str(error)`` says what is wrong, for the person who asked.

Each is also one of the kinds of ``kernel.errors``, which the API maps to problem
details::

    AlertsError
    ├── NotFound   (NotFoundError) — also for things outside the caller's scope
    ├── Forbidden  (ForbiddenError) — the role may not do this, or not outside its region
    ├── Conflict   (ConflictError) — the current state forbids it (name taken, rule in use)
    └── Invalid    (InvalidError) — well-formed but wrong; ``problems`` says where and why
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.errors import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    SharpEyesError,
)


class AlertsError(SharpEyesError):
    """Base of the alerts package's errors."""


class NotFound(AlertsError, NotFoundError):
    pass


class Forbidden(AlertsError, ForbiddenError):
    pass


class Conflict(AlertsError, ConflictError):
    pass


@dataclass(frozen=True, slots=True)
class Problem:
    location: str   # "body.params.metric"
    message: str


class Invalid(AlertsError, InvalidError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.location}: {p.message}" for p in problems[:3]))
        self.problems = problems

    @classmethod
    def at(cls, location: str, message: str) -> Invalid:
        return cls([Problem(location, message)])
