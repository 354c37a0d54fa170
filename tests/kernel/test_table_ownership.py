"""Each table has one owning package (store/ownership.py), and the code and README agree."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from store.ownership import SHARED_WRITES, TABLE_OWNERS, UNRESTRICTED

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("sharpeyes", "kernel", "contracts", "store", "grid", "ingest", "alerts", "api",
            "video", "simulators")
WRITE = re.compile(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|COPY)\s+([a-z_][a-z0-9_]*)")
CREATE = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?([a-z_][a-z0-9_]*)")


def writes() -> dict[tuple[str, str], int]:
    """(table, module) → how many write statements name the table there."""
    found: dict[tuple[str, str], int] = defaultdict(int)
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            module = ".".join(path.relative_to(REPO).with_suffix("").parts)
            for table in WRITE.findall(path.read_text()):
                if table in TABLE_OWNERS:
                    found[(table, module)] += 1
    return found


def test_the_scan_sees_the_writers_it_should() -> None:
    found = writes()
    assert found[("crowd_observations", "ingest.writer")] > 0
    assert found[("task_events", "grid.tasks")] > 0


def test_every_table_of_the_schema_has_an_owner() -> None:
    sources = [*(REPO / "store" / "migrations").glob("*.sql"), REPO / "store" / "migrate.py"]
    tables = {t for source in sources for t in CREATE.findall(source.read_text())}
    assert len(tables) > 25
    assert sorted(tables - set(TABLE_OWNERS)) == []
    assert sorted(set(TABLE_OWNERS) - tables) == []


def test_only_the_owner_writes_a_table() -> None:
    strangers = {(table, module) for table, module in writes()
                 if module.split(".")[0] != TABLE_OWNERS[table]
                 and not module.startswith(UNRESTRICTED)}
    assert sorted(strangers - set(SHARED_WRITES)) == [], "write through the owner instead"
    assert sorted(set(SHARED_WRITES) - strangers) == [], "paid off: drop it from SHARED_WRITES"


def test_the_readme_lists_the_owners() -> None:
    by_owner: dict[str, list[str]] = defaultdict(list)
    for table, owner in TABLE_OWNERS.items():
        by_owner[owner].append(table)
    readme = (REPO / "README.md").read_text()
    for owner, tables in by_owner.items():
        line = f"| `{owner}/` | " + ", ".join(f"`{t}`" for t in sorted(tables)) + " |"
        assert line in readme, f"README.md should carry the line:\n{line}"
