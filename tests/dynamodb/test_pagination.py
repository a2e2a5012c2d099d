"""Reads that need more than one DynamoDB page: over 1 MB, or more items than one query returns."""

from __future__ import annotations

import uuid

from eventstore.backends.base import NewEvent, SnapshotRecord
from eventstore.backends.dynamodb_writes import MAX_EVENTS_PER_APPEND

BIG = "x" * 90_000  # 30 such events make a 2.7 MB stream: three 1 MB query pages at least


def big_events(count: int, start: int) -> list[NewEvent]:
    return [NewEvent("Noted", {"n": start + i, "text": BIG}) for i in range(count)]


def test_read_stream_follows_last_evaluated_key_past_one_megabyte(ddb, calls):
    stream = uuid.uuid4()
    for batch in range(3):
        ddb.append(stream, "Notebook", batch * 10, big_events(10, batch * 10))
    calls.clear()

    events = list(ddb.read_stream(stream))

    assert [e.version for e in events] == list(range(1, 31))
    assert [e.data["n"] for e in events] == list(range(30))
    assert all(e.data["text"] == BIG for e in events)
    assert calls["Query"] >= 3


def test_read_all_reads_events_over_one_megabyte_in_position_order(ddb):
    streams = [uuid.uuid4(), uuid.uuid4()]
    for batch in range(2):
        for stream in streams:
            ddb.append(stream, "Notebook", batch * 8, big_events(8, batch * 8))

    events = list(ddb.read_all())

    assert [e.position for e in events] == list(range(1, 33))
    assert [(e.aggregate_uuid, e.version) for e in events[:9]] == [(streams[0], v) for v in range(1, 9)] + [
        (streams[1], 1)
    ]
    assert sum(len(e.data["text"]) for e in events) == 32 * len(BIG)


def test_read_all_crosses_log_partitions_and_starts_inside_any_commit(ddb):
    ddb.log_page_size = page = 50  # small partitions (the tables are empty), so a few hundred events cross many
    total = 5 * page + 17
    appended = []
    stream, version = uuid.uuid4(), 0
    while len(appended) < total:
        count = min(MAX_EVENTS_PER_APPEND - 1, total - len(appended))  # commits straddle partition boundaries
        appended += ddb.append(
            stream, "Counter", version, [NewEvent("Ticked", {"i": version + i}) for i in range(count)]
        )
        version += count
        if version >= 100:  # several streams, so commits point into different streams
            stream, version = uuid.uuid4(), 0

    everything = list(ddb.read_all(batch_size=30))

    assert [e.position for e in everything] == list(range(1, total + 1))
    assert [e.event_uuid for e in everything] == [e.event_uuid for e in appended]
    for after in (page - 1, page, page + 3, 2 * page + 1, total - 1):
        assert [e.position for e in ddb.read_all(after, batch_size=7)] == list(range(after + 1, total + 1))
    assert ddb.last_position() == total


def test_list_snapshots_and_streams_page_through_everything(ddb):
    stream = uuid.uuid4()
    for version in range(1, 6):  # 5 x 300 KB: more than one 1 MB page
        ddb.save_snapshot(SnapshotRecord(stream, "Notebook", version * 10, {"text": "s" * 300_000}, 1))
    uuids = {ddb.append(uuid.uuid4(), "Notebook", 0, [NewEvent("Noted", {})])[0].aggregate_uuid for _ in range(130)}

    seen, cursor = [], None
    while True:
        page = ddb.list_streams(limit=50, cursor=cursor)
        seen += [s.aggregate_uuid for s in page.streams]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert [s.version for s in ddb.list_snapshots(stream)] == [50, 40, 30, 20, 10]
    assert ddb.get_snapshot(stream, max_version=35).version == 30
    assert len(seen) == 130 and set(seen) == uuids
    assert ddb.count_streams() == ddb.count_streams(aggregate_type="Notebook") == 130
