"""Scenario timelines: the stories they tell, determinism by seed, faults, the simulate command."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import psycopg
import pytest

from kernel.settings import Settings
from sharpeyes.runtime import Runtime
from sharpeyes.simulate_cli import build_devices, register
from simulators.camera import cameras_from_city
from simulators.city import demo_city
from simulators.faults import FaultKind, FaultSpecError, fault_drill, parse_fault
from simulators.fleet import Tick, sensors_from_city
from simulators.scenarios import HOUR, Timeline, UnknownScenario, build_timeline, scenario_names
from simulators.seed import seed_city
from simulators.specs import CameraSpec

MINUTE = 60.0


@pytest.fixture(scope="module")
def cameras() -> list[CameraSpec]:
    return cameras_from_city(demo_city())


def zones_of(cameras: list[CameraSpec], kind: str) -> list[str]:
    return [z.zone_id for c in cameras for z in c.zones if z.place_kind == kind]


def mean_at(timeline: Timeline, zones: list[str], hour: float) -> float:
    """Mean density over ``zones`` and ±10 minutes around ``hour``."""
    times = [hour * HOUR + m * MINUTE for m in range(-10, 11, 5)]
    values = [timeline.world.density(z, t) for z in zones for t in times]
    return sum(values) / len(values)


def peak(timeline: Timeline, zones: list[str], start: float, end: float,
         step: float = MINUTE) -> float:
    steps = int((end - start) / step)
    return max(timeline.world.density(z, start + n * step) for z in zones for n in range(steps))


def test_every_scenario_of_the_issue_can_be_chosen_by_name(cameras: list[CameraSpec]) -> None:
    assert set(scenario_names()) >= {"ordinary_day", "festival_surge", "evacuation",
                                     "holiday_station", "fault_drill"}
    for name in scenario_names():
        assert build_timeline(name, cameras).name == name
    with pytest.raises(UnknownScenario, match="ordinary_day"):
        build_timeline("carnival", cameras)


def test_an_ordinary_day_peaks_by_place_kind(cameras: list[CameraSpec]) -> None:
    day = build_timeline("ordinary_day", cameras)
    assert (day.starts_at, day.ends_at) == (6 * HOUR, 24 * HOUR)
    stations, shops = zones_of(cameras, "railway_station"), zones_of(cameras, "shopping_street")
    markets, schools = zones_of(cameras, "market"), zones_of(cameras, "school")
    assert mean_at(day, stations, 8.0) > 2 * mean_at(day, stations, 10.5)
    assert mean_at(day, stations, 18.0) > 2 * mean_at(day, stations, 15.0)
    assert mean_at(day, stations, 8.0) > 5 * mean_at(day, stations, 4.0)
    assert mean_at(day, shops, 12.5) > 1.5 * mean_at(day, shops, 9.5)
    assert mean_at(day, shops, 19.5) > mean_at(day, shops, 12.5)
    assert mean_at(day, markets, 12.2) > 5 * mean_at(day, markets, 14.5)
    assert mean_at(day, schools, 7.6) > 5 * mean_at(day, schools, 10.0)
    assert mean_at(day, schools, 16.6) > 5 * mean_at(day, schools, 14.0)


def test_an_ordinary_day_stays_below_every_critical_density(cameras: list[CameraSpec]) -> None:
    day = build_timeline("ordinary_day", cameras)
    every_zone = [z.zone_id for c in cameras for z in c.zones]
    assert peak(day, every_zone[::2], day.starts_at, day.ends_at, step=5 * MINUTE) < 3.5


def test_a_festival_takes_a_square_beyond_five_persons_per_m2(cameras: list[CameraSpec]) -> None:
    festival = build_timeline("festival_surge", cameras)
    (stage,) = festival.focus
    assert stage in zones_of(cameras, "square")
    assert peak(festival, [stage], 19 * HOUR, 21 * HOUR) > 5.0
    assert festival.world.density(stage, 16 * HOUR) < 2.0
    assert festival.world.density(stage, 23.4 * HOUR) < 2.5


def test_an_evacuation_empties_the_stadium_quickly_while_its_exits_spike(
        cameras: list[CameraSpec]) -> None:
    evacuation = build_timeline("evacuation", cameras)
    stadium = set(zones_of(cameras, "stadium"))
    names = {z.zone_id: (z.name or "").lower() for c in cameras for z in c.zones}
    inner = [z for z in evacuation.focus if z in stadium and "exit" not in names[z]]
    exits = [z for z in evacuation.focus if z in stadium and "exit" in names[z]]
    neighbours = [z for z in evacuation.focus if z not in stadium]
    alarm = 21 * HOUR + 5 * MINUTE
    assert inner and exits and neighbours
    assert mean_at(evacuation, inner, 20.9) > 2.5
    assert all(evacuation.world.density(z, alarm + 15 * MINUTE) < 0.3 for z in inner)
    assert all(peak(evacuation, [z], alarm, alarm + 30 * MINUTE) > 4.0 for z in exits)
    assert peak(evacuation, neighbours, alarm, alarm + 30 * MINUTE) > 3.5


def test_a_holiday_station_passes_its_critical_density_with_train_waves(
        cameras: list[CameraSpec]) -> None:
    holiday = build_timeline("holiday_station", cameras)
    names = {z.zone_id: (z.name or "").lower() for c in cameras for z in c.zones}
    halls = [z for z in holiday.focus if "ticket" in names[z] or "concourse" in names[z]]
    stairs = [z for z in holiday.focus if "platform" in names[z]]
    assert halls and set(holiday.focus) <= set(zones_of(cameras, "railway_station"))
    assert peak(holiday, halls, 9 * HOUR, 17 * HOUR) > 3.5
    arrival = 12 * HOUR + 20 * MINUTE * 3
    for zone in stairs:
        assert holiday.world.density(zone, arrival) > holiday.world.density(zone, arrival - 60)


def test_a_timeline_is_a_pure_function_of_its_zones_and_seed(cameras: list[CameraSpec]) -> None:
    samples = [(z.zone_id, 6 * HOUR + n * 977.0) for c in cameras[::7] for z in c.zones
               for n in range(20)]
    for name in scenario_names():
        a, b, c = (build_timeline(name, cameras, seed) for seed in (7, 7, 8))
        assert [a.world.density(*s) for s in samples] == [b.world.density(*s) for s in samples]
        assert [a.world.density(*s) for s in samples] != [c.world.density(*s) for s in samples]


def test_devices_report_identical_bytes_for_the_same_seed_and_clock(
        cameras: list[CameraSpec]) -> None:
    sensors = sensors_from_city(demo_city(), cameras)
    wall = datetime(2026, 11, 22, tzinfo=UTC)
    ticks = [Tick(k, 1000 + k, 7.5 * HOUR + 120.0 * k, None if k == 0 else 7.5 * HOUR + 120.0 * (
        k - 1), wall, 120.0) for k in range(0, 60, 7)]

    def run(seed: int) -> list[bytes]:
        timeline = build_timeline("fault_drill", cameras, seed, [s.device_id for s in sensors])
        devices = build_devices(timeline, cameras[:20], sensors[:10], seed)
        return [m.payload for d in devices for t in ticks for m in d.report(t).messages]

    assert run(7) == run(7) != run(8)


def test_command_line_faults_are_parsed_and_refused_with_a_reason() -> None:
    fault = parse_fault("kind=sensor_stuck,device=SEN-1+SEN-2,at=08:30,for=10m,value=42,"
                        "metric=footfall_in")
    assert (fault.kind, fault.devices, fault.start, fault.duration, fault.value, fault.metric) == (
        FaultKind.SENSOR_STUCK, ("SEN-1", "SEN-2"), 8.5 * HOUR, 600.0, 42.0, "footfall_in")
    assert parse_fault("kind=broker_outage,at=30000,for=90").devices == ()
    for bad, reason in (("kind=meteor,device=X", "kind must be"),
                        ("kind=frozen_frame", "needs device"),
                        ("kind=clock_skew,device=X,at=8h", "HH:MM"),
                        ("kind=clock_skew,device=X,colour=red", "unknown keys")):
        with pytest.raises(FaultSpecError, match=reason):
            parse_fault(bad)


def test_the_fault_drill_plays_every_fault_kind_once_on_distinct_devices(
        cameras: list[CameraSpec]) -> None:
    sensors = [s.device_id for s in sensors_from_city(demo_city(), cameras)]
    faults = fault_drill([c.device_id for c in cameras], sensors, 8 * HOUR, seed=7)
    assert {f.kind for f in faults} == set(FaultKind)
    named = [d for f in faults for d in f.devices]
    assert len(named) == len(set(named)) == len(FaultKind) - 1
    assert faults == fault_drill([c.device_id for c in cameras], sensors, 8 * HOUR, seed=7)
    drill = build_timeline("fault_drill", cameras, 7, sensors)
    assert all(drill.starts_at <= f.start and f.end <= drill.ends_at for f in drill.faults.faults)


def test_simulate_plays_a_named_scenario_against_the_configured_servers(
        settings: Settings, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    seed_city(db, demo_city())
    monkeypatch.setattr(Runtime, "install_signal_handlers", lambda self: None)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args([
        "simulate", "--scenario", "festival_surge", "--speed", "3600", "--duration", "3",
        "--devices", "40", "--period", "0.25", "--progress", "1", "--no-serve",
        "--fault", "kind=broker_outage,at=16:50,for=50m"])
    assert args.handler(args, settings) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[simulate] festival_surge: festival at ")
    assert "40 devices, 16:00–23:30 at 3600x (3 s)" in out[0]
    progress = [line for line in out if "/s)" in line]
    assert progress and any("faults: broker_outage" in line for line in progress)
    done = out[-1]
    assert done.startswith("[simulate] done: 0/40 connected, published ")
    assert int(done.split("published ")[1].split(",")[0]) >= 40
