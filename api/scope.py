"""SQL filters that keep every list inside the caller's scope (region subtree or own grids)."""

from __future__ import annotations

from psycopg import sql

from grid.actors import Actor, Role


def region_scope(
    actor: Actor, path_column: str = "r.path"
) -> tuple[sql.Composable, dict[str, object]]:
    """A WHERE fragment on a region path column, with its parameters."""
    column = sql.SQL(path_column)
    if actor.role is Role.ADMIN:
        return sql.SQL("TRUE"), {}
    if actor.role is Role.WORKER:
        return sql.SQL("g.code = ANY(%(scope_grids)s)"), {"scope_grids": list(actor.grid_codes)}
    if actor.region_path is None:
        return sql.SQL("FALSE"), {}
    return (
        sql.SQL("({c} = %(scope_path)s OR {c} LIKE %(scope_like)s)").format(c=column),
        {"scope_path": actor.region_path, "scope_like": actor.region_path + ".%"},
    )


def task_scope(actor: Actor) -> tuple[sql.Composable, dict[str, object]]:
    """Workers also see tasks assigned to them outside their grids (reassignment)."""
    fragment, params = region_scope(actor)
    if actor.role is Role.WORKER:
        fragment = sql.SQL("({} OR t.assignee_id = %(scope_me)s)").format(fragment)
        params = {**params, "scope_me": actor.person_id}
    return fragment, params
