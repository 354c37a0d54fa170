"""Who sees what: the one visibility policy, in SQL and in Python.

A region's path is its dotted ancestry (``C01.D02.S05``); region ids contain no dot, so a
dot only ever separates levels. The one rule everything here is built on:

    path P lies in the subtree rooted at R  ⇔  P = R  or  P starts with R + "."

- Python: :func:`in_subtree` — ``path == root or path.startswith(root + ".")``
- SQL: :func:`subtree_sql` — ``(path = root OR starts_with(path, root || '.'))``

Never ``LIKE``: ``_`` and ``%`` are wildcards there, and region ids may contain ``_``
(``C01.D_1`` would see ``C01.DX1``). ``tests/grid/test_visibility.py`` checks on
PostgreSQL that each SQL form below and its Python twin agree on generated region trees.

The named variations, each with both forms:

=====================  ==========================================  =====================
variation              who sees a row                              used by
=====================  ==========================================  =====================
``covers``             admins everything; others their region      managing (placement,
                       subtree; no region: nothing                 assignment, rules)
``sees`` (watchers)    ``covers``, but workers their own grids     hotspots, alerts,
                                                                   zones' series, KPIs
``sees_task``          ``sees``, and workers also the tasks        tasks
                       assigned to them
``registry_sees``      ``sees``, and integrators without a region  devices, zones,
                       everything (they keep the city's registry)  dead letters
``rule_visible``       ``covers``, and also city-wide (no path)    rules, silences,
                       and ancestor scopes: what applies to you    periods
``ancestors``          regions whose subtree holds a path          escalation centres,
                                                                   alert deliveries
=====================  ==========================================  =====================

SQL builders return a fragment and its parameters (``scope_*`` names) to AND into a
query; the fragment names columns given by the caller (by default ``r.path`` for the
region path, ``g.code`` for the grid, ``t.assignee_id`` for a task's assignee).
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from grid.actors import Actor, Role

SEPARATOR = "."


# --- the one rule -----------------------------------------------------------------------

def in_subtree(path: str | None, root: str) -> bool:
    """Whether region ``path`` lies in the subtree rooted at ``root`` (itself included)."""
    return path is not None and (path == root or path.startswith(root + SEPARATOR))


def subtree_sql(path: str, root: str) -> str:
    """SQL for :func:`in_subtree`: ``path`` and ``root`` are SQL expressions (columns or
    placeholders). NULL on either side matches nothing."""
    return f"({path} = {root} OR starts_with({path}, {root} || '{SEPARATOR}'))"


Fragment = tuple[sql.Composable, dict[str, Any]]

_TRUE: Fragment = (sql.SQL("TRUE"), {})
_FALSE: Fragment = (sql.SQL("FALSE"), {})


# --- covers: an actor's region subtree ----------------------------------------------------

def covers(actor: Actor, path: str | None) -> bool:
    """Whether ``path`` is inside the actor's region subtree (admins: every path)."""
    if actor.role is Role.ADMIN:
        return True
    return actor.region_path is not None and in_subtree(path, actor.region_path)


def covers_sql(actor: Actor, path: str = "r.path") -> Fragment:
    if actor.role is Role.ADMIN:
        return _TRUE
    if actor.region_path is None:
        return _FALSE
    return sql.SQL(subtree_sql(path, "%(scope_path)s")), {"scope_path": actor.region_path}


# --- sees: what watchers (centres, viewers, workers) see ----------------------------------

def sees(actor: Actor, path: str | None, grid_code: str | None) -> bool:
    """Admins everything, workers their own grids, everyone else their region subtree."""
    if actor.role is Role.WORKER:
        return grid_code is not None and grid_code in actor.grid_codes
    return covers(actor, path)


def sees_sql(actor: Actor, path: str = "r.path", grid: str = "g.code") -> Fragment:
    if actor.role is Role.WORKER:
        return (sql.SQL(f"{grid} = ANY(%(scope_grids)s)"),
                {"scope_grids": sorted(actor.grid_codes)})
    return covers_sql(actor, path)


def sees_task(actor: Actor, path: str | None, grid_code: str | None,
              assignee_id: str | None) -> bool:
    """:func:`sees`, and a worker also sees the tasks assigned to them (reassignment)."""
    if actor.role is Role.WORKER and assignee_id is not None and assignee_id == actor.person_id:
        return True
    return sees(actor, path, grid_code)


def task_sql(actor: Actor, path: str = "r.path", grid: str = "g.code",
             assignee: str = "t.assignee_id") -> Fragment:
    fragment, params = sees_sql(actor, path, grid)
    if actor.role is not Role.WORKER:
        return fragment, params
    return (sql.SQL("({} OR {} = %(scope_me)s)").format(
        fragment, sql.SQL(assignee)), {**params, "scope_me": actor.person_id})


# --- the registry: integrators keep the city's devices ------------------------------------

def registry_sees(actor: Actor, path: str | None, grid_code: str | None) -> bool:
    """:func:`sees`, and an integrator without a region works city-wide."""
    if actor.role is Role.INTEGRATOR and actor.region_path is None:
        return True
    return sees(actor, path, grid_code)


def registry_sql(actor: Actor, path: str = "r.path", grid: str = "g.code") -> Fragment:
    if actor.role is Role.INTEGRATOR and actor.region_path is None:
        return _TRUE
    return sees_sql(actor, path, grid)


# --- rules, silences, periods: what applies to you -----------------------------------------

def rule_visible(actor: Actor, path: str | None) -> bool:
    """Readers see the scopes that apply to their region: city-wide ones (no path), their
    ancestors' and their subtree's; admins see all."""
    if actor.role is Role.ADMIN:
        return True
    mine = actor.region_path
    if mine is None:
        return False
    return path is None or in_subtree(path, mine) or in_subtree(mine, path)


def rule_visible_sql(path: str) -> str:
    """SQL for :func:`rule_visible` on column ``path``; parameters from
    :func:`rule_visibility_params`."""
    return (f"(%(scope_all)s OR (%(scope_path)s::text IS NOT NULL AND ({path} IS NULL"
            f" OR {subtree_sql(path, '%(scope_path)s')}"
            f" OR {subtree_sql('%(scope_path)s', path)})))")


def rule_visibility_params(actor: Actor) -> dict[str, Any]:
    return {"scope_all": actor.role is Role.ADMIN, "scope_path": actor.region_path}


# --- ancestors: who is above a place --------------------------------------------------------

def ancestors_sql(path: str, ancestor: str = "r.path") -> str:
    """Rows whose region ``ancestor`` has ``path`` in its subtree (itself included): the
    centres above a place. Python: ``in_subtree(path, ancestor)``."""
    return subtree_sql(path, ancestor)
