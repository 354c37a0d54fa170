"""``import DIR [--dry-run]``: bulk import of a city's CSV/GeoJSON files from the shell.

This module owns the command's arguments and output only; the format and the loading
belong to ``store.importer``. Mounted under ``sharpeyes db`` by ``register(subparsers)``.
Errors are printed one per line (``file:line: column: message``) and the exit code
is 1; nothing is written then. ``--dry-run`` validates against the database and
writes nothing even when every row is valid.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import psycopg

from kernel.settings import Settings
from sharpeyes.runtime import Runtime
from store.importer import ImportReport, import_bundle

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def register(subparsers: Any) -> None:
    """Add ``import`` to ``subparsers`` (the ``sharpeyes db`` sub-commands)."""
    parser = subparsers.add_parser(
        "import", help="import regions, grids, people, places, devices and zones from files",
        description="Import a directory of CSV/GeoJSON files (docs/import-format.md). "
                    "Every row is validated first; if any row has an error, nothing is "
                    "written and each error is printed on its own line.",
    )
    parser.add_argument("directory", type=Path, metavar="DIR",
                        help="directory holding regions.csv, grids.geojson, people.csv, ...")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate against the database, write nothing")
    parser.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    directory: Path = args.directory
    if not directory.is_dir():
        sys.stderr.write(f"import: {directory} is not a directory\n")
        return EXIT_USAGE
    rt = Runtime(settings)
    try:
        url = rt.open_store()
        if not args.dry_run:
            rt.migrate()
        with psycopg.connect(url) as conn:
            report = import_bundle(conn, directory, dry_run=args.dry_run)
    except psycopg.errors.UndefinedTable:
        sys.stderr.write("import: the database has no schema yet; run `sharpeyes db migrate`\n")
        return EXIT_USAGE
    finally:
        rt.close()
    sys.stdout.write(render(report))
    return EXIT_OK if report.ok else EXIT_INVALID


def render(report: ImportReport) -> str:
    """The errors one per line, or the row counts per table, and a closing verdict."""
    if report.errors:
        lines = [str(error) for error in report.errors]
        lines.append(f"{len(report.errors)} error(s) in {report.directory}; nothing was imported")
        return "\n".join(lines) + "\n"
    verb = ("would insert", "would update") if report.dry_run else ("inserted", "updated")
    lines = [f"{c.table}: {c.inserted} {verb[0]}, {c.updated} {verb[1]}" for c in report.counts]
    lines.append("dry run: every row is valid; nothing was written" if report.dry_run
                 else f"imported {report.directory} in one transaction")
    return "\n".join(lines) + "\n"
