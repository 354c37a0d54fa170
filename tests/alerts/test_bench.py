"""`sharpeyes bench alerts` on a small load, over the real broker and store: every probe
becomes a task, and the JSON carries the keys the issue and the capacity page quote."""

from __future__ import annotations

from sharpeyes.benches.alerts import run_alert_bench


def test_every_probe_becomes_a_task_and_each_stage_reports_its_cost(
    pg_admin_url: str, mqtt_url: str,
) -> None:
    result = run_alert_bench(pg_admin_url, mqtt_url, zones=40, probes=4, probe_gap=0.1,
                             report_interval=2.0)
    assert result["zones_reporting"] == 40 and result["report_interval_s"] == 2.0
    assert result["missing_tasks"] == 0, result["missing_where"]
    assert result["task_latency_s"]["n"] == 4 and result["task_latency_s"]["p99"] > 0
    assert result["store_latency_s"]["n"] == 4
    assert result["full_sweeps"] == 0  # after the first cycle only changed zones
    stages = result["cost"]["stages"]
    assert {"publishers", "ingest", "alerts", "dispatcher", "database"} <= set(stages)
    assert stages["ingest"]["cpu_s"] > 0 and stages["database"]["cpu_s"] > 0
    assert result["cost"]["messages"] > 0 and "saturated" in result["cost"]["machine"]
    kinds = result["cycle_ms_all_kinds"]
    assert kinds["rules"] == 8 and kinds["n"] > 0 and kinds["full_sweep_ms"]["n"] == 1
