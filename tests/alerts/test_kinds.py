"""Each rule kind against the store: forecast, rate of rise, sensors, device health, composite."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from tests.alerts.support import (
    add_rule,
    alerts,
    now,
    only_rule,
    run,
    set_density,
    set_reading,
    set_status,
)

T0 = now()


def ramp_until_fired(db: psycopg.Connection, rules: dict[str, int], *, start: float,
                     per_second: float, seconds: int) -> dict[str, tuple[int, float]]:
    """Feed Z-A a ramp (one report a second, evaluated every 2 s); when each rule fired
    (second, density at that moment)."""
    fired: dict[str, tuple[int, float]] = {}
    for t in range(seconds + 1):
        density = start + per_second * t
        set_density(db, "Z-A", density, T0 + timedelta(seconds=t), seq=t)
        if t % 2:
            continue
        run(db, T0 + timedelta(seconds=t))
        for name, rule in rules.items():
            firing = db.execute("SELECT 1 FROM alerts WHERE rule_id = %s AND state = 'firing'",
                                (rule,)).fetchone()
            if firing and name not in fired:
                fired[name] = (t, density)
    return fired


@pytest.mark.parametrize("method", ["linear", "holt"])
def test_a_forecast_alert_fires_before_the_ramp_crosses_its_threshold(
    city: psycopg.Connection, method: str
) -> None:
    # 1.0/m² rising 0.02/m² per second crosses the zone's critical 4.0 at t = 150 s.
    forecast = add_rule(city, "forecast_breach", params={
        "method": method, "horizon_seconds": 120, "window_seconds": 60, "min_samples": 5})
    fired = ramp_until_fired(city, {"forecast": forecast, "density": 1},
                             start=1.0, per_second=0.02, seconds=160)
    t_forecast, density_then = fired["forecast"]
    assert density_then < 4.0 and t_forecast <= 60, fired
    assert fired["density"][0] >= 150
    detail = city.execute("SELECT detail FROM alerts WHERE rule_id = %s", (forecast,)).fetchone()
    assert detail is not None and "forecast" in detail[0] and "reaches 4/m²" in detail[0]


def test_a_forecast_stays_quiet_on_a_steady_crowd(city: psycopg.Connection) -> None:
    forecast = only_rule(city, "forecast_breach", params={"horizon_seconds": 300,
                                                          "window_seconds": 60})
    fired = ramp_until_fired(city, {"forecast": forecast}, start=3.0, per_second=0.0,
                             seconds=60)
    assert fired == {}


def test_rate_of_rise_sees_a_surge_building_not_a_steady_crowd(
    city: psycopg.Connection
) -> None:
    rule = only_rule(city, "rate_of_rise", threshold=1.0, clear_threshold=0.2,
                     params={"window_seconds": 30})
    steady = ramp_until_fired(city, {"rate": rule}, start=3.0, per_second=0.0, seconds=40)
    assert steady == {}
    city.execute("DELETE FROM crowd_observations")
    surge = ramp_until_fired(city, {"rate": rule}, start=1.0, per_second=0.05, seconds=20)
    assert "rate" in surge  # 3/m² per minute ≥ 1
    value = city.execute("SELECT value FROM alerts WHERE rule_id = %s", (rule,)).fetchone()
    assert value is not None and value[0] == pytest.approx(3.0, rel=0.05)


def test_sensor_thresholds_above_and_below_take_the_grid_from_the_place(
    city: psycopg.Connection
) -> None:
    hot = only_rule(city, "sensor_threshold", threshold=40, clear_threshold=35,
                    params={"metric": "temperature"})
    flat = add_rule(city, "sensor_threshold", threshold=20, clear_threshold=25,
                    params={"metric": "battery", "direction": "below"})
    set_reading(city, "SEN-A", "temperature", 41.5, T0)
    set_reading(city, "SEN-A", "battery", 19, T0)
    set_reading(city, "SEN-1", "temperature", 20, T0)
    run(city, T0)
    assert alerts(city, hot) == [("device:SEN-A", "firing")]
    assert alerts(city, flat) == [("device:SEN-A", "firing")]
    grid = city.execute("SELECT DISTINCT grid_code, place_id FROM alerts").fetchall()
    assert grid == [("G-A", "PL-A")]  # SEN-A has no grid of its own: its place's grid
    set_reading(city, "SEN-A", "battery", 22, T0 + timedelta(seconds=1))   # not yet above 25
    set_reading(city, "SEN-A", "temperature", 30, T0 + timedelta(seconds=1))
    run(city, T0 + timedelta(seconds=1))
    assert alerts(city, flat) == [("device:SEN-A", "firing")]
    assert alerts(city, hot) == [("device:SEN-A", "resolved")]


def test_device_offline_counts_its_duration_from_the_state_change(
    city: psycopg.Connection
) -> None:
    rule = only_rule(city, "device_offline", for_seconds=60)
    set_status(city, "CAM-A", "lost", T0 - timedelta(seconds=30))   # Last Will fired
    set_status(city, "CAM-B", "online", T0)
    run(city, T0)
    assert alerts(city, rule) == [("device:CAM-A", "pending")]
    run(city, T0 + timedelta(seconds=30))
    assert alerts(city, rule) == [("device:CAM-A", "firing")]
    set_status(city, "CAM-A", "online", T0 + timedelta(seconds=40))
    run(city, T0 + timedelta(seconds=40))
    assert alerts(city, rule) == [("device:CAM-A", "resolved")]


def test_stale_data_alerts_on_cameras_that_went_quiet(city: psycopg.Connection) -> None:
    rule = only_rule(city, "stale_data", threshold=120)
    set_status(city, "CAM-A", "online", T0 - timedelta(seconds=10))
    set_status(city, "CAM-B", "online", T0 - timedelta(minutes=10))
    set_status(city, "SEN-A", "online", T0 - timedelta(minutes=10))   # sensors: not by default
    run(city, T0)
    assert alerts(city, rule) == [("device:CAM-B", "firing")]   # CAM-A2 never reported
    detail = city.execute("SELECT detail FROM alerts").fetchone()
    assert detail == ("no data for 600 s (limit 120 s)",)


def test_camera_tampering_is_matched_in_the_status_detail(city: psycopg.Connection) -> None:
    rule = only_rule(city, "camera_tamper")
    set_status(city, "CAM-A", "online", T0, detail="Lens covered")
    set_status(city, "CAM-B", "online", T0, detail="Scene changed: view moved 40°")
    set_status(city, "CAM-A2", "online", T0, detail="bitrate low")
    run(city, T0)
    assert alerts(city, rule) == [("device:CAM-A", "firing"), ("device:CAM-B", "firing")]
    set_status(city, "CAM-A", "online", T0 + timedelta(seconds=5))
    run(city, T0 + timedelta(seconds=5))
    assert alerts(city, rule)[0] == ("device:CAM-A", "resolved")


def test_composite_fires_when_camera_and_sensor_agree_at_one_place(
    city: psycopg.Connection
) -> None:
    sensor = add_rule(city, "sensor_threshold", threshold=50, channels=[],
                      params={"metric": "footfall_in"})
    both = add_rule(city, "composite", params={"all_of": [1, sensor]})
    set_density(city, "Z-A", 5.0, T0)
    run(city, T0)
    assert alerts(city, both) == []   # the camera alone is not enough
    set_reading(city, "SEN-A", "footfall_in", 80, T0 + timedelta(seconds=1))
    run(city, T0 + timedelta(seconds=1))
    assert alerts(city, both) == [("place:PL-A", "firing")]
    row = city.execute("SELECT grid_code, severity FROM alerts WHERE rule_id = %s",
                       (both,)).fetchone()
    assert row == ("G-A", "critical")   # the worst of its parts (5.0/m² is congested)


def test_composite_two_cameras_of_one_place_must_agree(city: psycopg.Connection) -> None:
    both = add_rule(city, "composite", params={"all_of": [1], "min_devices": 2})
    set_density(city, "Z-A", 5.0, T0)
    run(city, T0)
    assert alerts(city, both) == []
    set_density(city, "Z-A2", 4.5, T0 + timedelta(seconds=1))
    run(city, T0 + timedelta(seconds=1))
    assert alerts(city, both) == [("place:PL-A", "firing")]


