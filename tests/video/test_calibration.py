"""Calibration math: homography, focal recovery, person heights, areas, estimation."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from video.calibration import (
    CalibrationSpec,
    GroundModel,
    estimate_from_detections,
    from_person_heights,
    from_points,
    from_spec,
)
from video.errors import CalibrationError
from video.model import Detection

CAMERA = GroundModel.from_camera(1280, 720, 914.0, 6.0, 30.0)
GROUND = np.array([[-3, 11], [3, 11], [4, 21], [-4, 18], [0, 14]], dtype=float)


def test_points_give_the_ground_homography_and_recover_the_focal_length() -> None:
    image = CAMERA.to_image(GROUND)
    model = from_points(1280, 720, image, GROUND)
    probe = np.array([[300.0, 650.0], [900.0, 420.0]])
    assert np.allclose(model.to_ground(probe), CAMERA.to_ground(probe), atol=1e-6)
    assert model.projection[0, 0] / np.linalg.norm(model.projection[2, :3]) == pytest.approx(
        914.0, rel=1e-3)
    assert np.allclose(model.person_height_px(probe), CAMERA.person_height_px(probe), rtol=1e-3)


def test_zone_area_is_the_ground_area_of_the_polygon() -> None:
    square = np.array([[-2, 12], [2, 12], [2, 16], [-2, 16]], dtype=float)
    assert CAMERA.area_m2(CAMERA.to_image(square)) == pytest.approx(16.0, rel=1e-6)


def test_a_polygon_reaching_above_the_horizon_is_clipped_not_infinite() -> None:
    whole = [(0, 0), (1280, 0), (1280, 720), (0, 720)]
    area = CAMERA.area_m2(whole)
    assert 0 < area < 1e5 and np.isfinite(area)


def test_two_person_heights_recover_camera_height_and_tilt() -> None:
    rows = [360.0, 700.0]
    heights = CAMERA.person_height_px(np.array([[640.0, r] for r in rows]))
    model = from_person_heights(1280, 720, rows, heights.tolist(), hfov_deg=2 * np.degrees(
        np.arctan(640 / 914.0)))
    probe = np.array([[640.0, 500.0], [100.0, 650.0]])
    assert np.allclose(model.person_height_px(probe), CAMERA.person_height_px(probe), rtol=0.01)
    assert np.allclose(model.to_ground(probe), CAMERA.to_ground(probe), rtol=0.02)


def test_ground_scale_grows_towards_the_camera() -> None:
    scale = CAMERA.ground_scale_px_per_m(np.array([[640.0, 400.0], [640.0, 700.0]]))
    assert scale[1] > scale[0] > 0


def test_scaled_model_describes_the_same_view_at_another_resolution() -> None:
    half = CAMERA.scaled(640, 360)
    assert half.area_m2([(0, 200), (640, 200), (640, 360), (0, 360)]) == pytest.approx(
        CAMERA.area_m2([(0, 400), (1280, 400), (1280, 720), (0, 720)]), rel=1e-6)


def test_spec_needs_exactly_one_method_and_scales_to_the_frame() -> None:
    with pytest.raises(ValidationError):
        CalibrationSpec.model_validate({})
    with pytest.raises(ValidationError):
        CalibrationSpec.model_validate({"person_heights": [{"row": 1, "height_px": 5}] * 2})
    spec = CalibrationSpec.model_validate({
        "image_size": [1280, 720],
        "points": [{"image": list(p), "ground": list(g)}
                   for p, g in zip(CAMERA.to_image(GROUND), GROUND, strict=True)]})
    model = from_spec(spec, 640, 360)
    assert np.allclose(model.to_ground(np.array([[320.0, 300.0]])),
                       CAMERA.to_ground(np.array([[640.0, 600.0]])), atol=1e-5)


def test_degenerate_points_are_refused() -> None:
    line = np.array([[0, 10], [1, 11], [2, 12], [3, 13]], dtype=float)
    with pytest.raises(CalibrationError):
        from_points(1280, 720, CAMERA.to_image(line), line)


def test_without_calibration_detections_estimate_the_perspective() -> None:
    rng = np.random.default_rng(3)
    dets = []
    for _ in range(40):
        foot = np.array([rng.uniform(100, 1180), rng.uniform(380, 710)])
        h = float(CAMERA.person_height_px(foot[None])[0]) * rng.uniform(0.9, 1.1)
        dets.append(Detection(foot[0] - h * 0.2, foot[1] - h, h * 0.4, h, 1.0))
    model = estimate_from_detections(dets, 1280, 720)
    assert model is not None
    probe = np.array([[640.0, 450.0], [640.0, 680.0]])
    assert np.allclose(model.person_height_px(probe), CAMERA.person_height_px(probe), rtol=0.1)
    assert estimate_from_detections(dets[:3], 1280, 720) is None
