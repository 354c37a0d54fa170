"""Errors of the alerts package; ``str(error)`` says what is wrong, for the person who asked.

The API maps them to problem details::

    AlertsError
    ├── NotFound   (404) — also for things outside the caller's scope
    ├── Forbidden  (403) — the role may not do this, or not outside its region
    ├── Conflict   (409) — the current state forbids it (name taken, rule in use, acknowledged)
    └── Invalid    (422) — well-formed but wrong; ``problems`` says where and why
"""

from __future__ import annotations

from dataclasses import dataclass


class AlertsError(Exception):
    status = 409


class NotFound(AlertsError):
    status = 404


class Forbidden(AlertsError):
    status = 403


class Conflict(AlertsError):
    status = 409


@dataclass(frozen=True, slots=True)
class Problem:
    location: str   # "body.params.metric"
    message: str


class Invalid(AlertsError):
    status = 422

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.location}: {p.message}" for p in problems[:3]))
        self.problems = problems

    @classmethod
    def at(cls, location: str, message: str) -> Invalid:
        return cls([Problem(location, message)])
