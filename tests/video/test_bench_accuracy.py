"""The accuracy bench's bookkeeping: bands by true zone density, errors, ratios to plain HOG."""

from __future__ import annotations

from sharpeyes.benches.video_accuracy import ratios_vs_plain, summarise


def _row(method: str, true: int, est: float, area: float = 10.0) -> dict[str, object]:
    return {"geometry": 0, "method": method, "scene_density": 0.0, "true": true,
            "area": area, "est": est}


def test_rows_fall_into_bands_by_true_zone_density_with_mae_and_relative_error() -> None:
    rows = [_row("regress", 5, 6.0), _row("regress", 40, 30.0), _row("regress", 60, 57.0),
            _row("plain_hog", 5, 3.0), _row("plain_hog", 40, 10.0), _row("plain_hog", 60, 0.0)]
    bands = summarise(rows)
    assert set(bands["regress"]) == {"0-1", "3.5-5", ">=5", ">=3", "overall"}
    assert bands["regress"]["0-1"] == {"n": 1, "mean_true": 5.0, "mae": 1.0,
                                       "relative_error": 0.2, "bias": 1.0}
    assert bands["regress"][">=3"]["mae"] == 6.5
    assert bands["regress"]["overall"]["relative_error"] == round(14 / 105, 3)
    ratios = ratios_vs_plain(bands)
    assert ratios["regress"][">=5"] == 20.0 and ratios["regress"]["0-1"] == 2.0
    assert "plain_hog" not in ratios
