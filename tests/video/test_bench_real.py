"""The real-data bench's bookkeeping and set discovery (no data set needed)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from sharpeyes.benches.video_real import find_sets, summarise


def _row(truth: float, est: dict[str, float]) -> dict[str, object]:
    return {"name": "x", "truth": {"frame": truth, "left": truth / 2, "right": truth / 2},
            "est": {m: {"frame": v, "left": v / 2, "right": v / 2} for m, v in est.items()},
            "ms": {m: 1.0 for m in est}}


def test_bands_relative_error_and_ratio_to_the_baseline() -> None:
    rows = [_row(10, {"auto": 9, "hog_2x": 5}), _row(50, {"auto": 60, "hog_2x": 20}),
            _row(600, {"auto": 540, "hog_2x": 100})]
    out = summarise(rows)
    assert set(out["auto"]["bands"]) == {"0-20", "20-100", ">=500"}
    assert out["auto"]["whole"]["relative_error"] == round(71 / 660, 3)
    assert out["auto"]["bands"]["20-100"]["mae"] == 10.0
    assert out["hog_2x"]["vs_baseline"] == 1.0
    assert abs(out["auto"]["vs_baseline"] - 71 / 535) < 0.002


def test_sets_are_found_from_annotation_folders(tmp_path: Path) -> None:
    folder = tmp_path / "streets"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.jpg"), np.zeros((40, 60, 3), np.uint8))
    (folder / "annotations.json").write_text(json.dumps({"images": [
        {"file": "a.jpg", "count": 2, "points": [[10, 10], [50, 20]]}]}))
    sets = find_sets(tmp_path, [])
    assert list(sets) == ["streets"]
    (item,) = list(sets["streets"]())
    assert item.count == 2 and item.points.shape == (2, 2)
