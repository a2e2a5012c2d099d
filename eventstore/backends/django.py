"""The Django ORM backend: events in the project's database (SQLite, PostgreSQL).

One append is one transaction: the stream head moves from the expected version to the new one
(the optimistic lock), then the events are inserted. The (aggregate_uuid, version) unique
constraint is the last line of defence should anything else let two writers through.

Global positions come from the events table's auto-increment key. A PostgreSQL sequence hands
out numbers before commit, so two concurrent appends can commit out of position order and a
reader would skip the late one. Appends therefore take one transaction-scoped advisory lock,
making position order equal commit order. SQLite needs nothing: it has one writer at a time.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, IntegrityError, InterfaceError, OperationalError, connections, transaction
from django.db.models import Q
from django.utils import timezone

from ..exceptions import BackendUnavailable, ConcurrencyError, DuplicateEventError, EventStoreError
from ..models import EventRecord, Snapshot, Stream
from .base import EventStoreBackend, NewEvent, SnapshotRecord, StoredEvent, StreamInfo, StreamPage

# Any constant will do; it names the one lock that orders all appends.
APPEND_LOCK_KEY = 0x6576_656E_7473

EVENT_FIELDS = (
    "id",
    "event_uuid",
    "aggregate_uuid",
    "aggregate_type",
    "version",
    "name",
    "schema_version",
    "data",
    "metadata",
    "recorded_at",
)
STREAM_FIELDS = ("aggregate_uuid", "aggregate_type", "version", "created_at", "updated_at", "closed")
SNAPSHOT_FIELDS = ("aggregate_uuid", "aggregate_type", "version", "state", "schema_version", "created_at")


class DjangoBackend(EventStoreBackend):
    """Event streams in Django models; options: DATABASE (the connection alias)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.alias: str = options.get("DATABASE", DEFAULT_DB_ALIAS)

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
        now = timezone.now()
        new_version = expected_version + len(events)
        records = [
            EventRecord(
                event_uuid=event.event_uuid,
                aggregate_uuid=aggregate_uuid,
                aggregate_type=aggregate_type,
                version=expected_version + offset,
                name=event.name,
                schema_version=event.schema_version,
                data=event.data,
                metadata=event.metadata,
                recorded_at=event.recorded_at or now,
            )
            for offset, event in enumerate(events, start=1)
        ]
        try:
            with transaction.atomic(using=self.alias):
                self._serialize_positions()
                self._move_head(aggregate_uuid, aggregate_type, expected_version, new_version, now, closes_stream)
                EventRecord.objects.using(self.alias).bulk_create(records)
        except IntegrityError as exc:
            raise self._explain_integrity_error(aggregate_uuid, expected_version, events) from exc
        except (OperationalError, InterfaceError) as exc:
            raise BackendUnavailable(f"Appending to stream {aggregate_uuid} failed: {exc}") from exc
        return [self._stored(record) for record in records]

    def _serialize_positions(self) -> None:
        connection = connections[self.alias]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [APPEND_LOCK_KEY])

    def _move_head(
        self,
        aggregate_uuid: UUID,
        aggregate_type: str,
        expected_version: int,
        new_version: int,
        now: datetime,
        closes_stream: bool,
    ) -> None:
        streams = Stream.objects.using(self.alias)
        if expected_version == 0:
            # A clash with an existing head raises IntegrityError, explained by the caller.
            streams.create(
                aggregate_uuid=aggregate_uuid,
                aggregate_type=aggregate_type,
                version=new_version,
                closed=closes_stream,
                created_at=now,
                updated_at=now,
            )
            return
        moved = streams.filter(aggregate_uuid=aggregate_uuid, version=expected_version).update(
            version=new_version, updated_at=now, closed=closes_stream
        )
        if not moved:
            raise ConcurrencyError(aggregate_uuid, expected_version, self.get_version(aggregate_uuid))

    def _explain_integrity_error(
        self, aggregate_uuid: UUID, expected_version: int, events: Sequence[NewEvent]
    ) -> EventStoreError:
        uuids = [event.event_uuid for event in events]
        stored = list(
            EventRecord.objects.using(self.alias).filter(event_uuid__in=uuids).values_list("event_uuid", flat=True)
        )
        if stored:
            return DuplicateEventError(aggregate_uuid, stored)
        actual = self.get_version(aggregate_uuid)
        if actual != expected_version:
            return ConcurrencyError(aggregate_uuid, expected_version, actual)
        return EventStoreError(f"Appending to stream {aggregate_uuid} violated a constraint.")

    # Reading

    def read_stream(
        self,
        aggregate_uuid: UUID,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        batch_size: int = 1000,
    ) -> Iterator[StoredEvent]:
        query = EventRecord.objects.using(self.alias).filter(aggregate_uuid=aggregate_uuid)
        if to_version is not None:
            query = query.filter(version__lte=to_version)
        query = query.order_by("version")
        next_version = from_version
        while True:
            rows = list(query.filter(version__gte=next_version).values_list(*EVENT_FIELDS)[:batch_size])
            for row in rows:
                yield StoredEvent(*row)
            if len(rows) < batch_size:
                return
            next_version = rows[-1][4] + 1

    def read_all(self, after_position: int = 0, *, batch_size: int = 1000) -> Iterator[StoredEvent]:
        query = EventRecord.objects.using(self.alias).order_by("id")
        while True:
            rows = list(query.filter(id__gt=after_position).values_list(*EVENT_FIELDS)[:batch_size])
            for row in rows:
                yield StoredEvent(*row)
            if len(rows) < batch_size:
                return
            after_position = rows[-1][0]

    def last_position(self) -> int:
        last = EventRecord.objects.using(self.alias).order_by("-id").values_list("id", flat=True).first()
        return last or 0

    # Streams

    def get_stream(self, aggregate_uuid: UUID) -> StreamInfo | None:
        row = Stream.objects.using(self.alias).filter(aggregate_uuid=aggregate_uuid).values_list(*STREAM_FIELDS).first()
        return StreamInfo(*row) if row else None

    def get_version(self, aggregate_uuid: UUID) -> int:
        version = (
            Stream.objects.using(self.alias)
            .filter(aggregate_uuid=aggregate_uuid)
            .values_list("version", flat=True)
            .first()
        )
        return version or 0

    def list_streams(
        self, *, aggregate_type: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> StreamPage:
        query = Stream.objects.using(self.alias).order_by("-updated_at", "-aggregate_uuid")
        if aggregate_type:
            query = query.filter(aggregate_type=aggregate_type)
        if cursor:
            updated_at, uuid = decode_stream_cursor(cursor)
            query = query.filter(Q(updated_at__lt=updated_at) | Q(updated_at=updated_at, aggregate_uuid__lt=uuid))
        rows = list(query.values_list(*STREAM_FIELDS)[: limit + 1])
        streams = [StreamInfo(*row) for row in rows[:limit]]
        next_cursor = encode_stream_cursor(streams[-1]) if len(rows) > limit else None
        return StreamPage(streams, next_cursor)

    def count_streams(self, *, aggregate_type: str | None = None) -> int:
        query = Stream.objects.using(self.alias).all()
        if aggregate_type:
            query = query.filter(aggregate_type=aggregate_type)
        return query.count()

    def aggregate_types(self) -> list[str]:
        return list(
            Stream.objects.using(self.alias)
            .order_by("aggregate_type")
            .values_list("aggregate_type", flat=True)
            .distinct()
        )

    # Snapshots

    def save_snapshot(self, snapshot: SnapshotRecord) -> None:
        Snapshot.objects.using(self.alias).update_or_create(
            aggregate_uuid=snapshot.aggregate_uuid,
            version=snapshot.version,
            defaults={
                "aggregate_type": snapshot.aggregate_type,
                "state": snapshot.state,
                "schema_version": snapshot.schema_version,
                "created_at": snapshot.created_at or timezone.now(),
            },
        )

    def get_snapshot(self, aggregate_uuid: UUID, *, max_version: int | None = None) -> SnapshotRecord | None:
        query = Snapshot.objects.using(self.alias).filter(aggregate_uuid=aggregate_uuid)
        if max_version is not None:
            query = query.filter(version__lte=max_version)
        row = query.order_by("-version").values_list(*SNAPSHOT_FIELDS).first()
        return SnapshotRecord(*row) if row else None

    def list_snapshots(self, aggregate_uuid: UUID) -> list[SnapshotRecord]:
        rows = (
            Snapshot.objects.using(self.alias)
            .filter(aggregate_uuid=aggregate_uuid)
            .order_by("-version")
            .values_list(*SNAPSHOT_FIELDS)
        )
        return [SnapshotRecord(*row) for row in rows]

    @staticmethod
    def _stored(record: EventRecord) -> StoredEvent:
        return StoredEvent(*(getattr(record, name) for name in EVENT_FIELDS))


def encode_stream_cursor(stream: StreamInfo) -> str:
    """Return an opaque cursor pointing just after `stream` in most-recent-first order."""
    raw = f"{stream.updated_at.isoformat()}|{stream.aggregate_uuid}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_stream_cursor(cursor: str) -> tuple[datetime, UUID]:
    """Return the (updated_at, uuid) a cursor points after; ValueError when it is not one of ours."""
    try:
        updated_at, uuid = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(updated_at), UUID(uuid)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"Invalid stream cursor {cursor!r}.") from exc
