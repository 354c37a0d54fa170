"""Foreground mass per person: learnt from isolated detections only, cast shadows left out,
and ``auto`` taking it in a sparse zone only when detections are clearly fewer."""

from __future__ import annotations

import numpy as np

from video.counting import AutoCounter
from video.mass import ForegroundMass, MassConfig
from video.model import CountResult, Detection, Zone, ZoneEstimate
from video.zones import prepare_zones

SIZE = (192, 96)           # analysis frame, px (16 × 8 occlusion cells of 12 px)
BODY = (10, 30)            # a person's box, px (w, h)


def _background() -> np.ndarray:
    return np.full((SIZE[1], SIZE[0], 3), 150, np.uint8)


def _scene(people: list[tuple[int, int]], shadow: bool = False) -> np.ndarray:
    frame = _background()
    for x, y in people:
        frame[y:y + BODY[1], x:x + BODY[0]] = (40, 90, 200)
        if shadow:   # a cast shadow beside the person: darker, same colour as the paving
            frame[y + BODY[1] - 6:y + BODY[1], x + BODY[0]:x + 3 * BODY[0]] = 95
    return frame


def _weights() -> np.ndarray:
    return np.full((SIZE[1], SIZE[0]), 1.0 / (BODY[0] * BODY[1]), np.float32)


def _boxes(people: list[tuple[int, int]]) -> list[Detection]:
    return [Detection(float(x), float(y), float(BODY[0]), float(BODY[1]), 1.0) for x, y in people]


def test_per_person_mass_comes_from_isolated_detections_and_counts_the_undetected() -> None:
    mass = ForegroundMass(MassConfig(min_people=3))
    spread = [(12, 12), (60, 48), (108, 24), (156, 60)]   # on the 12-px occlusion cells
    mass.observe(_scene(spread, shadow=True), _background(), _weights())
    assert mass.count(np.ones((SIZE[1], SIZE[0]), np.uint8)) is None   # nothing learnt yet
    assert mass.learn(_boxes(spread), 1.0) == 4
    # About one person's weight (the per-cell occlusion correction adds to a lone person
    # as much as to the people it is used to count); the shadows add nothing.
    assert mass.per_person is not None and 1.0 <= mass.per_person < 2.0
    # Six people, of whom a detector would find two: the mass still counts six.
    crowd = [*spread, (36, 60), (84, 60)]
    mass.observe(_scene(crowd, shadow=True), _background(), _weights())
    # (people sharing a 12-px cell read as a little more: the occlusion correction takes
    # them for partly overlapping.)
    n = mass.count(np.ones((SIZE[1], SIZE[0]), np.uint8))
    assert n is not None and 5.5 < n < 7.5


def test_boxes_next_to_other_people_teach_nothing() -> None:
    mass = ForegroundMass()
    pair = [(50, 20), (58, 20)]          # overlapping detections
    mass.observe(_scene(pair), _background(), _weights())
    assert mass.learn(_boxes(pair), 1.0) == 0
    # One detection inside a crowd the detector missed: the ring around it holds more
    # foreground than allowed, so it is not a sample of one person either.
    crowd = _background()
    crowd[5:65, 35:75] = (40, 90, 200)
    strict = ForegroundMass(MassConfig(ring=1.0))
    strict.observe(crowd, _background(), _weights())
    assert strict.learn(_boxes([(50, 20)]), 1.0) == 0
    strict.observe(_scene([(50, 20)]), _background(), _weights())
    assert strict.learn(_boxes([(50, 20)]), 1.0) == 1


class _FixedMass(ForegroundMass):
    def __init__(self, n: float) -> None:
        super().__init__()
        self.n = n

    def count(self, mask: np.ndarray) -> float | None:
        return self.n


def _auto_with_mass(n: float) -> tuple[AutoCounter, list]:
    from video.calibration import GroundModel

    ground = GroundModel.from_camera(400, 224, 300.0, 6.0, 30.0)
    zones = prepare_zones([Zone("z", ((0.0, 120.0), (400.0, 120.0), (400.0, 224.0), (0.0, 224.0)),
                                20.0)], 400, 224, ground)
    auto = AutoCounter(mass=_FixedMass(n))
    auto.regression.observe(np.full((224, 400, 3), 150, np.uint8), ground)
    return auto, zones


def _result(count: float) -> CountResult:
    return CountResult((ZoneEstimate("z", count, count / 20.0, 0.8),), "auto")


def test_auto_takes_the_mass_count_only_when_detections_are_clearly_fewer() -> None:
    auto, zones = _auto_with_mass(12.0)
    assert auto._with_mass(_result(4.0), zones, (400, 224)).zones[0].count == 12.0
    # Mass 1.5× the detections (real footage: shadows beyond the boxes): detections stay.
    assert auto._with_mass(_result(8.0), zones, (400, 224)).zones[0].count == 8.0
    # A zone counted as dense keeps its (head) count.
    auto._dense_zones = {"z"}
    assert auto._with_mass(_result(4.0), zones, (400, 224)).zones[0].count == 4.0
