"""Optical-flow motion, line crossings, heatmaps from counts, blurred snapshots, ONNX, CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.helpers import PETS_CLIP
from video.cli import register
from video.flow import CountingLine, FlowMeter, LineCounter
from video.heatmap import OccupancyHeatmap, render_heatmap
from video.model import CountResult, Detection, Zone, ZoneEstimate
from video.privacy import snapshot
from video.zones import prepare_zones

CLIP = PETS_CLIP


def _blobs(offset: float, directions: list[tuple[float, float]]) -> np.ndarray:
    frame = np.full((180, 320, 3), 90, np.uint8)
    rng = np.random.default_rng(1)
    for i, (dx, dy) in enumerate(directions):
        x, y = 60 + (i % 4) * 60 + dx * offset, 50 + (i // 4) * 70 + dy * offset
        patch = rng.integers(0, 255, (24, 16, 3)).astype(np.uint8)
        frame[int(y):int(y) + 24, int(x):int(x) + 16] = patch
    return frame


def _flow(directions: list[tuple[float, float]]) -> tuple[FlowMeter, object]:
    meter = FlowMeter()
    meter.update(_blobs(0, directions), 0.0)
    field = meter.update(_blobs(6, directions), 1.0)
    assert field is not None
    return meter, field


def test_flow_reports_speed_and_a_low_spread_for_a_one_way_crowd() -> None:
    zones = prepare_zones([Zone("z")], 320, 180, None)
    meter, field = _flow([(1, 0)] * 8)
    [motion] = meter.motion(field, zones, None)  # type: ignore[arg-type]
    assert 3.0 <= motion.speed <= 9.0 and motion.direction_spread < 0.2


def test_counter_flow_has_a_high_direction_spread() -> None:
    zones = prepare_zones([Zone("z")], 320, 180, None)
    meter, field = _flow([(1, 0), (-1, 0), (0, 1), (0, -1)] * 2)
    [motion] = meter.motion(field, zones, None)  # type: ignore[arg-type]
    assert motion.direction_spread > 0.6


def test_line_crossings_follow_the_direction_of_the_flow() -> None:
    zones = prepare_zones([Zone("z")], 320, 180, None)
    line = CountingLine("door", (160, 0), (160, 180), "z")
    counter = LineCounter([line])
    _, right = _flow([(1, 0)] * 8)
    result = CountResult((ZoneEstimate("z", 8.0, None, 1.0),), "test")
    [crossed] = counter.update(right, result, zones)  # type: ignore[arg-type]
    assert crossed.outward > 0 and crossed.inward == 0
    _, left = _flow([(-1, 0)] * 8)
    [back] = counter.update(left, result, zones)  # type: ignore[arg-type]
    assert back.inward > 0 and back.outward == 0


def test_heatmap_is_built_from_counts_and_renders_as_png() -> None:
    zones = prepare_zones([Zone("a", ((0, 0), (160, 0), (160, 180), (0, 180)))], 320, 180, None)
    heat = OccupancyHeatmap((320, 180), cells=(32, 18), window_s=10)
    for t in range(20):
        heat.add(float(t), CountResult((ZoneEstimate("a", 4.0, None, 1.0),), "regress"), zones)
    heat.add(20.0, CountResult((ZoneEstimate("a", 1.0, None, 1.0),), "detect",
                               (Detection(290, 100, 10, 30, 1.0),)), zones)
    snap = heat.snapshot()
    assert snap.frames == 11
    assert snap.grid.sum() == pytest.approx(41 / 11, rel=1e-3)  # counts are conserved
    assert snap.grid[13, 29] == pytest.approx(1 / 11)  # the detection, at its feet
    png = render_heatmap(snap.grid, 320, 180)
    image = np.asarray(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and image.shape == (180, 320, 3)


def test_snapshot_is_small_and_blurred() -> None:
    frame = np.random.default_rng(0).integers(0, 255, (720, 1280, 3)).astype(np.uint8)
    jpeg = snapshot(frame)
    image = np.asarray(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE))
    assert image.shape == (180, 320)
    assert cv2.Laplacian(image, cv2.CV_64F).var() < 5.0


def test_a_tiny_onnx_density_model_counts_through_cv2_dnn(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    # Density = mean of the three input channels × 0.01 per cell: a grey 0.5 image of
    # 64 x 32 cells holds 64 * 32 * 0.5 * 0.01 = 10.24 people.
    weight = helper.make_tensor("w", TensorProto.FLOAT, [1, 3, 1, 1], [0.01 / 3] * 3)
    node = helper.make_node("Conv", ["input", "w"], ["density"])
    graph = helper.make_graph(
        [node], "density", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                          [1, 3, 32, 64])],
        [helper.make_tensor_value_info("density", TensorProto.FLOAT, [1, 1, 32, 64])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path / "density.onnx"
    onnx.save(model, str(path))

    from video.dnn import OnnxCounter

    counter = OnnxCounter(str(path), input_size=(64, 32))
    frame = np.full((360, 640, 3), 127.5, np.uint8)
    halves = prepare_zones([Zone("left", ((0, 0), (320, 0), (320, 360), (0, 360))),
                            Zone("all")], 640, 360, None)
    left, whole = counter.count(frame, halves, None).zones
    assert whole.count == pytest.approx(64 * 32 * 0.5 * 0.01, rel=0.02)
    assert left.count == pytest.approx(whole.count / 2, rel=0.05)


@pytest.mark.skipif(not CLIP.exists(), reason="clip not present")
def test_cli_analyze_prints_one_json_object_per_analysed_frame(
        capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["video", "analyze", "--source", str(CLIP), "--rate", "0.5",
                              "--max-frames", "2", "--method", "detect", "--json"])
    assert args.handler(args, None) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2 and set(lines[0]) == {"t", "frame", "zones"}
    assert 0 <= lines[0]["zones"]["frame"]["count"] <= 12
