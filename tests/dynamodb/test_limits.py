"""DynamoDB's limits, checked before anything is sent: 100 items and 4 MB per transaction, 400 KB per item."""

from __future__ import annotations

import uuid

import pytest

from eventstore.backends.base import NewEvent, SnapshotRecord
from eventstore.backends.dynamodb_writes import MAX_EVENTS_PER_APPEND
from eventstore.exceptions import EventLimitError


def events(count: int, size: int = 10) -> list[NewEvent]:
    return [NewEvent("Noted", {"text": "x" * size}) for _ in range(count)]


def assert_nothing_written(ddb, stream, position=0):
    assert ddb.exists(stream) is False
    assert ddb.last_position() == position
    assert list(ddb.read_all(position)) == []


def test_an_append_of_the_most_events_one_transaction_carries_lands(ddb):
    stream = uuid.uuid4()

    stored = ddb.append(stream, "Notebook", 0, events(MAX_EVENTS_PER_APPEND))

    assert ddb.max_events_per_append == MAX_EVENTS_PER_APPEND == 48
    assert [e.version for e in stored] == list(range(1, 49))
    assert ddb.get_version(stream) == 48


def test_one_event_more_is_refused_naming_the_stream_and_limit(ddb):
    stream = uuid.uuid4()

    with pytest.raises(EventLimitError) as caught:
        ddb.append(stream, "Notebook", 0, events(MAX_EVENTS_PER_APPEND + 1))

    assert caught.value.aggregate_uuid == stream
    assert str(stream) in str(caught.value) and "at most 48 events" in str(caught.value)
    assert_nothing_written(ddb, stream)


def test_an_event_over_400_kb_is_refused_naming_it(ddb):
    stream = uuid.uuid4()
    batch = [*events(2), NewEvent("Noted", {"text": "x" * 410_000})]

    with pytest.raises(EventLimitError) as caught:
        ddb.append(stream, "Notebook", 0, batch)

    message = str(caught.value)
    assert str(stream) in message and str(batch[2].event_uuid) in message and "version 3" in message
    assert_nothing_written(ddb, stream)


def test_events_together_over_4_mb_are_refused_and_just_under_land(ddb):
    stream = uuid.uuid4()

    with pytest.raises(EventLimitError) as caught:
        ddb.append(stream, "Notebook", 0, events(11, 390_000))
    assert "transaction carries at most" in str(caught.value) and str(stream) in str(caught.value)
    assert_nothing_written(ddb, stream)

    # 10 events of 390 KB: close to both limits, and DynamoDB agrees that they fit.
    stored = ddb.append(stream, "Notebook", 0, events(10, 390_000))
    assert [len(e.data["text"]) for e in ddb.read_stream(stream)] == [390_000] * 10
    assert ddb.last_position() == stored[-1].position == 10


def test_a_snapshot_over_400_kb_is_refused_and_a_smaller_one_saved(ddb):
    stream = uuid.uuid4()

    with pytest.raises(EventLimitError, match="snapshot at version 7"):
        ddb.save_snapshot(SnapshotRecord(stream, "Notebook", 7, {"text": "x" * 410_000}, 1))
    assert ddb.get_snapshot(stream) is None

    ddb.save_snapshot(SnapshotRecord(stream, "Notebook", 7, {"text": "x" * 390_000}, 1))
    assert len(ddb.get_snapshot(stream).state["text"]) == 390_000
