"""Hostile input never stops ingest: a corpus through the real broker and database, the
database refusing a value, conflicts, clocks, and a property test of the decoder.

The corpus holds well over 100 hostile messages of the classes an outside test found
(NUL and surrogates in text, numbers as text or booleans, absurd and non-finite numbers,
counts impossible for the zone, densities that disagree with the count, times far in the
future or past, unknown devices and zones, broken JSON, wrong nesting, oversized) with a
valid report between every two. After it every valid report is stored exactly once and
every hostile one is a dead letter with a reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from contracts.topics import TopicKind, topic_for
from ingest.decode import Decoder, Limits
from ingest.records import Accepted, DeadLetter, RejectKind
from ingest.registry import Registry, ZoneInfo
from ingest.writer import BatchWriter, RawMessage
from kernel.settings import Settings
from tests.helpers import density_payload, publish_all, tiny_city, wait_until
from tests.ingest.test_consumer import counter, running_ingest


def _zone(**fields: object) -> dict[str, object]:
    return {"zone_id": "Z-A", "count": 5, **fields}


def hostile_density(now: datetime) -> Iterator[dict[str, object] | bytes]:
    """Density payloads (CAM-A, zone Z-A of 100 m²) that must all be refused."""
    ts = now.isoformat()
    for bad in ("17", True, 1.5, -1, 2**63, None, [1], {"a": 1}):
        yield {"seq": bad, "ts": ts, "zones": [_zone()]}
    for bad in ("7", True, -1, 1e308, 1e7, 1001, None, [5], "NaN"):
        yield {"seq": 1, "ts": ts, "zones": [_zone(count=bad)]}
    for bad in (50.0, 3.0, 11, -0.5, "0.05", True):   # 5 people on 100 m² is 0.05/m²
        yield {"seq": 1, "ts": ts, "zones": [_zone(density=bad)]}
    for bad in ("Z\u0000A", "Z-\ud800", "", "x" * 65, 7, "Z-UNKNOWN", "Z-B"):
        yield {"seq": 1, "ts": ts, "zones": [{"zone_id": bad, "count": 5}]}
    for skew in (timedelta(seconds=290), timedelta(days=1), timedelta(days=-8)):
        yield {"seq": 1, "ts": (now + skew).isoformat(), "zones": [_zone()]}
    for bad in ("9999-12-31T23:59:59-14:00", "2026-11-22T08:00:00", "yesterday", 1e30, True,
                -(10**20), "", None):
        yield {"seq": 1, "ts": bad, "zones": [_zone()]}
    for zones in ([], None, "Z-A", [_zone(), _zone()], [_zone(extra=1)], [[1, 2]],
                  [_zone()] * 300):
        yield {"seq": 1, "ts": ts, "zones": zones}
    yield {"seq": 1, "ts": ts, "zones": [_zone()], "unexpected": True}
    for bad in (2, -1, "0.5", True, float("inf")):
        yield {"seq": 1, "ts": ts, "zones": [_zone(confidence=bad)]}
    epoch_s = int(now.timestamp())   # seconds where milliseconds belong: 1970, too old
    for bad in (epoch_s, "2026-13-01T00:00:00Z", " " + ts, ts + "x", "T08:00:00+08:00",
                "1795305600000", [ts], {"ts": ts}):
        yield {"seq": 1, "ts": bad, "zones": [_zone()]}
    nested: object = _zone()
    for _ in range(40):
        nested = {"zone_id": "Z-A", "count": nested}
    yield {"seq": 1, "ts": ts, "zones": [nested]}
    body = json.dumps({"seq": 1, "ts": ts, "zones": [_zone()]})
    yield from (b"\xef\xbb\xbf" + body.encode(), body.encode("latin-1") + b"\xe9",
                body.encode("utf-32"), body.replace('"seq"', '"s\\u0000eq"').encode(),
                body.replace("Z-A", "Z-\\udc00").encode(), body.encode() + b" trailing")
    yield from (b"", b"{", b"null", b"[]", b"42", b'"text"', b"\xff\xfe", b'{"seq": 1,}',
                b"{" * 5000 + b"}" * 5000, b"\x00" * 10, b'{"seq":1}\x00',
                json.dumps({"seq": 1, "ts": ts, "zones": [_zone()]}).encode("utf-16"),
                b"x" * 300_000)


def hostile_other(prefix: str, now: datetime) -> Iterator[tuple[str, bytes]]:
    """Readings, statuses and topics that must be refused."""
    reading = topic_for(prefix, TopicKind.READING, "SEN-1")
    status = topic_for(prefix, TopicKind.STATUS, "CAM-A")
    ts = now.isoformat()
    for r in ({"metric": "footfall", "value": 1, "unit": "p\u0000"},
              {"metric": "footfall", "value": "1"}, {"metric": "footfall", "value": True},
              {"metric": "footfall", "value": 1e300}, {"metric": "Foot Fall", "value": 1},
              {"metric": "footfall", "value": 1, "unit": "u" * 17},
              {"metric": "f\u0000", "value": 1}, {"metric": "footfall"},
              {"metric": "footfall", "value": None}, {"metric": "", "value": 1},
              {"metric": "footfall", "value": 1, "extra": 1}):
        yield reading, json.dumps({"seq": 1, "ts": ts, "readings": [r]}).encode()
    for readings in ([], None, [{"metric": "footfall", "value": 1}] * 65, "footfall"):
        yield reading, json.dumps({"seq": 1, "ts": ts, "readings": readings}).encode()
    for s in ({"state": "online", "detail": "bad\u0000detail"},
              {"state": "online", "ts": "9999-12-31T23:59:59-14:00"},
              {"state": "online", "ts": (now + timedelta(minutes=10)).isoformat()},
              {"state": "rebooting"}, {"state": True}, {"state": "online", "detail": "d" * 501},
              {"state": "online", "detail": "\ud83d"}, {"state": "online", "extra": 1},
              {"state": "online", "ts": "yesterday"}, {"state": ["online"]}, {}):
        yield status, json.dumps(s).encode()
    unknown = topic_for(prefix, TopicKind.DENSITY, "CAM-NOBODY")
    yield unknown, density_payload(1, ts, {"Z-A": 1})
    yield topic_for(prefix, TopicKind.READING, "CAM-A"), json.dumps(
        {"seq": 1, "ts": ts, "readings": [{"metric": "m", "value": 1}]}).encode()


def _encode(body: dict[str, object] | bytes) -> bytes:
    # json.dumps would escape a lone surrogate as \ud800: exactly what a device may send
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def test_hostile_corpus_between_valid_reports(settings: Settings, db: psycopg.Connection,
                                              mqtt_url: str) -> None:
    tiny_city(db)
    now = datetime.now(UTC)
    prefix = settings.topic_prefix
    camera = topic_for(prefix, TopicKind.DENSITY, "CAM-A")
    hostile = [(camera, _encode(b)) for b in hostile_density(now)]
    hostile += list(hostile_other(prefix, now))
    assert len(hostile) >= 100
    messages: list[tuple[str, bytes]] = []
    for i, bad in enumerate(hostile):
        messages.append(bad)
        ts = (now - timedelta(milliseconds=10 * (len(hostile) - i))).isoformat()
        messages.append((camera, density_payload(1000 + i, ts, {"Z-A": (1000 + i) % 50})))
    with running_ingest(settings):
        sent = publish_all(mqtt_url, messages)
        wait_until(lambda: counter(db, "messages") >= sent, timeout=90,
                   what="every message decided")
    valid = len(hostile)
    stored = db.execute("SELECT count(*), count(DISTINCT seq) FROM crowd_observations"
                        " WHERE seq >= 1000").fetchone()
    assert stored == (valid, valid)
    letters = db.execute("SELECT count(*), count(*) FILTER (WHERE reason <> '')"
                         " FROM dead_letters").fetchone()
    assert letters == (len(hostile), len(hostile))
    assert db.execute("SELECT count(*) FROM sensor_readings").fetchone() == (0,)
    # no hostile time pinned the zone or the device: the last valid report is current
    current = db.execute("SELECT count FROM zone_current WHERE zone_id = 'Z-A'").fetchone()
    assert current == ((1000 + len(hostile) - 1) % 50,)
    status = db.execute("SELECT last_seen <= now() + interval '1 second'"
                        " FROM device_status WHERE device_id = 'CAM-A'").fetchone()
    assert status == (True,)


def _writer(db_url: str, db: psycopg.Connection) -> BatchWriter:
    registry = Registry()
    limits = Limits(max_payload_bytes=4096, max_future=timedelta(seconds=30),
                    max_age=timedelta(days=7), auto_register=False)
    return BatchWriter(db_url, Decoder("se", registry, limits), "test")


def test_a_refused_message_is_isolated_and_the_rest_commit(db_url: str,
                                                           db: psycopg.Connection) -> None:
    """The database refuses counts of 7 (a constraint stands in for any value it cannot
    store): each such message becomes a dead letter with the database's reason."""
    tiny_city(db)
    db.execute("ALTER TABLE crowd_observations ADD CONSTRAINT no_seven CHECK (count <> 7)")
    now = datetime.now(UTC)
    topic = "se/v1/camera/CAM-A/density"
    batch = [RawMessage(topic, density_payload(seq, now.isoformat(), {"Z-A": seq % 10}))
             for seq in range(200)]
    writer = _writer(db_url, db)
    try:
        result = writer.write(batch, now)
    finally:
        writer.close()
    assert (result.messages, result.dead_letters) == (200, 20)
    assert db.execute("SELECT count(*) FROM crowd_observations").fetchone() == (180,)
    refused = db.execute("SELECT error_kind, reason FROM dead_letters").fetchall()
    assert len(refused) == 20
    assert all(k == RejectKind.DB_REFUSED and "no_seven" in r for k, r in refused)
    assert counter(db, "messages") == 200


