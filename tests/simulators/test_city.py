"""The sample city generator (no database) and its loader (``db_url`` fixture)."""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter, defaultdict

import psycopg
import pytest

from kernel.passwords import verify_password
from simulators.city import PLACE_KINDS, City, Grid, build_city, demo_city, demo_logins
from simulators.seed import seed_city

TABLES = ("regions", "grids", "people", "grid_members", "places", "devices", "zones")


@pytest.fixture(scope="module")
def city() -> City:
    return build_city(7)


@pytest.fixture(scope="module")
def big_city() -> City:
    return build_city(7, scale=10)


def _all_ids(city: City) -> list[str]:
    return (
        [r.id for r in city.regions] + [g.code for g in city.grids]
        + [p.id for p in city.people] + [p.id for p in city.places]
        + [d.id for d in city.devices] + [z.id for z in city.zones]
    )


def _inside(grid: Grid, lon: float, lat: float) -> bool:
    """Ray casting against the grid's ring, independent of its bounding box."""
    inside = False
    for (x1, y1), (x2, y2) in itertools.pairwise(grid.boundary):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _area(grid: Grid) -> float:
    return (grid.max_lon - grid.min_lon) * (grid.max_lat - grid.min_lat)


def _overlap(a: Grid, b: Grid) -> float:
    width = min(a.max_lon, b.max_lon) - max(a.min_lon, b.min_lon)
    height = min(a.max_lat, b.max_lat) - max(a.min_lat, b.min_lat)
    return max(width, 0.0) * max(height, 0.0)


def test_same_seed_same_city_and_other_seed_differs(city: City) -> None:
    assert build_city(7) == city
    assert demo_city() == city
    assert build_city(8) != city
    assert build_city(7, scale=2) != city


def test_scale_one_counts_are_in_expected_ranges(city: City) -> None:
    levels = Counter(r.level for r in city.regions)
    assert levels == {"city": 1, "district": 3, "street": 9, "community": levels["community"]}
    assert 25 <= levels["community"] <= 40
    assert 90 <= len(city.grids) <= 170
    assert 30 <= len(city.places) <= 50
    assert {p.kind for p in city.places} == set(PLACE_KINDS)
    per_place = Counter(c.place_id for c in city.cameras)
    assert set(per_place) == {p.id for p in city.places}
    assert all(1 <= n <= 4 for n in per_place.values())
    per_camera = Counter(z.device_id for z in city.zones)
    assert set(per_camera) == {c.id for c in city.cameras}
    assert all(1 <= n <= 3 for n in per_camera.values())
    assert 0 < len(city.sensors) and len({s.place_id for s in city.sensors}) < len(city.places)


def test_scale_ten_is_about_ten_times_bigger_with_unique_ids(
    city: City, big_city: City
) -> None:
    assert Counter(r.level for r in big_city.regions)["district"] == 30
    assert 8 <= len(big_city.grids) / len(city.grids) <= 12
    assert 8 <= len(big_city.places) / len(city.places) <= 12
    for sample in (city, big_city):
        ids = _all_ids(sample)
        assert len(ids) == len(set(ids))
        usernames = [p.username for p in sample.people]
        assert len(usernames) == len(set(usernames))
        assert len({r.path for r in sample.regions}) == len(sample.regions)


def test_region_paths_and_ids_are_hierarchical(city: City) -> None:
    by_id = {r.id: r for r in city.regions}
    for region in city.regions:
        if region.parent_id is None:
            assert (region.id, region.path, region.level) == ("C01", "C01", "city")
            continue
        parent = by_id[region.parent_id]
        assert region.id.startswith(parent.id + "-")
        assert region.path == f"{parent.path}.{region.id}"


def test_staff_and_logins(city: City) -> None:
    roles = Counter(p.role for p in city.people)
    assert roles["admin"] == 1
    assert roles["operator"] == 1 + 3 + 9
    operators = {p.username: p.region_id for p in city.people if p.role == "operator"}
    assert operators["op-C01"] == "C01" and operators["op-C01-D1"] == "C01-D1"
    assert demo_logins(city) == {p.username: "demo" for p in city.people}


def test_places_and_devices_lie_inside_their_grid(city: City, big_city: City) -> None:
    for sample in (city, big_city):
        grids = {g.code: g for g in sample.grids}
        for place in sample.places:
            assert _inside(grids[place.grid_code], place.lon, place.lat), place
        for device in sample.devices:
            assert device.grid_code is not None and device.lon is not None
            assert device.lat is not None
            assert _inside(grids[device.grid_code], device.lon, device.lat), device


def test_grids_of_a_community_tile_it_without_overlap(city: City, big_city: City) -> None:
    for sample in (city, big_city):
        by_community: dict[str, list[Grid]] = defaultdict(list)
        for grid in sample.grids:
            assert grid.boundary[0] == grid.boundary[-1]
            assert grid.geojson()["type"] == "Polygon"
            by_community[grid.region_id].append(grid)
        for grids in by_community.values():
            for a, b in itertools.combinations(grids, 2):
                assert _overlap(a, b) == 0.0, (a.code, b.code)
            bbox_area = (max(g.max_lon for g in grids) - min(g.min_lon for g in grids)) * (
                max(g.max_lat for g in grids) - min(g.min_lat for g in grids)
            )
            assert sum(_area(g) for g in grids) == pytest.approx(bbox_area, rel=1e-9)


def test_zones_reference_existing_grids_places_and_cameras(city: City) -> None:
    grids = {g.code for g in city.grids}
    cameras = {c.id: c for c in city.cameras}
    for zone in city.zones:
        assert zone.grid_code in grids
        assert cameras[zone.device_id].place_id == zone.place_id
        assert cameras[zone.device_id].grid_code == zone.grid_code
        assert 100 <= zone.area_m2 <= 4000
        assert 0 < zone.warn_density < zone.critical_density


def test_every_grid_has_an_on_duty_worker_and_a_leader(city: City, big_city: City) -> None:
    for sample in (city, big_city):
        duties: dict[str, set[str]] = defaultdict(set)
        for member in sample.grid_members:
            if member.on_duty:
                duties[member.grid_code].add(member.duty)
        assert all(duties[g.code] == {"worker", "leader"} for g in sample.grids)


def _row_counts(url: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    with psycopg.connect(url) as conn:
        for table in (*TABLES, "alert_rules"):
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            counts[table] = int(row[0]) if row else -1
    return counts


def test_seed_city_loads_everything_once_and_atomically(db_url: str) -> None:
    city = demo_city()
    broken = dataclasses.replace(city, people=(*city.people, city.people[0]))
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        seed_city(conn, broken)
    assert set(_row_counts(db_url).values()) == {0}

    with psycopg.connect(db_url) as conn:
        first = seed_city(conn, city)
    assert first.created and first.alert_rules == 1
    counts = _row_counts(db_url)
    assert counts == {**city.counts(), "alert_rules": 1}
    assert {t: getattr(first, t) for t in TABLES} == city.counts()

    with psycopg.connect(db_url) as conn:
        second = seed_city(conn, city)
        stored = conn.execute(
            "SELECT password_hash FROM people WHERE username = 'admin'"
        ).fetchone()
    assert not second.created and second.people == 0
    assert _row_counts(db_url) == counts
    assert stored is not None and verify_password("demo", stored[0])
