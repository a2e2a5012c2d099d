"""The backend contract shipped in eventstore.testing, run against the configured backend (bin/test runs
it on SQLite, PostgreSQL, DynamoDB Local and moto) and against the in-memory backend."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from eventstore.backends.base import EventStoreBackend, NewEvent, SnapshotRecord
from eventstore.exceptions import ConcurrencyError, DuplicateEventError
from eventstore.testing import BackendContract, InMemoryBackend
from tests.conftest import empty_backend


class TestConfiguredBackend(BackendContract):
    @pytest.fixture
    def backend(self, db: None) -> Iterator[EventStoreBackend]:
        yield empty_backend()


class TestInMemoryBackend(BackendContract):
    @pytest.fixture
    def backend(self) -> InMemoryBackend:
        return InMemoryBackend()

    # What the contract leaves open and the in-memory backend promises.

    def test_positions_are_dense_from_one(self, backend: InMemoryBackend) -> None:
        self.append_stream(backend, 2)
        self.append_stream(backend, 3)

        assert [e.position for e in backend.read_all()] == [1, 2, 3, 4, 5]

    def test_an_event_uuid_repeated_within_one_append_is_refused(self, backend: InMemoryBackend) -> None:
        repeated = uuid.uuid4()
        batch = [NewEvent("ItemAdded", {}, event_uuid=repeated), NewEvent("ItemAdded", {}, event_uuid=repeated)]

        with pytest.raises(DuplicateEventError) as caught:
            backend.append(uuid.uuid4(), "ShoppingCart", 0, batch)

        assert caught.value.event_uuids == [repeated]
        assert backend.last_position() == 0

    def test_readers_get_copies_of_the_payloads(self, backend: InMemoryBackend) -> None:
        data = {"items": ["apple"]}
        aggregate_uuid = uuid.uuid4()
        backend.append(aggregate_uuid, "ShoppingCart", 0, [NewEvent("Noted", data)])
        data["items"].append("changed by the writer")

        next(backend.read_stream(aggregate_uuid)).data["items"].append("changed by a reader")

        assert next(backend.read_stream(aggregate_uuid)).data == {"items": ["apple"]}

    def test_the_next_append_reopens_what_closes_stream_closed(self, backend: InMemoryBackend) -> None:
        # As in the Django and DynamoDB backends: the head says whether the last append closed it.
        aggregate_uuid = self.append_stream(backend, 1, closes_stream=True)[0].aggregate_uuid

        self.append_stream(backend, 1, aggregate_uuid=aggregate_uuid)

        info = backend.get_stream(aggregate_uuid)
        assert info is not None and (info.version, info.closed) == (2, False)

    def test_an_invalid_cursor_is_refused(self, backend: InMemoryBackend) -> None:
        with pytest.raises(ValueError, match="Invalid stream cursor"):
            backend.list_streams(cursor="not a cursor")

    def test_reset_for_tests_empties_it_and_instances_share_nothing(self, backend: InMemoryBackend) -> None:
        aggregate_uuid = self.append_stream(backend, 2)[0].aggregate_uuid
        backend.save_snapshot(SnapshotRecord(aggregate_uuid, "ShoppingCart", 2, {}, 1))

        assert InMemoryBackend().exists(aggregate_uuid) is False
        backend.reset_for_tests()

        assert (backend.last_position(), backend.count_streams(), backend.exists(aggregate_uuid)) == (0, 0, False)
        assert backend.get_snapshot(aggregate_uuid) is None
        assert self.append_stream(backend, 1)[0].position == 1

    def test_concurrent_appends_at_one_version_let_exactly_one_writer_through(self, backend: InMemoryBackend) -> None:
        aggregate_uuid = self.append_stream(backend, 1)[0].aggregate_uuid
        start = threading.Barrier(8)
        outcomes: list[str] = []

        def write() -> None:
            start.wait()
            try:
                backend.append(aggregate_uuid, "ShoppingCart", 1, self.new_events(3))
                outcomes.append("stored")
            except ConcurrencyError:
                outcomes.append("refused")

        threads = [threading.Thread(target=write) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(outcomes) == ["refused"] * 7 + ["stored"]
        assert [e.position for e in backend.read_all()] == [1, 2, 3, 4]

    def test_it_does_not_share_the_django_database(self, backend: InMemoryBackend) -> None:
        assert backend.commits_with_django_database is False
        assert backend.max_events_per_append is None