def test_conflicting_redelivery_is_dead_lettered(db_url: str, db: psycopg.Connection) -> None:
    tiny_city(db)
    now = datetime.now(UTC)
    topic = "se/v1/camera/CAM-A/density"
    same = RawMessage(topic, density_payload(1, now.isoformat(), {"Z-A": 5}))
    other = RawMessage(topic, density_payload(1, now.isoformat(), {"Z-A": 9}))
    writer = _writer(db_url, db)
    try:
        writer.write([same], now)
        result = writer.write([same, other, RawMessage(topic, density_payload(
            2, now.isoformat(), {"Z-A": 3})), RawMessage(topic, density_payload(
                2, now.isoformat(), {"Z-A": 4}))], now)
    finally:
        writer.close()
    assert result.dead_letters == 2 and result.duplicates == 1
    rows = db.execute("SELECT seq, count FROM crowd_observations ORDER BY seq").fetchall()
    assert rows == [(1, 5.0), (2, 3.0)]
    kinds = db.execute("SELECT error_kind, reason FROM dead_letters ORDER BY id").fetchall()
    assert [k for k, _ in kinds] == ["conflict", "conflict"]
    assert "count 5" in kinds[0][1] or "count 5" in kinds[1][1]


NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["seq", "ts", "zones", "zone_id", "count", "density", "confidence",
                         "x"]), inner, max_size=5),
    max_leaves=20)


