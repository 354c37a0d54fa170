"""Who is acting: a person with a role and a scope, or the system itself.

What an actor may see is decided in one place, :mod:`grid.visibility`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"   # centre staff (综治中心), scoped to a region subtree
    WORKER = "worker"       # grid worker (网格员), scoped to own grids and tasks
    INTEGRATOR = "integrator"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class Actor:
    person_id: str
    role: Role
    region_path: str | None = None       # operators and viewers: root of their subtree
    grid_codes: frozenset[str] = frozenset()  # workers: grids they belong to

    @property
    def label(self) -> str:
        """How the actor appears in audit events."""
        return f"person:{self.person_id}"


SYSTEM_DISPATCHER = "system:dispatcher"
