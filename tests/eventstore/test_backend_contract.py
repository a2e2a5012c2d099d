"""The contract every event store backend keeps. bin/test runs it against each configured backend."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from eventstore.backends.base import NewEvent, SnapshotRecord
from eventstore.exceptions import ConcurrencyError, DuplicateEventError, EventStoreError
from tests.factories import NewEventFactory, append_stream


def test_append_numbers_versions_from_one_and_returns_stored_events(backend):
    aggregate_uuid = uuid.uuid4()
    new = NewEventFactory.build_batch(3, metadata={"actor": "ann"})

    stored = backend.append(aggregate_uuid, "ShoppingCart", 0, new)

    assert [e.version for e in stored] == [1, 2, 3]
    assert [e.event_uuid for e in stored] == [e.event_uuid for e in new]
    assert all(e.aggregate_uuid == aggregate_uuid and e.aggregate_type == "ShoppingCart" for e in stored)
    assert [e.data for e in stored] == [e.data for e in new]
    assert stored[0].metadata == {"actor": "ann"}
    assert stored[0].position < stored[1].position < stored[2].position
    assert abs(stored[0].recorded_at - timezone.now()) < timedelta(minutes=1)


def test_read_stream_returns_what_was_appended_in_version_order(backend):
    stored = append_stream(5)
    aggregate_uuid = stored[0].aggregate_uuid

    read = list(backend.read_stream(aggregate_uuid))

    assert read == stored


def test_read_stream_honours_version_range_across_batches(backend):
    stored = append_stream(7)
    aggregate_uuid = stored[0].aggregate_uuid

    read = list(backend.read_stream(aggregate_uuid, from_version=2, to_version=6, batch_size=2))

    assert [e.version for e in read] == [2, 3, 4, 5, 6]
    assert [e.event_uuid for e in read] == [e.event_uuid for e in stored[1:6]]


def test_reading_an_unknown_stream_yields_nothing(backend):
    assert list(backend.read_stream(uuid.uuid4())) == []
    assert backend.get_version(uuid.uuid4()) == 0
    assert backend.exists(uuid.uuid4()) is False
    assert backend.get_stream(uuid.uuid4()) is None


def test_stream_head_tracks_type_version_and_times(backend):
    stored = append_stream(2)
    aggregate_uuid = stored[0].aggregate_uuid
    append_stream(3, aggregate_uuid=aggregate_uuid)

    info = backend.get_stream(aggregate_uuid)

    assert info.aggregate_type == "ShoppingCart"
    assert info.version == 5
    assert info.closed is False
    assert info.created_at <= info.updated_at
    assert backend.get_version(aggregate_uuid) == 5
    assert backend.exists(aggregate_uuid) is True


def test_append_that_closes_the_stream_marks_its_head_closed(backend):
    stored = append_stream(2, closes_stream=True)

    assert backend.get_stream(stored[0].aggregate_uuid).closed is True


def test_appending_nothing_writes_nothing(backend):
    aggregate_uuid = uuid.uuid4()

    assert backend.append(aggregate_uuid, "ShoppingCart", 0, []) == []
    assert backend.exists(aggregate_uuid) is False


@pytest.mark.parametrize("expected_version", [0, 1, 3, 7])
def test_append_at_a_stale_expected_version_raises_and_writes_nothing(backend, expected_version):
    stored = append_stream(2)
    aggregate_uuid = stored[0].aggregate_uuid

    with pytest.raises(ConcurrencyError) as caught:
        backend.append(aggregate_uuid, "ShoppingCart", expected_version, NewEventFactory.build_batch(2))

    assert caught.value.aggregate_uuid == aggregate_uuid
    assert caught.value.expected_version == expected_version
    assert caught.value.actual_version == 2
    assert [e.event_uuid for e in backend.read_stream(aggregate_uuid)] == [e.event_uuid for e in stored]
    assert backend.get_version(aggregate_uuid) == 2


def test_append_to_a_missing_stream_at_a_nonzero_version_raises(backend):
    aggregate_uuid = uuid.uuid4()

    with pytest.raises(ConcurrencyError) as caught:
        backend.append(aggregate_uuid, "ShoppingCart", 4, NewEventFactory.build_batch(1))

    assert (caught.value.expected_version, caught.value.actual_version) == (4, 0)
    assert backend.exists(aggregate_uuid) is False


def test_a_batch_that_fails_midway_leaves_nothing(backend):
    stored = append_stream(1)
    aggregate_uuid = stored[0].aggregate_uuid
    position = backend.last_position()
    batch = [*NewEventFactory.build_batch(2), NewEvent(name="ItemAdded", data={"unserialisable": object()})]

    with pytest.raises((TypeError, ValueError, EventStoreError)):
        backend.append(aggregate_uuid, "ShoppingCart", 1, batch)

    assert backend.get_version(aggregate_uuid) == 1
    assert [e.version for e in backend.read_stream(aggregate_uuid)] == [1]
    assert backend.last_position() == position


def test_appending_an_event_uuid_already_stored_is_refused_as_a_duplicate(backend):
    stored = append_stream(1)
    aggregate_uuid = stored[0].aggregate_uuid
    replay = NewEvent(name="ItemAdded", data={"name": "x", "quantity": 1}, event_uuid=stored[0].event_uuid)

    with pytest.raises((DuplicateEventError, ConcurrencyError)):
        backend.append(aggregate_uuid, "ShoppingCart", 1, [replay])

    assert backend.get_version(aggregate_uuid) == 1


def test_read_all_returns_every_event_in_position_order_after_a_position(backend):
    first = append_stream(3)
    second = append_stream(2)
    append_stream(1, aggregate_uuid=first[0].aggregate_uuid)
    start = first[0].position - 1

    everything = list(backend.read_all(start, batch_size=2))

    assert len(everything) == 6
    positions = [e.position for e in everything]
    assert positions == sorted(positions) and len(set(positions)) == 6
    assert [e.event_uuid for e in everything[:5]] == [e.event_uuid for e in first + second]
    assert [e.position for e in backend.read_all(positions[3])] == positions[4:]
    assert backend.last_position() == positions[-1]


def test_read_all_on_an_empty_store_yields_nothing(backend):
    assert list(backend.read_all(backend.last_position())) == []


def test_snapshots_save_and_return_the_latest_at_or_below_a_version(backend):
    aggregate_uuid = uuid.uuid4()
    for version in (10, 20, 30):
        backend.save_snapshot(SnapshotRecord(aggregate_uuid, "ShoppingCart", version, {"v": version}, 1))

    assert backend.get_snapshot(aggregate_uuid).version == 30
    assert backend.get_snapshot(aggregate_uuid, max_version=25).state == {"v": 20}
    assert backend.get_snapshot(aggregate_uuid, max_version=9) is None
    assert backend.get_snapshot(uuid.uuid4()) is None
    assert [s.version for s in backend.list_snapshots(aggregate_uuid)] == [30, 20, 10]
    assert [s.version for s in backend.list_snapshots(aggregate_uuid, limit=2)] == [30, 20]


def test_saving_a_snapshot_at_the_same_version_replaces_it(backend):
    aggregate_uuid = uuid.uuid4()
    backend.save_snapshot(SnapshotRecord(aggregate_uuid, "ShoppingCart", 5, {"old": True}, 1))
    backend.save_snapshot(SnapshotRecord(aggregate_uuid, "ShoppingCart", 5, {"new": True}, 2))

    snapshots = backend.list_snapshots(aggregate_uuid)

    assert len(snapshots) == 1
    assert (snapshots[0].state, snapshots[0].schema_version) == ({"new": True}, 2)
    assert snapshots[0].created_at is not None


def test_list_streams_pages_through_every_stream_most_recent_first(backend):
    streams = [append_stream(1, aggregate_type="ShoppingCart")[0].aggregate_uuid for _ in range(5)]
    others = [append_stream(1, aggregate_type="Order")[0].aggregate_uuid for _ in range(2)]
    append_stream(1, aggregate_uuid=streams[0])  # streams[0] is now the most recently changed

    seen, cursor = [], None
    while True:
        page = backend.list_streams(limit=3, cursor=cursor)
        assert len(page.streams) <= 3
        seen.extend(page.streams)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert {s.aggregate_uuid for s in seen} == set(streams + others)
    assert len(seen) == 7
    assert seen[0].aggregate_uuid == streams[0]
    assert [s.updated_at for s in seen] == sorted((s.updated_at for s in seen), reverse=True)


def test_list_streams_filters_by_aggregate_type_and_counts(backend):
    carts = {append_stream(1)[0].aggregate_uuid for _ in range(3)}
    append_stream(1, aggregate_type="Order")

    page = backend.list_streams(aggregate_type="ShoppingCart", limit=10)

    assert {s.aggregate_uuid for s in page.streams} == carts
    assert page.next_cursor is None
    assert backend.count_streams() == 4
    assert backend.count_streams(aggregate_type="ShoppingCart") == 3
    assert backend.aggregate_types() == ["Order", "ShoppingCart"]
