"""The picture of the real-data accuracy bench: relative error per labelled set and method.

Owns ``docs/img/video_real_accuracy.png``, drawn from the JSON of ``sharpeyes bench
video-accuracy --real DIR --json`` (no image of the data sets is shown: their terms do
not allow redistribution). Run with
``python -m sharpeyes.benches.video_figure_real REPORT.json [OUT.png]``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TARGETS = {"shanghaitech_a": 0.18, "shanghaitech_b": 0.10, "pets2009-s2l1-view001": 0.10}
ORDER = ("auto", "yolox", "density", "detect", "hog_2x")


def draw(report: dict[str, Any], out: Path) -> None:
    sets = list(report["sets"])
    fig, ax = plt.subplots(figsize=(8.5, 4.2), dpi=110)
    width = 0.8 / len(ORDER)
    for k, method in enumerate(ORDER):
        errors = [min(report["sets"][s]["methods"][method]["whole"]["relative_error"], 1.5)
                  for s in sets]
        xs = [i + (k - len(ORDER) / 2 + 0.5) * width for i in range(len(sets))]
        label = f"{method} (default)" if method == report["default"] else method
        ax.bar(xs, errors, width, label=label)
    for i, s in enumerate(sets):
        if s in TARGETS:
            ax.hlines(TARGETS[s], i - 0.4, i + 0.4, colors="black", linestyles="dashed")
    ax.set_xticks(range(len(sets)))
    ax.set_xticklabels([f"{s}\n({report['sets'][s]['images']} images)" for s in sets])
    ax.set_ylabel("relative error  Σ|error| / Σ truth")
    ax.set_title("Whole-image counting error on real labelled data (dashed: target)")
    ax.legend(fontsize=8, ncols=3)
    ax.set_ylim(0, 1.2)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


if __name__ == "__main__":
    draw(json.loads(Path(sys.argv[1]).read_text()),
         Path(sys.argv[2]) if len(sys.argv) > 2 else Path("docs/img/video_real_accuracy.png"))
