"""`sharpeyes bench ingest` on a small load: its bookkeeping, over the real broker and store.

The figures themselves belong in the issue note (they depend on the machine); what is
checked here is that every mode counts each message once and loses none.
"""

from __future__ import annotations

import pytest

from sharpeyes.benches.ingest import run_bench


@pytest.mark.parametrize("mode", ["backlog", "live"])
def test_bench_stores_every_message_once_with_one_and_two_replicas(
    pg_admin_url: str, mqtt_url: str, mode: str
) -> None:
    # Small enough for a broker's default queue of 1,000 messages per offline session.
    result = run_bench(pg_admin_url, mqtt_url, messages=600, publishers=2,
                       replica_counts=[1, 2], mode=mode)  # type: ignore[arg-type]
    assert result.mode == mode and result.baseline_msgs_per_s > 0
    assert [r.replicas for r in result.runs] == [1, 2]
    for run in result.runs:
        assert (run.lost, run.duplicated, run.dead_letters) == (0, 0, 0)
        assert run.rows_per_s > 0
        assert run.ratio == pytest.approx(run.rows_per_s / result.baseline_msgs_per_s,
                                         rel=0.01, abs=0.001)
    one, two = result.runs
    assert one.speedup == 1.0
    assert two.speedup == pytest.approx(two.rows_per_s / one.rows_per_s, rel=0.01, abs=0.001)
    assert result.lossless
