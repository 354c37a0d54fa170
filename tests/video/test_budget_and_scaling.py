"""Decoding straight to the analysis size, zones following the scale, and the HOG budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sharpeyes.benches.video_speed import write_h264_clip
from video.analyzer import AnalyzerOptions, CameraAnalyzer
from video.calibration import CalibrationSpec, from_spec
from video.counting import AutoConfig, AutoCounter
from video.detect import HogDetector
from video.model import Detection, Zone
from video.regress import PerspectiveMap
from video.sources import KeyframeSource, analysis_width, open_source
from video.zones import prepare_zones

SPEC = CalibrationSpec.model_validate(
    {"person_heights": [{"row": 300, "height_px": 90}, {"row": 650, "height_px": 148}],
     "image_size": [1280, 720]})


def test_keyframe_source_scales_to_the_analysis_width_and_reports_the_native_size(
        tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    write_h264_clip(clip, 2.0)
    source = KeyframeSource(str(clip), 1.0, max_width=400)
    frame = source.read()
    source.close()
    assert frame is not None and frame.image.shape == (224, 400, 3)
    assert frame.native_size == (1280, 720)
    full = open_source(str(clip), 1.0, "keyframes").read()
    assert full is not None and full.image.shape == (720, 1280, 3) and full.native_size is None
    assert analysis_width("regress") == 400 and analysis_width("auto") is None


def test_zones_and_calibration_follow_a_downscaled_stream() -> None:
    zone = Zone("Z", ((0, 360), (1280, 360), (1280, 720), (0, 720)), None)
    analyzer = CameraAnalyzer([zone], SPEC, AnalyzerOptions(method="regress"))
    frame = np.full((226, 400, 3), 120, np.uint8)
    analyzer.analyse(frame, 0.0, 0, native_size=(1280, 720))
    [geometry] = analyzer.geometry
    assert np.allclose(geometry.polygon[:, 1], [113.0, 113.0, 226.0, 226.0])
    full = from_spec(SPEC, 1280, 720)
    assert analyzer.ground is not None
    scaled = float(analyzer.ground.person_height_px(np.array([[200.0, 650 * 226 / 720]]))[0])
    native = float(full.person_height_px(np.array([[640.0, 650.0]]))[0])
    assert abs(scaled * 720 / 226 - native) < 0.02 * native
    assert geometry.area_m2 is not None
    reference = prepare_zones([zone], 1280, 720, full)[0].area_m2
    assert reference is not None and abs(geometry.area_m2 - reference) < 0.02 * reference


def test_coarse_perspective_map_matches_the_exact_one() -> None:
    ground = from_spec(SPEC, 1280, 720)
    exact = PerspectiveMap(ground, 400, 225, 0.22, step=1).area_weight
    coarse = PerspectiveMap(ground, 400, 225, 0.22).area_weight
    both = (exact > 0) & (coarse > 0)
    assert np.median(np.abs(coarse[both] / exact[both] - 1)) < 0.005
    assert abs(coarse.sum() / exact.sum() - 1) < 0.01


class _CountingDetector(HogDetector):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def detect(self, frame: np.ndarray, ground: object = None,
               rows: tuple[int, int] | None = None) -> list[Detection]:
        self.calls += 1
        return []


def test_auto_runs_hog_at_most_once_per_interval_after_warm_up() -> None:
    ground = from_spec(SPEC, 1280, 720)
    zones = prepare_zones([Zone("frame")], 1280, 720, ground)
    detector = _CountingDetector()
    counter = AutoCounter(detector, config=AutoConfig(detect_interval_s=10.0,
                                                      warmup_interval_s=2.0,
                                                      warmup_detections=3))
    frame = np.full((720, 1280, 3), 120, np.uint8)
    for second in range(60):
        result = counter.count(frame, zones, ground, float(second))
        assert result.method == "classic"
    # 3 warm-up passes at t = 0, 2, 4; then t = 14, 24, 34, 44, 54
    assert detector.calls == 8