@hsettings(max_examples=300, deadline=None)
@given(body=JSON, seq=st.integers(-2, 2**64), count=st.floats() | st.integers() | st.text(),
       text=st.text())
def test_decoder_never_raises_and_accepts_only_storable_rows(body: object, seq: int,
                                                             count: object,
                                                             text: str) -> None:
    registry = Registry()
    registry.devices = {"CAM-A": "camera"}
    registry.zones = {"Z-A": ZoneInfo("CAM-A", 100.0)}
    decoder = Decoder("se", registry, Limits(4096, timedelta(seconds=30), timedelta(days=7),
                                             False))
    candidates = [body, {"seq": seq, "ts": NOW.isoformat(),
                         "zones": [{"zone_id": "Z-A", "count": count}]},
                  {"seq": 1, "ts": NOW.isoformat(), "zones": [{"zone_id": text, "count": 1}]}]
    for candidate in candidates:
        try:
            payload = json.dumps(candidate).encode()
        except ValueError:
            continue
        result = decoder.decode("se/v1/camera/CAM-A/density", payload, NOW)
        assert isinstance(result, Accepted | DeadLetter)
        if isinstance(result, DeadLetter):
            assert result.reason
            continue
        for row in result.observations:
            assert 0 <= row.count <= 1e6 and 0 <= row.density <= 10
            assert 0 <= row.seq < 2**63 and "\x00" not in row.zone_id
            row.zone_id.encode("utf-8")


def test_dead_letters_are_bounded_and_redacted(db_url: str, db: psycopg.Connection) -> None:
    tiny_city(db)
    now = datetime.now(UTC)
    topic = "se/v1/camera/CAM-A/density"
    huge = b'{"seq": 1, "junk": "' + b"x" * 10_000_000 + b'"}'
    named = json.dumps({"type": "new", "after": {"label": "person", "sub_label": ["Chen Xin", 0.93],
                                                  "recognized_license_plate": "ZheA-12345",
                                                  "zones": ["plaza"]}}).encode()
    writer = _writer(db_url, db)
    try:
        writer.write([RawMessage(topic, huge), RawMessage(topic, named)], now)
    finally:
        writer.close()
    rows = db.execute("SELECT length(payload), payload_size, payload_sha256, payload_truncated,"
                      " redacted, payload FROM dead_letters ORDER BY id").fetchall()
    (big_len, big_size, big_sha, truncated, _, _), (_, _, _, cut, redacted, kept) = rows
    assert big_len <= 1024 and big_size == len(huge) and truncated and not cut
    assert big_sha == hashlib.sha256(huge).hexdigest()
    assert redacted and b"Chen Xin" not in bytes(kept) and b"ZheA" not in bytes(kept)
    assert json.loads(bytes(kept))["after"]["zones"] == ["plaza"]
    total = db.execute("SELECT pg_total_relation_size('dead_letters')").fetchone()
    assert total is not None and total[0] < 1_000_000

