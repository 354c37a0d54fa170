"""The visibility policy: each SQL form, run on the real PostgreSQL, agrees with its Python
form on generated region trees whose ids hold ``_``, ``%``, backslashes and any other
character but the dot; and no module matches region paths another way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from psycopg import sql

from alerts.model import Scope, Subject
from alerts.scope import _REGION
from grid.actors import Actor, Role
from grid.visibility import (
    ancestors_sql,
    covers,
    covers_sql,
    in_subtree,
    registry_sees,
    registry_sql,
    rule_visibility_params,
    rule_visible,
    rule_visible_sql,
    sees,
    sees_sql,
    sees_task,
    subtree_sql,
    task_sql,
)

REPO = Path(__file__).resolve().parents[2]
PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Region ids as an importer or the API might be given them: no dot (it separates levels),
# no NUL (PostgreSQL text cannot hold one); LIKE's wildcards and escape most of all.
_TRICKY = st.sampled_from(["_", "%", "\\", "D_1", "DX1", "D%", "D\\_1", "_1", "%%", "S1"])
REGION_ID = _TRICKY | st.text(
    st.characters(blacklist_characters=".\x00", blacklist_categories=("Cs",)),
    min_size=1, max_size=5)
TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
               max_size=8)


@st.composite
def region_trees(draw: st.DrawFn) -> list[str]:
    """Paths of a random forest: each region hangs under an earlier one (or is a root)."""
    nodes = draw(st.lists(st.tuples(st.integers(0, 10**6), REGION_ID), min_size=1,
                          max_size=14))
    paths: list[str] = []
    for i, (parent, region) in enumerate(nodes):
        if i == 0 or parent % 4 == 0:
            paths.append(region)
        else:
            paths.append(paths[parent % i] + "." + region)
    return paths


@st.composite
def trees_and_roots(draw: st.DrawFn) -> tuple[list[str | None], list[str]]:
    paths = draw(region_trees())
    # Roots: the tree's own paths, their prefixes cut anywhere (C01.D_ of C01.D_1) and
    # arbitrary text, dots included.
    cuts = [p[:draw(st.integers(0, len(p)))] for p in paths]
    roots = paths + cuts + draw(st.lists(TEXT, max_size=4))
    return [*paths, None], roots


@pytest.fixture(scope="module")
def pg(pg_admin_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        yield conn


def _pairs_sql(pg: psycopg.Connection[Any], expression: str, paths: Sequence[str | None],
               roots: Sequence[str]) -> list[bool]:
    query = (f"SELECT COALESCE({expression}, FALSE)"
             " FROM unnest(%(paths)s::text[]) WITH ORDINALITY AS p(path, i)"
             " CROSS JOIN unnest(%(roots)s::text[]) WITH ORDINALITY AS s(root, j)"
             " ORDER BY i, j")
    return [bool(r[0]) for r in pg.execute(query.encode(),
                                            {"paths": list(paths), "roots": list(roots)})]


@PROPERTY
@given(trees_and_roots())
@example(([ "C01", "C01.D_1", "C01.DX1", "C01.DX1.S1", None], ["C01.D_1"]))
@example((["C01.D%", "C01.DAB.S", "C01.D%.S", None], ["C01.D%", "C01.D"]))
@example((["a\\_b", "aX_b.c", "a\\_b.c", None], ["a\\_b", "a\\"]))
def test_the_sql_subtree_rule_agrees_with_python(
        pg: psycopg.Connection[Any], case: tuple[list[str | None], list[str]]) -> None:
    paths, roots = case
    expected = [in_subtree(p, r) for p in paths for r in roots]
    assert _pairs_sql(pg, subtree_sql("p.path", "s.root"), paths, roots) == expected
    # Ancestors are the same rule read the other way round.
    assert _pairs_sql(pg, ancestors_sql("p.path", "s.root"), paths, roots) == expected


def test_an_underscore_is_no_wildcard() -> None:
    assert not in_subtree("C01.DX1.S1", "C01.D_1")
    assert not in_subtree("C01.D_10", "C01.D_1")
    assert in_subtree("C01.D_1.S1", "C01.D_1") and in_subtree("C01.D_1", "C01.D_1")


# --- the actor-level variations --------------------------------------------------------

Row = tuple[str | None, str | None, str | None]     # region path, grid code, assignee


@st.composite
def actors_and_rows(draw: st.DrawFn) -> tuple[Actor, list[Row]]:
    paths = draw(region_trees())
    grids = draw(st.lists(REGION_ID, min_size=1, max_size=5))
    people = ["P-1", "P-2", "P_%"]
    maybe = st.none()
    region = draw(maybe | st.sampled_from(paths) | TEXT)
    actor = Actor(draw(st.sampled_from(people)), draw(st.sampled_from(list(Role))), region,
                  frozenset(draw(st.lists(st.sampled_from(grids), max_size=3))))
    rows = draw(st.lists(st.tuples(maybe | st.sampled_from(paths) | TEXT,
                                   maybe | st.sampled_from(grids),
                                   maybe | st.sampled_from(people)),
                         min_size=1, max_size=12))
    return actor, rows


def _rows_sql(pg: psycopg.Connection[Any], fragment: sql.Composable, params: dict[str, Any],
              rows: list[Row]) -> list[bool]:
    query = sql.SQL("SELECT COALESCE(({}), FALSE) FROM unnest(%(r_paths)s::text[],"
                    " %(r_grids)s::text[], %(r_people)s::text[]) WITH ORDINALITY"
                    " AS x(path, grid, assignee, i) ORDER BY i").format(fragment)
    values = {**params, "r_paths": [r[0] for r in rows], "r_grids": [r[1] for r in rows],
              "r_people": [r[2] for r in rows]}
    return [bool(r[0]) for r in pg.execute(query, values)]


@PROPERTY
@given(actors_and_rows())
def test_every_named_variation_agrees_with_its_python_form(
        pg: psycopg.Connection[Any], case: tuple[Actor, list[Row]]) -> None:
    actor, rows = case
    checks = {
        "covers": (covers_sql(actor, "x.path"), lambda p, g, a: covers(actor, p)),
        "sees": (sees_sql(actor, "x.path", "x.grid"), lambda p, g, a: sees(actor, p, g)),
        "tasks": (task_sql(actor, "x.path", "x.grid", "x.assignee"),
                  lambda p, g, a: sees_task(actor, p, g, a)),
        "registry": (registry_sql(actor, "x.path", "x.grid"),
                     lambda p, g, a: registry_sees(actor, p, g)),
        "rules": ((sql.SQL(rule_visible_sql("x.path")), rule_visibility_params(actor)),
                  lambda p, g, a: rule_visible(actor, p)),
    }
    for name, ((fragment, params), python) in checks.items():
        assert _rows_sql(pg, fragment, params, rows) == [python(*r) for r in rows], name


@PROPERTY
@given(trees_and_roots())
def test_a_rules_region_scope_matches_in_sql_as_in_python(
        pg: psycopg.Connection[Any], case: tuple[list[str | None], list[str]]) -> None:
    """alerts.scope's target queries and Scope.covers (the evaluator) pick the same regions."""
    paths, roots = case
    for root in [*roots[:6], None]:
        fragment = sql.SQL(_REGION.replace("r.path", "x.path"))
        got = _rows_sql(pg, fragment, {"region_path": root}, [(p, None, None) for p in paths])
        scope = Scope(region_path=root)
        assert got == [scope.covers(_subject(p)) for p in paths], root


def _subject(path: str | None) -> Subject:
    return Subject(key="zone:x", zone_id="x", device_id=None, place_id=None, place_kind=None,
                   grid_code=None, region_path=path)


# --- one rule, one place -----------------------------------------------------------------

_SOURCES = ("api", "alerts", "grid", "sharpeyes")
_LIKE_ON_PATH = re.compile(r"path\w*\s+(NOT\s+)?I?LIKE|I?LIKE\s+[^\n]*path", re.I)
_PREFIX_IN_PYTHON = re.compile(r"path\w*\.startswith\(|starts_with\([^)]*path", re.I)


def test_region_paths_are_matched_only_by_the_policy_module() -> None:
    offenders = []
    for package in _SOURCES:
        for source in sorted((REPO / package).rglob("*.py")):
            if source == REPO / "grid" / "visibility.py":
                continue
            for number, line in enumerate(source.read_text().splitlines(), 1):
                if _LIKE_ON_PATH.search(line) or _PREFIX_IN_PYTHON.search(line):
                    offenders.append(f"{source.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == [], "match region paths with grid.visibility:\n" + "\n".join(offenders)
