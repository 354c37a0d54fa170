"""The synthetic crowd renderer: camera geometry, ground truth, perspective, determinism,
density, video files and the contact sheet."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from simulators.render import (
    CameraModel,
    SceneRenderer,
    SceneSpec,
    ZoneSpec,
    contact_sheet,
    default_scene,
    render_frames,
    standard_geometries,
    write_video,
)

SMALL = CameraModel.from_fov(320, 240, 65.0, 5.0, 30.0)
CLEAN = {"noise_sigma": 0.0, "jpeg_quality": None, "lighting_drift": 0.0}


def _in_view_ground_points(cam: CameraModel, n: int = 200) -> np.ndarray:
    rng = np.random.default_rng(0)
    top = max(cam.horizon_row + 5.0, 0.0)
    px = np.column_stack([rng.uniform(0, cam.width, n), rng.uniform(top, cam.height, n)])
    return cam.image_to_ground(px)


# -- camera ------------------------------------------------------------------------------
@pytest.mark.parametrize("cam", standard_geometries(), ids=lambda c: f"{c.height_m}m-{c.tilt_deg}")
def test_ground_to_image_and_back_is_identity(cam: CameraModel) -> None:
    ground = _in_view_ground_points(cam)
    assert np.all(np.isfinite(ground))
    back = cam.image_to_ground(cam.ground_to_image(ground))
    np.testing.assert_allclose(back, ground, atol=1e-6)


@pytest.mark.parametrize("cam", standard_geometries(), ids=lambda c: f"{c.height_m}m-{c.tilt_deg}")
def test_homography_agrees_with_projection(cam: CameraModel) -> None:
    ground = _in_view_ground_points(cam)
    px = cam.ground_to_image(ground)
    mapped = cv2.perspectiveTransform(px.reshape(-1, 1, 2), cam.homography_image_to_ground())
    np.testing.assert_allclose(mapped.reshape(-1, 2), ground, atol=1e-6)
    feet = np.column_stack([ground, np.zeros(len(ground))])
    np.testing.assert_allclose(cam.project(feet), px, atol=1e-6)


def test_points_above_the_horizon_have_no_ground_position() -> None:
    cam = standard_geometries()[2]  # 4 m / 20°: the horizon is in the image
    assert 0 < cam.horizon_row < cam.height
    assert np.isnan(cam.image_to_ground(np.array([[10.0, cam.horizon_row - 3]]))).all()
    assert cam.person_height_px(cam.horizon_row - 3) == 0.0


def test_person_height_shrinks_towards_the_horizon() -> None:
    cam = standard_geometries()[0]
    near = cam.person_height_px(cam.height - 1)
    far = cam.person_height_px(40.0)
    assert near > 2.5 * far > 0
    assert cam.person_height_px(400.0, person_m=1.9) > cam.person_height_px(400.0, person_m=1.5)


def test_zone_image_polygon_and_area() -> None:
    zone = ZoneSpec("z", ((-2.0, 6.0), (2.0, 6.0), (2.0, 10.0), (-2.0, 10.0)))
    assert zone.area_m2 == pytest.approx(16.0)
    px = zone.image_polygon(SMALL)
    np.testing.assert_allclose(SMALL.image_to_ground(px), np.array(zone.ground_polygon))
    behind = ZoneSpec("behind", ((-2.0, -30.0), (2.0, -30.0), (0.0, 5.0)))
    with pytest.raises(ValueError):
        behind.image_polygon(SMALL)


# -- ground truth and density ------------------------------------------------------------
def test_zone_counts_are_the_feet_inside_each_zone_polygon() -> None:
    spec = default_scene(SMALL, 1.5, seed=4, fps=10.0, warmup_s=0.5)
    assert len(spec.zones) == 2
    for _, truth in render_frames(spec, 1.0):
        for zone in spec.zones:
            contour = np.array(zone.ground_polygon, np.float32).reshape(-1, 1, 2)
            inside = sum(cv2.pointPolygonTest(contour, (float(x), float(y)), False) > 0
                         for x, y in truth.positions)
            assert truth.zone_counts[zone.zone_id] == inside
        assert truth.positions.shape[1] == 2


@pytest.mark.parametrize("density", [0.0, 0.3, 2.0])
def test_head_count_follows_target_density_over_the_walkable_area(density: float) -> None:
    spec = default_scene(SMALL, density, seed=2, warmup_s=0.0)
    renderer = SceneRenderer(spec)
    renderer.skip(int(3 * spec.fps))
    expected = density * spec.walkable_area_m2
    assert abs(len(renderer.crowd) - expected) <= max(1.0, 0.02 * expected)


def test_time_varying_density_fills_and_empties_through_the_edges() -> None:
    def surge(t: float) -> float:
        return 2.0 if 1.0 <= t < 7.0 else 0.3

    walk = ((-6.0, 4.0), (6.0, 4.0), (6.0, 14.0), (-6.0, 14.0))
    spec = SceneSpec(SMALL, (), surge, seed=5, fps=10.0, walkable=walk, warmup_s=0.0)
    renderer = SceneRenderer(spec)
    first_ids = set(renderer.crowd.uid.tolist())
    renderer.skip(69)  # t = 6.9 s: inflow through the edges is limited (Fruin-like)
    assert len(renderer.crowd) == pytest.approx(2.0 * spec.walkable_area_m2, rel=0.05)
    renderer.skip(71)  # t = 14 s: leavers walk to the nearest way out
    assert len(renderer.crowd) <= 1.1 * 0.3 * spec.walkable_area_m2
    assert set(renderer.crowd.uid.tolist()) != first_ids  # people came and went


def test_dense_scene_packs_above_six_per_square_metre_and_slows() -> None:
    walk = ((-5.0, 4.0), (5.0, 4.0), (5.0, 12.0), (-5.0, 12.0))
    zone = ZoneSpec("core", ((-2.0, 6.0), (2.0, 6.0), (2.0, 10.0), (-2.0, 10.0)))
    dense = SceneSpec(SMALL, (zone,), 6.6, seed=3, walkable=walk, warmup_s=2.0, clutter=False)
    sparse = replace(dense, target_density=0.5)
    counts, speeds = [], []
    for spec in (dense, sparse):
        renderer = SceneRenderer(spec)
        _, truth = renderer.next_frame()
        counts.append(truth.zone_density(zone))
        moving = renderer.crowd.dwell <= 0
        speeds.append(float(renderer.crowd.speed[moving].mean()))
    assert counts[0] >= 6.0
    assert speeds[0] < 0.5 * speeds[1]


# -- perspective in the pixels -----------------------------------------------------------
def test_rendered_people_are_as_tall_as_the_camera_model_says() -> None:
    cam = CameraModel.from_fov(640, 360, 70.0, 6.0, 30.0)  # 720p's geometry at half size
    base = default_scene(cam, 0.0, seed=9, shadows=False, clutter=False, warmup_s=0.0,
                         person_height_range=(1.7, 1.7), **CLEAN)
    errors: list[float] = []
    heights: list[float] = []
    for seed in (9, 10, 11):
        background, _ = SceneRenderer(replace(base, seed=seed)).next_frame()
        spec = replace(base, target_density=0.12, seed=seed)
        frame, truth = SceneRenderer(spec).next_frame()
        mask = cv2.absdiff(frame, background).max(axis=2) > 10
        _measure_isolated_people(cam, mask, truth.positions, errors, heights)
    assert len(errors) >= 6
    assert max(heights) > 1.6 * min(heights)  # people near and far were measured
    assert float(np.median(errors)) < 0.05
    assert max(errors) < 0.2


def _measure_isolated_people(cam: CameraModel, mask: np.ndarray, positions: np.ndarray,
                             errors: list[float], heights: list[float]) -> None:
    """Relative error of (foot row - top of the figure) against person_height_px."""
    feet = cam.ground_to_image(positions)
    for k, (u, v) in enumerate(feet):
        expected = cam.person_height_px(v, 1.7)
        if not (expected > 12 and 0 < u < cam.width and expected < v < cam.height - 3):
            continue
        others = np.delete(feet, k, axis=0)
        du, dv = np.abs(others[:, 0] - u), np.abs(others[:, 1] - v)
        if np.any((du < 0.6 * expected) & (dv < 2 * expected)):
            continue  # overlapping someone: not a clean measurement
        window = mask[: int(v) + 1, max(0, int(u - expected / 2)):int(u + expected / 2) + 1]
        rows = np.flatnonzero(window.any(axis=1))
        rows = rows[rows > v - 1.5 * expected]
        if len(rows):
            heights.append(expected)
            errors.append(abs((v - rows.min()) - expected) / expected)


# -- determinism ---------------------------------------------------------------------------
def test_same_seed_gives_identical_frames_and_another_seed_does_not() -> None:
    spec = default_scene(SMALL, 0.5, seed=11, warmup_s=0.5)
    first = [f for f, _ in render_frames(spec, 0.4)]
    again = [f for f, _ in render_frames(spec, 0.4)]
    other = [f for f, _ in render_frames(replace(spec, seed=12), 0.4)]
    assert len(first) == 10
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not any(np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    assert all(f.dtype == np.uint8 and f.shape == (240, 320, 3) for f in first)


# -- outputs -------------------------------------------------------------------------------
@pytest.mark.parametrize(("codec", "suffix"), [("mp4v", ".mp4"), ("MJPG", ".avi")])
def test_write_video_reads_back_with_every_frame(tmp_path: Path, codec: str, suffix: str) -> None:
    spec = default_scene(SMALL, 0.8, seed=1, fps=10.0, warmup_s=0.0)
    path = tmp_path / f"crowd{suffix}"
    truths = write_video(spec, 1.2, path, codec=codec)
    assert len(truths) == 12 and [t.index for t in truths] == list(range(12))
    cap = cv2.VideoCapture(str(path))
    try:
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        cap.release()
    assert len(frames) == 12
    assert frames[0].shape == (SMALL.height, SMALL.width, 3)


def test_contact_sheet_is_a_png_grid(tmp_path: Path) -> None:
    path = contact_sheet(tmp_path / "sheet.png", densities=(0.3, 1.5), camera=SMALL,
                         tile_width=320, columns=2)
    image = cv2.imread(str(path))
    assert image is not None
    assert image.shape[1] == 640 and image.shape[0] > 240
