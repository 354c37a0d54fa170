"""Head counting: the head plane's geometry, dark head-sized blobs counted per zone by the
feet under them, a learned background that ignores static blobs, and ``auto`` taking the
head count in dense zones of a rendered crowd."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pytest

from video.calibration import GroundModel
from video.counting import AutoConfig, AutoCounter, build_counter
from video.heads import HEAD_CENTRE, HEAD_HALF_WIDTH_M, HeadCounter, HeadPlane, unhide
from video.model import CountResult, Zone, ZoneEstimate
from video.regress import RegressionCounter
from video.zones import ZoneGeometry, prepare_zones

GROUND = GroundModel.from_camera(1280, 720, 900.0, 6.0, 30.0)
# Two 6 m × 4 m zones on the ground, near and far.
NEAR = [(-3.0, 8.0), (3.0, 8.0), (3.0, 12.0), (-3.0, 12.0)]
FAR = [(-3.0, 14.0), (3.0, 14.0), (3.0, 18.0), (-3.0, 18.0)]


def _zones() -> list[ZoneGeometry]:
    zones = [Zone(name, tuple((float(x), float(y)) for x, y in GROUND.to_image(np.array(poly))),
                  24.0) for name, poly in (("near", NEAR), ("far", FAR))]
    return prepare_zones(zones, 1280, 720, GROUND)


def _paving(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frame = np.full((720, 1280, 3), 165, np.uint8)
    frame += rng.integers(0, 6, frame.shape, dtype=np.uint8)   # sensor noise
    return frame


def _draw_heads(frame: np.ndarray, positions: np.ndarray) -> None:
    """A dark head (and a mid-grey body below it) for a person standing at each position,
    the farthest first as a camera sees them."""
    for x, y in positions[np.argsort(-positions[:, 1])]:
        head = GROUND.project(np.array([[x, y, HEAD_CENTRE * 1.7]]))[0]
        feet = GROUND.to_image(np.array([[x, y]]))[0]
        half = float(np.hypot(*(GROUND.project(np.array([[x + HEAD_HALF_WIDTH_M, y, 1.58]]))[0]
                                - head)))
        cv2.rectangle(frame, (int(head[0] - 2 * half), int(head[1] + half)),
                      (int(head[0] + 2 * half), int(feet[1])), (120, 120, 120), -1)
        cv2.ellipse(frame, (int(head[0]), int(head[1])), (round(half), round(half * 1.24)), 0,
                    0, 360, (30, 30, 30), -1)


def _grid(x0: float, x1: float, y0: float, y1: float, step: float) -> np.ndarray:
    xs, ys = np.meshgrid(np.arange(x0, x1, step), np.arange(y0, y1, step))
    return np.column_stack([xs.ravel(), ys.ravel()])


def test_head_plane_maps_a_head_to_the_feet_below_it_with_a_head_sized_width() -> None:
    plane = HeadPlane(GROUND)
    ground = np.array([[1.0, 10.0], [-2.0, 16.0]])
    heads = GROUND.project(np.column_stack([ground, np.full(2, HEAD_CENTRE * 1.7)]))
    assert np.allclose(plane.ground_of(heads), ground, atol=1e-6)
    feet = plane.feet_of(heads)
    assert np.allclose(feet, GROUND.to_image(ground), atol=1e-4)
    person = GROUND.person_height_px(feet)
    ratio = plane.half_width_px(heads) / person
    assert np.all((ratio > 0.045) & (ratio < 0.07)), ratio   # 0.095 m of a 1.7 m person
    assert np.isnan(plane.ground_of(np.array([[640.0, -1000.0]]))).all()   # above the horizon


def test_heads_are_found_per_zone_by_their_feet_and_corrected_for_hidden_ones() -> None:
    counter = HeadCounter()
    zones = _zones()
    counter.count(_paving(0), zones, GROUND)                     # the empty scene
    crowd = np.vstack([_grid(-2.5, 2.6, 8.5, 11.6, 1.0), _grid(-2.5, 2.6, 14.5, 17.6, 1.25)])
    frame = _paving(1)
    _draw_heads(frame, crowd)
    feet = counter.observe(frame, GROUND, learn=False)
    seen = {z.zone_id: int(z.contains(feet).sum()) for z in zones}
    assert abs(seen["near"] - 24) <= 1 and abs(seen["far"] - 15) <= 1, seen   # 6 × 4, 5 × 3
    result = counter.estimate(feet, zones)
    near, far = result.zones
    assert seen["near"] < near.count < 1.2 * seen["near"]       # few hidden at 1 person/m²
    assert near.density == near.count / 24.0
    assert 0.0 < far.confidence < 1.0


def test_unhide_inverts_the_boolean_model_of_hidden_heads_up_to_its_limit() -> None:
    for rho, area in ((0.5, 0.1), (3.0, 0.2), (6.0, 0.15)):
        seen = rho * np.exp(-rho * area)
        estimate, hidden = unhide(seen, area)
        assert abs(estimate - rho) < 1e-6 and abs(hidden - (1 - np.exp(-rho * area))) < 1e-6
    # Beyond ρ·A = 1 more people show fewer heads: the estimate stops at e × seen.
    assert unhide(1.0, 0.5)[0] == pytest.approx(np.e)
    assert unhide(0.0, 0.3) == (0.0, 0.0)


def test_heads_hide_more_far_away_and_under_a_low_camera() -> None:
    plane = HeadPlane(GROUND)
    near, far = plane.hiding_area_m2(np.array([[0.0, 8.0], [0.0, 16.0]]))
    assert far > near > 0
    low = HeadPlane(GroundModel.from_camera(1280, 720, 900.0, 3.0, 30.0))
    assert low.hiding_area_m2(np.array([[0.0, 8.0]]))[0] > near


def test_a_static_dark_blob_is_background_but_a_standing_crowd_is_not_absorbed() -> None:
    counter = HeadCounter()
    zones = _zones()
    empty = _paving(0)
    _draw_heads(empty, np.array([[0.0, 10.0]]))                  # e.g. a bollard, always there
    for _ in range(3):
        counter.observe(empty, GROUND, learn=True)
    assert counter.estimate(counter.observe(empty, GROUND, learn=True), zones).zones[0].count == 0
    crowd = _paving(2)
    _draw_heads(crowd, _grid(-2.5, 2.6, 14.5, 17.6, 1.25))
    first = counter.estimate(counter.observe(crowd, GROUND, learn=False), zones).zones[1].count
    for _ in range(5):
        counter.observe(crowd, GROUND, learn=False)
    last = counter.estimate(counter.observe(crowd, GROUND, learn=False), zones).zones[1].count
    assert first >= 14 and last == first


def test_heads_is_a_selectable_method() -> None:
    assert isinstance(build_counter("heads"), HeadCounter)


def test_auto_counts_a_dense_rendered_crowd_far_better_than_the_regression() -> None:
    from simulators.render import default_scene, default_zones, render_frames, standard_geometries

    camera = standard_geometries()[4]                            # 640 × 480, 8 m, 35°
    ground = GroundModel.from_camera(camera.width, camera.height, camera.focal_px,
                                     camera.height_m, camera.tilt_deg)
    zones = prepare_zones([Zone(z.zone_id, tuple((float(x), float(y))
                                                 for x, y in z.image_polygon(camera)), z.area_m2)
                           for z in default_zones(camera)], camera.width, camera.height, ground)
    auto, regression = AutoCounter(), RegressionCounter()
    t = 0.0
    for density, seconds in ((0.1, 6.0), (4.0, 2.0)):
        spec = default_scene(camera, density, seed=3, fps=0.5)
        for frame, truth in render_frames(spec, seconds):
            t += 2.0
            counted, regressed = auto.count(frame, zones, ground, t), regression.count(
                frame, zones, ground, t)
            true = np.array([truth.zone_counts[z.zone_id] for z in zones], float)
    auto_error = np.abs([z.count for z in counted.zones] - true).sum() / true.sum()
    regress_error = np.abs([z.count for z in regressed.zones] - true).sum() / true.sum()
    assert true.sum() > 100
    assert auto_error < 0.45 and auto_error < 0.7 * regress_error, (auto_error, regress_error)


def test_only_rows_where_people_standing_in_the_zones_show_their_heads_are_searched() -> None:
    near = _zones()[:1]
    lo, hi = HeadCounter.head_rows(near, GROUND)
    heads = GROUND.project(np.array([[0.0, 12.0, 1.58], [0.0, 8.0, 1.58], [0.0, 17.0, 1.58]]))
    assert lo <= heads[0, 1] < hi and lo <= heads[1, 1] < hi and heads[2, 1] < lo
    frame = _paving(1)
    _draw_heads(frame, _grid(-2.5, 2.6, 14.5, 17.6, 1.25))     # people in the far zone only
    counter = HeadCounter()
    counter.observe(_paving(0), GROUND, learn=True)
    assert len(counter.observe(frame, GROUND, learn=False)) >= 14
    assert len(counter.observe(frame, GROUND, learn=False, rows=(lo, hi))) == 0


class _BlindRegression(RegressionCounter):
    """A regression whose foreground missed the crowd (e.g. labelled it shadow)."""

    def estimate(self, zones: Sequence[ZoneGeometry], frame_size: tuple[int, int]
                 ) -> CountResult:
        return CountResult(tuple(ZoneEstimate(z.zone_id, 1.0, 1.0 / (z.area_m2 or 1.0), 0.5)
                                 for z in zones), self.name)


def test_auto_takes_the_head_count_where_heads_are_dense_even_if_the_regression_is_blind(
        ) -> None:
    zones = _zones()
    auto = AutoCounter(regression=_BlindRegression())
    auto.count(_paving(0), zones, GROUND, 0.0)
    frame = _paving(1)
    _draw_heads(frame, _grid(-2.8, 2.9, 8.2, 11.9, 0.45))        # ~5 people/m², near zone
    near = auto.count(frame, zones, GROUND, 2.0).zones[0]
    assert near.density is not None and near.density >= AutoConfig().dense_heads
    assert near.count > 80
