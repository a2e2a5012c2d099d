"""The contract every event store backend keeps, as pytest tests a backend's own suite inherits.

Subclass `BackendContract` in a test module and give the class a `backend` fixture that returns
an empty backend; pytest then runs every test below against it::

    import pytest

    from eventstore.testing import BackendContract

    from myproject.backends import MyBackend


    class TestMyBackend(BackendContract):
        @pytest.fixture
        def backend(self):  # add pytest-django's `db` argument if it stores in the Django database
            backend = MyBackend(TABLE_PREFIX="test_")
            backend.reset_for_tests()  # whatever empties it
            yield backend
            backend.close()

A backend that gives events their global positions after the append (`positions_on_append` False, as
DynamoDB's indexer does) overrides `settle(backend)` to wait until every acknowledged append has them;
the tests call it before they read the global order (read_all, last_position, the stream counts).

`BackendContract` has no `Test` prefix, so pytest collects its tests only through subclasses. They
talk to the backend they are given and nothing else: no Django settings, models or database.
Backends may differ where the contract is silent (which error a retried append meets first, the
head's times for copied events, how positions are numbered beyond increasing): it tests the promises
the repository, projections and admin rely on.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ..backends.base import EventStoreBackend, NewEvent, SnapshotRecord, StoredEvent
from ..exceptions import ConcurrencyError, DuplicateEventError, EventStoreError

_item_numbers = itertools.count()
_item_numbers_lock = threading.Lock()


class BackendContract:
    """Tests every EventStoreBackend must pass; subclass it and define a `backend` fixture."""

    @pytest.fixture
    def backend(self) -> EventStoreBackend:
        """Return an empty backend: subclasses override this fixture."""
        pytest.fail(
            f"{type(self).__name__} must define a `backend` fixture returning an empty backend:\n"
            "    @pytest.fixture\n    def backend(self):\n        return MyBackend()"
        )

    def settle(self, backend: EventStoreBackend) -> None:
        """Return once every acknowledged append has its global position (at once where appends assign them).

        Backends whose positions come later (`positions_on_append` False) override it: run their indexer.
        """
        if not backend.positions_on_append:
            pytest.fail(f"{type(self).__name__} must override settle(): {type(backend).__name__} indexes later.")

    # Helpers

    def new_events(self, count: int, **fields: Any) -> list[NewEvent]:
        """Return `count` ItemAdded-shaped events ready to append (each its own item name and uuid)."""
        with _item_numbers_lock:
            numbers = [next(_item_numbers) for _ in range(count)]
        fields.setdefault("schema_version", 2)
        return [
            NewEvent(name="ItemAdded", data={"name": f"item-{number}", "quantity": 1}, **fields) for number in numbers
        ]

    def append_stream(
        self,
        backend: EventStoreBackend,
        events: int = 3,
        *,
        aggregate_uuid: uuid.UUID | None = None,
        aggregate_type: str = "ShoppingCart",
        **kwargs: Any,
    ) -> list[StoredEvent]:
        """Append `events` generic events to a stream (a new one unless given) at its current version."""
        aggregate_uuid = aggregate_uuid or uuid.uuid4()
        return backend.append(
            aggregate_uuid,
            aggregate_type,
            backend.get_version(aggregate_uuid),
            self.new_events(events),
            **kwargs,
        )

    # Appending

    def test_append_numbers_versions_from_one_and_returns_stored_events(self, backend: EventStoreBackend) -> None:
        aggregate_uuid = uuid.uuid4()
        new = self.new_events(3, metadata={"actor": "ann"})

        stored = backend.append(aggregate_uuid, "ShoppingCart", 0, new)

        assert [e.version for e in stored] == [1, 2, 3]
        assert [e.event_uuid for e in stored] == [e.event_uuid for e in new]
        assert all(e.aggregate_uuid == aggregate_uuid and e.aggregate_type == "ShoppingCart" for e in stored)
        assert [e.data for e in stored] == [e.data for e in new]
        assert stored[0].metadata == {"actor": "ann"}
        if backend.positions_on_append:
            assert stored[0].position < stored[1].position < stored[2].position
        else:  # not known yet: the indexer gives them later
            assert [e.position for e in stored] == [0, 0, 0]
            self.settle(backend)
            assert [e.event_uuid for e in backend.read_all(0)] == [e.event_uuid for e in new]
        assert abs(stored[0].recorded_at - datetime.now(UTC)) < timedelta(minutes=1)

    def test_read_stream_returns_what_was_appended_in_version_order(self, backend: EventStoreBackend) -> None:
        stored = self.append_stream(backend, 5)
        aggregate_uuid = stored[0].aggregate_uuid

        read = list(backend.read_stream(aggregate_uuid))

        assert read == stored

    def test_read_stream_honours_version_range_across_batches(self, backend: EventStoreBackend) -> None:
        stored = self.append_stream(backend, 7)
        aggregate_uuid = stored[0].aggregate_uuid

        read = list(backend.read_stream(aggregate_uuid, from_version=2, to_version=6, batch_size=2))

        assert [e.version for e in read] == [2, 3, 4, 5, 6]
        assert [e.event_uuid for e in read] == [e.event_uuid for e in stored[1:6]]

    def test_reading_an_unknown_stream_yields_nothing(self, backend: EventStoreBackend) -> None:
        assert list(backend.read_stream(uuid.uuid4())) == []
        assert backend.get_version(uuid.uuid4()) == 0
        assert backend.exists(uuid.uuid4()) is False
        assert backend.get_stream(uuid.uuid4()) is None

    def test_stream_head_tracks_type_version_and_times(self, backend: EventStoreBackend) -> None:
        stored = self.append_stream(backend, 2)
        aggregate_uuid = stored[0].aggregate_uuid
        self.append_stream(backend, 3, aggregate_uuid=aggregate_uuid)

        info = backend.get_stream(aggregate_uuid)

        assert info is not None
        assert info.aggregate_type == "ShoppingCart"
        assert info.version == 5
        assert info.closed is False
        assert info.created_at <= info.updated_at
        assert backend.get_version(aggregate_uuid) == 5
        assert backend.exists(aggregate_uuid) is True

    def test_append_that_closes_the_stream_marks_its_head_closed(self, backend: EventStoreBackend) -> None:
        stored = self.append_stream(backend, 2, closes_stream=True)

        info = backend.get_stream(stored[0].aggregate_uuid)
        assert info is not None and info.closed is True

    def test_appending_nothing_writes_nothing(self, backend: EventStoreBackend) -> None:
        aggregate_uuid = uuid.uuid4()

        assert backend.append(aggregate_uuid, "ShoppingCart", 0, []) == []
        assert backend.exists(aggregate_uuid) is False

    @pytest.mark.parametrize("expected_version", [0, 1, 3, 7])
    def test_append_at_a_stale_expected_version_raises_and_writes_nothing(
        self, backend: EventStoreBackend, expected_version: int
    ) -> None:
        stored = self.append_stream(backend, 2)
        aggregate_uuid = stored[0].aggregate_uuid

        with pytest.raises(ConcurrencyError) as caught:
            backend.append(aggregate_uuid, "ShoppingCart", expected_version, self.new_events(2))

        assert caught.value.aggregate_uuid == aggregate_uuid
        assert caught.value.expected_version == expected_version
        assert caught.value.actual_version == 2
        assert [e.event_uuid for e in backend.read_stream(aggregate_uuid)] == [e.event_uuid for e in stored]
        assert backend.get_version(aggregate_uuid) == 2

    def test_append_to_a_missing_stream_at_a_nonzero_version_raises(self, backend: EventStoreBackend) -> None:
        aggregate_uuid = uuid.uuid4()

        with pytest.raises(ConcurrencyError) as caught:
            backend.append(aggregate_uuid, "ShoppingCart", 4, self.new_events(1))

        assert (caught.value.expected_version, caught.value.actual_version) == (4, 0)
        assert backend.exists(aggregate_uuid) is False

    def test_a_batch_that_fails_midway_leaves_nothing(self, backend: EventStoreBackend) -> None:
        stored = self.append_stream(backend, 1)
        aggregate_uuid = stored[0].aggregate_uuid
        self.settle(backend)
        position = backend.last_position()
        batch = [*self.new_events(2), NewEvent(name="ItemAdded", data={"unserialisable": object()})]

        with pytest.raises((TypeError, ValueError, EventStoreError)):
            backend.append(aggregate_uuid, "ShoppingCart", 1, batch)

        assert backend.get_version(aggregate_uuid) == 1
        assert [e.version for e in backend.read_stream(aggregate_uuid)] == [1]
        self.settle(backend)
        assert backend.last_position() == position

    def test_appending_an_event_uuid_already_stored_is_refused_as_a_duplicate(self, backend: EventStoreBackend) -> None:
        stored = self.append_stream(backend, 1)
        aggregate_uuid = stored[0].aggregate_uuid
        replay = NewEvent(name="ItemAdded", data={"name": "x", "quantity": 1}, event_uuid=stored[0].event_uuid)

        with pytest.raises((DuplicateEventError, ConcurrencyError)):
            backend.append(aggregate_uuid, "ShoppingCart", 1, [replay])

        assert backend.get_version(aggregate_uuid) == 1

    def test_an_event_uuid_stored_in_another_stream_is_refused_and_nothing_is_written(
        self, backend: EventStoreBackend
    ) -> None:
        stored = self.append_stream(backend, 1)
        other_uuid = uuid.uuid4()
        self.settle(backend)
        position = backend.last_position()
        batch = [*self.new_events(1), NewEvent(name="ItemAdded", data={}, event_uuid=stored[0].event_uuid)]

        with pytest.raises(DuplicateEventError) as caught:
            backend.append(other_uuid, "ShoppingCart", 0, batch)

        assert caught.value.aggregate_uuid == other_uuid
        assert caught.value.event_uuids == [stored[0].event_uuid]
        assert backend.exists(other_uuid) is False
        self.settle(backend)
        assert backend.last_position() == position
        assert [e.event_uuid for e in backend.read_stream(stored[0].aggregate_uuid)] == [stored[0].event_uuid]

    def test_recorded_at_given_by_a_copy_is_kept(self, backend: EventStoreBackend) -> None:
        first_recorded = datetime(2021, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
        copied = [NewEvent(name="ItemAdded", data={"name": "old", "quantity": 1}, recorded_at=first_recorded)]

        stored = backend.append(uuid.uuid4(), "ShoppingCart", 0, copied)

        assert stored[0].recorded_at == first_recorded
        assert [e.recorded_at for e in backend.read_stream(stored[0].aggregate_uuid)] == [first_recorded]

    def test_payloads_round_trip_as_json(self, backend: EventStoreBackend) -> None:
        data = {"text": "crème brûlée ✓", "nested": {"list": [1, 2.5, None, True], "empty": {}}, "zero": 0}
        metadata = {"actor": "ann", "request": {"id": "r-1"}}
        stored = backend.append(uuid.uuid4(), "ShoppingCart", 0, [NewEvent("Noted", data, 3, metadata)])

        (read,) = backend.read_stream(stored[0].aggregate_uuid)

        assert (read.name, read.schema_version, read.data, read.metadata) == ("Noted", 3, data, metadata)

    def test_an_append_as_large_as_the_backend_allows_is_stored_whole(self, backend: EventStoreBackend) -> None:
        count = min(backend.max_events_per_append or 100, 100)

        stored = self.append_stream(backend, count)

        assert [e.version for e in backend.read_stream(stored[0].aggregate_uuid, batch_size=30)] == list(
            range(1, count + 1)
        )

    # Reading the whole store

    def test_read_all_returns_every_event_in_position_order_after_a_position(self, backend: EventStoreBackend) -> None:
        self.settle(backend)
        start = backend.last_position()
        first = self.append_stream(backend, 3)
        second = self.append_stream(backend, 2)
        self.append_stream(backend, 1, aggregate_uuid=first[0].aggregate_uuid)
        self.settle(backend)

        everything = list(backend.read_all(start, batch_size=2))

        assert len(everything) == 6
        positions = [e.position for e in everything]
        assert positions == sorted(positions) and len(set(positions)) == 6
        if backend.positions_on_append:
            assert [e.event_uuid for e in everything[:5]] == [e.event_uuid for e in first + second]
        else:  # an indexer orders appends to different streams as it meets them; each stream keeps its order
            for stream in (first, second):
                in_stream = [e for e in everything if e.aggregate_uuid == stream[0].aggregate_uuid]
                assert [e.event_uuid for e in in_stream][: len(stream)] == [e.event_uuid for e in stream]
        assert [e.position for e in backend.read_all(positions[3])] == positions[4:]
        assert backend.last_position() == positions[-1]

    def test_read_all_on_an_empty_store_yields_nothing(self, backend: EventStoreBackend) -> None:
        assert list(backend.read_all(backend.last_position())) == []

    def test_read_all_resumes_after_any_position_whatever_the_batch_size(self, backend: EventStoreBackend) -> None:
        self.settle(backend)
        start = backend.last_position()
        for count in (3, 1, 4):
            self.append_stream(backend, count)
        self.settle(backend)
        expected = list(backend.read_all(start))

        assert len(expected) == 8
        for batch_size in (1, 3, 8, 50):
            assert list(backend.read_all(start, batch_size=batch_size)) == expected
        for index, event in enumerate(expected):
            assert list(backend.read_all(event.position, batch_size=3)) == expected[index + 1 :]
        assert list(backend.read_all(backend.last_position() + 10)) == []

    def test_read_stream_outside_the_stream_yields_nothing(self, backend: EventStoreBackend) -> None:
        aggregate_uuid = self.append_stream(backend, 3)[0].aggregate_uuid

        assert list(backend.read_stream(aggregate_uuid, from_version=4)) == []
        assert list(backend.read_stream(aggregate_uuid, from_version=3, to_version=2)) == []
        assert [e.version for e in backend.read_stream(aggregate_uuid, to_version=10)] == [1, 2, 3]

    # Snapshots

    def test_snapshots_save_and_return_the_latest_at_or_below_a_version(self, backend: EventStoreBackend) -> None:
        aggregate_uuid = uuid.uuid4()
        for version in (10, 20, 30):
            backend.save_snapshot(SnapshotRecord(aggregate_uuid, "ShoppingCart", version, {"v": version}, 1))

        latest = backend.get_snapshot(aggregate_uuid)
        at_25 = backend.get_snapshot(aggregate_uuid, max_version=25)
        assert latest is not None and latest.version == 30
        assert at_25 is not None and at_25.state == {"v": 20}
        assert backend.get_snapshot(aggregate_uuid, max_version=9) is None
        assert backend.get_snapshot(uuid.uuid4()) is None
        assert [s.version for s in backend.list_snapshots(aggregate_uuid)] == [30, 20, 10]
        assert [s.version for s in backend.list_snapshots(aggregate_uuid, limit=2)] == [30, 20]

    def test_saving_a_snapshot_at_the_same_version_replaces_it(self, backend: EventStoreBackend) -> None:
        aggregate_uuid = uuid.uuid4()
        backend.save_snapshot(SnapshotRecord(aggregate_uuid, "ShoppingCart", 5, {"old": True}, 1))
        backend.save_snapshot(SnapshotRecord(aggregate_uuid, "ShoppingCart", 5, {"new": True}, 2))

        snapshots = backend.list_snapshots(aggregate_uuid)

        assert len(snapshots) == 1
        assert (snapshots[0].state, snapshots[0].schema_version) == ({"new": True}, 2)
        assert snapshots[0].created_at is not None

    def test_a_stream_without_snapshots_lists_none(self, backend: EventStoreBackend) -> None:
        aggregate_uuid = self.append_stream(backend, 2)[0].aggregate_uuid

        assert backend.list_snapshots(aggregate_uuid) == []
        assert backend.get_snapshot(aggregate_uuid) is None

    # Listing streams

    def test_list_streams_pages_through_every_stream_most_recent_first(self, backend: EventStoreBackend) -> None:
        streams = [self.append_stream(backend, 1, aggregate_type="ShoppingCart")[0].aggregate_uuid for _ in range(5)]
        others = [self.append_stream(backend, 1, aggregate_type="Order")[0].aggregate_uuid for _ in range(2)]
        self.append_stream(backend, 1, aggregate_uuid=streams[0])  # streams[0] is now the most recently changed

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

    def test_list_streams_filters_by_aggregate_type_and_counts(self, backend: EventStoreBackend) -> None:
        carts = {self.append_stream(backend, 1)[0].aggregate_uuid for _ in range(3)}
        self.append_stream(backend, 1, aggregate_type="Order")

        page = backend.list_streams(aggregate_type="ShoppingCart", limit=10)
        self.settle(backend)  # the counts are kept by whoever assigns positions

        assert {s.aggregate_uuid for s in page.streams} == carts
        assert page.next_cursor is None
        assert backend.count_streams() == 4
        assert backend.count_streams(aggregate_type="ShoppingCart") == 3
        assert backend.aggregate_types() == ["Order", "ShoppingCart"]

    def test_an_empty_store_lists_and_counts_no_streams(self, backend: EventStoreBackend) -> None:
        page = backend.list_streams()

        assert (page.streams, page.next_cursor) == ([], None)
        assert backend.count_streams() == 0
        assert backend.count_streams(aggregate_type="ShoppingCart") == 0
        assert backend.aggregate_types() == []
        assert backend.last_position() == 0
