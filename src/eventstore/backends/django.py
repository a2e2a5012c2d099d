"""The Django backend: events in the project's database (SQLite, PostgreSQL).

One append is one transaction: the stream head moves from the expected version to the new one
(the optimistic lock), then the events are inserted. The (aggregate_uuid, version) unique
constraint is the last line of defence should anything else let two writers through.

Global positions come from the events table's auto-increment key. A PostgreSQL sequence hands
out numbers before commit, so two concurrent appends can commit out of position order and a
reader would skip the late one. Appends therefore take one transaction-scoped advisory lock,
making position order equal commit order. SQLite needs nothing: it has one writer at a time.

The hot paths (append, stream and store reads, snapshots) run hand-written SQL (see sql.py)
through Django's connection: one statement per append on PostgreSQL (lock, head move and insert
together), no model instances, JSON encoded and decoded once. The rest uses the ORM.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connections,
    transaction,
)
from django.db.models import Q
from django.utils import timezone

from ..exceptions import BackendUnavailable, ConcurrencyError, DuplicateEventError, EventStoreError
from ..models import Stream
from .base import (
    EventStoreBackend,
    NewEvent,
    SnapshotRecord,
    StoredEvent,
    StreamInfo,
    StreamPage,
    decode_stream_cursor,
    encode_stream_cursor,
    in_own_transaction,
)
from .sql import Dialect, dialect_for

STREAM_FIELDS = ("aggregate_uuid", "aggregate_type", "version", "created_at", "updated_at", "closed")


class DjangoBackend(EventStoreBackend):
    """Event streams in Django models; options: DATABASE (the connection alias)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.alias: str = options.get("DATABASE", DEFAULT_DB_ALIAS)

    @property
    def commits_with_django_database(self) -> bool:  # type: ignore[override]
        return self.alias == DEFAULT_DB_ALIAS

    @property
    def events_in_django_models(self) -> bool:  # type: ignore[override]
        return self.alias == DEFAULT_DB_ALIAS

    @property
    def dialect(self) -> Dialect:
        return dialect_for(connections[self.alias])

    def _cursor(self) -> Any:
        return connections[self.alias].cursor()

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
        dialect = self.dialect
        now = timezone.now()
        # Encode before the transaction: a payload that is not JSON fails here, having written nothing.
        rows = dialect.event_rows(aggregate_uuid, aggregate_type, expected_version, events, now)
        # Inside the store's own fresh block (see store.append) a savepoint would only add round trips:
        # rolling that block back undoes exactly this append.
        savepoint = not (self.alias == DEFAULT_DB_ALIAS and in_own_transaction())
        try:
            with transaction.atomic(using=self.alias, savepoint=savepoint), connections[self.alias].cursor() as cursor:
                positions = dialect.append(
                    cursor, aggregate_uuid, aggregate_type, expected_version, rows, now, closes_stream
                )
                if positions is None:
                    raise ConcurrencyError(aggregate_uuid, expected_version, self.get_version(aggregate_uuid))
                if len(positions) < len(events):
                    raise self._explain_skipped(cursor, aggregate_uuid, expected_version, events, positions)
        except IntegrityError as exc:
            raise self._explain_integrity_error(aggregate_uuid, expected_version, events) from exc
        except (OperationalError, InterfaceError) as exc:
            raise BackendUnavailable(f"Appending to stream {aggregate_uuid} failed: {exc}") from exc
        return [
            StoredEvent(
                positions[version],
                event.event_uuid,
                aggregate_uuid,
                aggregate_type,
                version,
                event.name,
                event.schema_version,
                event.data,
                event.metadata,
                event.recorded_at or now,
            )
            for version, event in enumerate(events, start=expected_version + 1)
        ]

    def _explain_skipped(
        self,
        cursor: Any,
        aggregate_uuid: UUID,
        expected_version: int,
        events: Sequence[NewEvent],
        positions: dict[int, int],
    ) -> EventStoreError:
        """Name what kept some events out (the caller's transaction then rolls the rest back)."""
        skipped = [
            event for version, event in enumerate(events, start=expected_version + 1) if version not in positions
        ]
        stored = self.dialect.stored_event_uuids(cursor, [event.event_uuid for event in skipped])
        if stored:
            return DuplicateEventError(aggregate_uuid, stored)
        return EventStoreError(
            f"Appending to stream {aggregate_uuid}: version {expected_version + 1 + events.index(skipped[0])} "
            f"({skipped[0].name}, event {skipped[0].event_uuid}) is already stored although the stream's head "
            f"was at {expected_version}."
        )

    def _explain_integrity_error(
        self, aggregate_uuid: UUID, expected_version: int, events: Sequence[NewEvent]
    ) -> EventStoreError:
        if connections[self.alias].needs_rollback:
            # The enclosing block is broken until it rolls back: no query can explain more.
            return EventStoreError(
                f"Appending to stream {aggregate_uuid} at version {expected_version} violated a constraint."
            )
        with connections[self.alias].cursor() as cursor:
            stored = self.dialect.stored_event_uuids(cursor, [event.event_uuid for event in events])
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
        next_version = from_version
        last_version = to_version if to_version is not None else 2**31 - 1
        while next_version <= last_version:
            dialect = self.dialect
            with database_errors(f"Reading stream {aggregate_uuid}"), self._cursor() as cursor:
                events = dialect.read_stream(cursor, aggregate_uuid, next_version, last_version, batch_size)
            yield from events
            if len(events) < batch_size:
                return
            next_version = events[-1].version + 1

    def read_all(self, after_position: int = 0, *, batch_size: int = 1000) -> Iterator[StoredEvent]:
        while True:
            dialect = self.dialect
            with database_errors(f"Reading the store after position {after_position}"), self._cursor() as cursor:
                events = dialect.read_all(cursor, after_position, batch_size)
            yield from events
            if len(events) < batch_size:
                return
            after_position = events[-1].position

    def last_position(self) -> int:
        dialect = self.dialect
        with database_errors("Reading the store's last position"), self._cursor() as cursor:
            return dialect.last_position(cursor)

    # Streams

    def get_stream(self, aggregate_uuid: UUID) -> StreamInfo | None:
        with database_errors(f"Reading stream {aggregate_uuid}'s head"):
            row = Stream.objects.using(self.alias).filter(aggregate_uuid=aggregate_uuid).values_list(*STREAM_FIELDS)
            first = row.first()
        return StreamInfo(*first) if first else None

    def get_version(self, aggregate_uuid: UUID) -> int:
        dialect = self.dialect
        with database_errors(f"Reading stream {aggregate_uuid}'s version"), self._cursor() as cursor:
            return dialect.get_version(cursor, aggregate_uuid)

    def list_streams(
        self, *, aggregate_type: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> StreamPage:
        query = Stream.objects.using(self.alias).order_by("-updated_at", "-aggregate_uuid")
        if aggregate_type:
            query = query.filter(aggregate_type=aggregate_type)
        if cursor:
            updated_at, uuid = decode_stream_cursor(cursor)
            query = query.filter(Q(updated_at__lt=updated_at) | Q(updated_at=updated_at, aggregate_uuid__lt=uuid))
        with database_errors("Listing streams"):
            rows = list(query.values_list(*STREAM_FIELDS)[: limit + 1])
        streams = [StreamInfo(*row) for row in rows[:limit]]
        next_cursor = encode_stream_cursor(streams[-1]) if len(rows) > limit else None
        return StreamPage(streams, next_cursor)

    def count_streams(self, *, aggregate_type: str | None = None) -> int:
        query = Stream.objects.using(self.alias).all()
        if aggregate_type:
            query = query.filter(aggregate_type=aggregate_type)
        with database_errors("Counting streams"):
            return query.count()

    def aggregate_types(self) -> list[str]:
        with database_errors("Listing aggregate types"):
            return list(
                Stream.objects.using(self.alias)
                .order_by("aggregate_type")
                .values_list("aggregate_type", flat=True)
                .distinct()
            )

    # Snapshots

    def save_snapshot(self, snapshot: SnapshotRecord) -> None:
        dialect = self.dialect
        doing = f"Saving a snapshot of stream {snapshot.aggregate_uuid} at version {snapshot.version}"
        # Its own savepoint when the caller holds a transaction: a failed snapshot must not break the caller's.
        with database_errors(doing), transaction.atomic(using=self.alias), self._cursor() as cursor:
            dialect.save_snapshot(cursor, snapshot, snapshot.created_at or timezone.now())

    def get_snapshot(self, aggregate_uuid: UUID, *, max_version: int | None = None) -> SnapshotRecord | None:
        dialect = self.dialect
        with database_errors(f"Reading stream {aggregate_uuid}'s snapshot"), self._cursor() as cursor:
            return dialect.get_snapshot(cursor, aggregate_uuid, max_version)

    def list_snapshots(self, aggregate_uuid: UUID, *, limit: int | None = None) -> list[SnapshotRecord]:
        dialect = self.dialect
        with database_errors(f"Listing stream {aggregate_uuid}'s snapshots"), self._cursor() as cursor:
            return dialect.list_snapshots(cursor, aggregate_uuid, limit)


@contextmanager
def database_errors(doing: str) -> Iterator[None]:
    """Turn the database driver's errors into the event store's: callers never catch a driver's exception."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise BackendUnavailable(f"{doing}: the database did not answer: {exc}") from exc
    except DatabaseError as exc:
        raise EventStoreError(f"{doing}: the database refused the request: {exc}") from exc
