"""An event store backend in process memory, for tests: no database, no network, nothing left behind.

It keeps the promises the Django and DynamoDB backends keep (see `BackendContract`): an append is
all or nothing, refused with ConcurrencyError when the stream is not at the expected version and
with DuplicateEventError when an event uuid is already stored; positions are dense from 1 and
become visible in order; payloads are stored as JSON, so what is not JSON is refused before
anything is written and a reader never shares a dict with the writer or with another reader.

Data lives in the instance: two backends never see each other's events. Every method takes one
lock, so threads may share an instance; reads copy a batch under the lock and decode it outside.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from ..backends.base import (
    EventStoreBackend,
    NewEvent,
    SnapshotRecord,
    StoredEvent,
    StreamInfo,
    StreamPage,
    decode_stream_cursor,
    encode_stream_cursor,
)
from ..exceptions import ConcurrencyError, DuplicateEventError

_ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class _Row:
    """A stored event with its payloads kept as JSON text, decoded afresh on each read."""

    position: int
    event_uuid: UUID
    aggregate_uuid: UUID
    aggregate_type: str
    version: int
    name: str
    schema_version: int
    data: str
    metadata: str
    recorded_at: datetime

    def decode(self) -> StoredEvent:
        return StoredEvent(
            self.position,
            self.event_uuid,
            self.aggregate_uuid,
            self.aggregate_type,
            self.version,
            self.name,
            self.schema_version,
            json.loads(self.data),
            json.loads(self.metadata),
            self.recorded_at,
        )


@dataclass(frozen=True, slots=True)
class _SnapshotRow:
    aggregate_type: str
    version: int
    state: str
    schema_version: int
    created_at: datetime

    def decode(self, aggregate_uuid: UUID) -> SnapshotRecord:
        return SnapshotRecord(
            aggregate_uuid,
            self.aggregate_type,
            self.version,
            json.loads(self.state),
            self.schema_version,
            self.created_at,
        )


class InMemoryBackend(EventStoreBackend):
    """Event streams in this object's memory; takes no options. For tests and experiments."""

    max_events_per_append = None
    commits_with_django_database = False

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._lock = threading.Lock()
        self._last_stamp = datetime.min.replace(tzinfo=UTC)
        self._clear()

    def _clear(self) -> None:
        self._events: list[_Row] = []  # position p is self._events[p - 1]
        self._streams: dict[UUID, StreamInfo] = {}
        self._stream_positions: dict[UUID, list[int]] = {}  # version v is at index v - 1
        self._event_uuids: set[UUID] = set()
        self._snapshots: dict[UUID, dict[int, _SnapshotRow]] = {}

    def reset_for_tests(self) -> None:
        """Forget every event, stream and snapshot."""
        with self._lock:
            self._clear()

    def _now(self) -> datetime:
        """Return the current time, later than any this backend returned before (call with the lock held).

        Streams are listed by their last change; two appends in the same clock tick would otherwise
        tie and list in uuid order rather than in the order they happened.
        """
        self._last_stamp = max(datetime.now(UTC), self._last_stamp + _ONE_MICROSECOND)
        return self._last_stamp

    # Writing

    def append(
        self,
        aggregate_uuid: UUID,
        aggregate_type: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        closes_stream: bool = False,
    ) -> list[StoredEvent]:
        if not events:
            return []
        # Encoding before taking the lock: a payload that is not JSON fails here, having written nothing.
        payloads = [(json.dumps(event.data), json.dumps(event.metadata)) for event in events]
        with self._lock:
            head = self._streams.get(aggregate_uuid)
            actual_version = head.version if head else 0
            # The head is checked before the uuids, as the Django backend does: a retried append that
            # had landed meets a moved head first.
            if actual_version != expected_version:
                raise ConcurrencyError(aggregate_uuid, expected_version, actual_version)
            self._refuse_duplicates(aggregate_uuid, events)
            now = self._now()
            rows = [
                _Row(
                    len(self._events) + offset,
                    event.event_uuid,
                    aggregate_uuid,
                    aggregate_type,
                    expected_version + offset,
                    event.name,
                    event.schema_version,
                    data,
                    metadata,
                    now if event.recorded_at is None else _utc(event.recorded_at),
                )
                for offset, (event, (data, metadata)) in enumerate(zip(events, payloads, strict=True), start=1)
            ]
            self._events.extend(rows)
            self._stream_positions.setdefault(aggregate_uuid, []).extend(row.position for row in rows)
            self._event_uuids.update(row.event_uuid for row in rows)
            # Like the Django backend, the head's times are when it was written, even for copied events.
            self._streams[aggregate_uuid] = StreamInfo(
                aggregate_uuid,
                head.aggregate_type if head else aggregate_type,
                rows[-1].version,
                head.created_at if head else now,
                now,
                closes_stream,
            )
        # The caller gets its own payloads back, as from the other backends; reads decode copies.
        return [
            StoredEvent(
                row.position,
                row.event_uuid,
                aggregate_uuid,
                aggregate_type,
                row.version,
                row.name,
                row.schema_version,
                event.data,
                event.metadata,
                row.recorded_at,
            )
            for row, event in zip(rows, events, strict=True)
        ]

    def _refuse_duplicates(self, aggregate_uuid: UUID, events: Sequence[NewEvent]) -> None:
        """Raise DuplicateEventError naming the uuids already stored or repeated within the append."""
        seen: set[UUID] = set()
        duplicates: list[UUID] = []
        for event in events:
            if event.event_uuid in self._event_uuids or event.event_uuid in seen:
                duplicates.append(event.event_uuid)
            seen.add(event.event_uuid)
        if duplicates:
            raise DuplicateEventError(aggregate_uuid, duplicates)

    # Reading

    def read_stream(
        self,
        aggregate_uuid: UUID,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        batch_size: int = 1000,
    ) -> Iterator[StoredEvent]:
        batch_size = max(batch_size, 1)
        next_version = max(from_version, 1)
        while True:
            with self._lock:
                positions = self._stream_positions.get(aggregate_uuid, [])
                last_version = len(positions) if to_version is None else min(to_version, len(positions))
                end = min(last_version, next_version + batch_size - 1)
                batch = [self._events[positions[version - 1] - 1] for version in range(next_version, end + 1)]
            yield from (row.decode() for row in batch)
            if len(batch) < batch_size:
                return
            next_version += len(batch)

    def read_all(self, after_position: int = 0, *, batch_size: int = 1000) -> Iterator[StoredEvent]:
        batch_size = max(batch_size, 1)
        after_position = max(after_position, 0)
        while True:
            with self._lock:
                batch = self._events[after_position : after_position + batch_size]
            yield from (row.decode() for row in batch)
            if len(batch) < batch_size:
                return
            after_position = batch[-1].position

    def last_position(self) -> int:
        with self._lock:
            return len(self._events)

    # Streams

    def get_stream(self, aggregate_uuid: UUID) -> StreamInfo | None:
        with self._lock:
            return self._streams.get(aggregate_uuid)

    def list_streams(
        self, *, aggregate_type: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> StreamPage:
        after = decode_stream_cursor(cursor) if cursor else None
        with self._lock:
            heads = [
                head for head in self._streams.values() if not aggregate_type or head.aggregate_type == aggregate_type
            ]
        # The Django backend's order: newest change first, the uuid breaking ties.
        heads.sort(key=lambda head: (head.updated_at, head.aggregate_uuid), reverse=True)
        if after is not None:
            heads = [head for head in heads if (head.updated_at, head.aggregate_uuid) < after]
        streams = heads[:limit]
        next_cursor = encode_stream_cursor(streams[-1]) if len(heads) > limit and streams else None
        return StreamPage(streams, next_cursor)

    def count_streams(self, *, aggregate_type: str | None = None) -> int:
        with self._lock:
            if not aggregate_type:
                return len(self._streams)
            return sum(1 for head in self._streams.values() if head.aggregate_type == aggregate_type)

    def aggregate_types(self) -> list[str]:
        with self._lock:
            return sorted({head.aggregate_type for head in self._streams.values()})

    # Snapshots

    def save_snapshot(self, snapshot: SnapshotRecord) -> None:
        state = json.dumps(snapshot.state)  # a state that is not JSON fails here, as in the other backends
        with self._lock:
            created_at = self._now() if snapshot.created_at is None else _utc(snapshot.created_at)
            self._snapshots.setdefault(snapshot.aggregate_uuid, {})[snapshot.version] = _SnapshotRow(
                snapshot.aggregate_type, snapshot.version, state, snapshot.schema_version, created_at
            )

    def get_snapshot(self, aggregate_uuid: UUID, *, max_version: int | None = None) -> SnapshotRecord | None:
        with self._lock:
            rows = self._snapshots.get(aggregate_uuid, {})
            versions = [version for version in rows if max_version is None or version <= max_version]
            row = rows[max(versions)] if versions else None
        return row.decode(aggregate_uuid) if row else None

    def list_snapshots(self, aggregate_uuid: UUID, *, limit: int | None = None) -> list[SnapshotRecord]:
        with self._lock:
            rows = sorted(self._snapshots.get(aggregate_uuid, {}).values(), key=lambda row: row.version, reverse=True)
        return [row.decode(aggregate_uuid) for row in rows[:limit]]

    def __repr__(self) -> str:
        return f"<InMemoryBackend: {len(self._streams)} streams, {len(self._events)} events>"


def _utc(moment: datetime) -> datetime:
    """Return an aware moment in UTC, as the other backends read times back (a naive one as it is)."""
    return moment if moment.tzinfo is None else moment.astimezone(UTC)
