"""Draw the package layers and the imports that actually run between them.

The layers are read from the import-linter contract in ``pyproject.toml`` and the imports
from the code itself (grimp), so the picture in the README cannot drift from what
``make lint`` enforces: each cell is one package importing another, with the number of
module-level imports behind it.

    .venv/bin/python tools/architecture_figure.py docs/img/architecture.png
"""

from __future__ import annotations

import sys
import tomllib
from collections import Counter
from pathlib import Path

import grimp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ROLE = {"sharpeyes": "composition root: CLI, runtime, demo, benches",
        "api": "HTTP API, dashboard, worker app", "simulators": "sample city, devices",
        "alerts": "rules → alerts", "ingest": "MQTT → store", "video": "streams → counts",
        "grid": "grid model, task loop, dispatch", "store": "schema, connections, locks",
        "contracts": "MQTT topics and payloads", "kernel": "settings, MQTT client, errors"}


def layers() -> list[list[str]]:
    """The layers contract, top first, each a list of packages."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    return [[p.strip() for p in layer.split("|")] for layer in contract["layers"]]


def package_imports(packages: list[str]) -> Counter[tuple[str, str]]:
    """(importer, imported) package pairs with how many module imports make them."""
    graph = grimp.build_graph(*packages)
    counts: Counter[tuple[str, str]] = Counter()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = module.split(".")[0], imported.split(".")[0]
            if a != b:
                counts[(a, b)] += 1
    return counts


def draw(out: Path) -> None:
    """A matrix: row imports column. Packages in layer order, so every import lies right of
    the diagonal band; the shaded left part is what the layers contract forbids."""
    rows = layers()
    order = [p for row in rows for p in row]
    level = {p: r for r, row in enumerate(rows) for p in row}
    counts = package_imports(order)
    fig, ax = plt.subplots(figsize=(10.5, 7.2), dpi=110)
    for i, importer in enumerate(order):
        for j, imported in enumerate(order):
            forbidden = level[imported] <= level[importer] and importer != imported
            colour = "#f6e3e3" if forbidden else "#ffffff"
            if importer == imported:
                colour = "#e6e6e6"
            ax.add_patch(Rectangle((j, i), 1, 1, fc=colour, ec="#d0d0d0", lw=0.6))
            n = counts.get((importer, imported), 0)
            if n:
                ax.add_patch(Rectangle((j + 0.08, i + 0.08), 0.84, 0.84,
                                       fc=plt.get_cmap("Blues")(0.25 + min(n, 60) / 90)))
                ax.text(j + 0.5, i + 0.5, str(n), ha="center", va="center", size=9,
                        color="white" if n > 25 else "black")
    ax.set_xticks([j + 0.5 for j in range(len(order))], [f"{p}/" for p in order],
                  rotation=35, ha="right")
    ax.set_yticks([i + 0.5 for i in range(len(order))],
                  [f"{p}/  ({ROLE[p]})" for p in order])
    ax.set_xlim(0, len(order))
    ax.set_ylim(len(order), 0)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_xlabel("imported package")
    ax.set_title("Who imports whom: module imports from row into column (read from the code).\n"
                 "Red cells break the layers contract (make lint) and stay empty.", size=11)
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    draw(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs/img/architecture.png")
