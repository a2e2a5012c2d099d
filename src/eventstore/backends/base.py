"""The backend interface: what every storage engine of the event store provides.

The repository, projections, admin and commands talk to this interface only. A backend stores
opaque payloads: it knows event names and versions, never domain classes.
"""

from __future__ import annotations

import abc
import base64
import binascii
import contextvars
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

# True while the store runs an append as the first work of a block it has just opened.
_own_transaction: contextvars.ContextVar[bool] = contextvars.ContextVar("eventstore_own_transaction", default=False)


@contextmanager
def own_transaction() -> Iterator[None]:
    """Tell backends that the append inside runs first in a transaction block opened just for it."""
    token = _own_transaction.set(True)
    try:
        yield
    finally:
        _own_transaction.reset(token)


def in_own_transaction() -> bool:
    """Return whether the append runs in a block of its own, opened just before.

    A backend in the default database may then skip a savepoint of its own: should the append
    fail, that block rolls back (to its savepoint, when nested in the caller's transaction) and
    so undoes exactly the append.
    """
    return _own_transaction.get()


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event about to be appended."""

    name: str
    data: dict[str, Any]
    schema_version: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)
    event_uuid: UUID = field(default_factory=uuid4)
    #: Set only when copying a store: the time the event was first recorded (else: now).
    recorded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as recorded: its place in its stream and in the whole store."""

    position: int
    event_uuid: UUID
    aggregate_uuid: UUID
    aggregate_type: str
    version: int
    name: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """The saved state of an aggregate at a version."""

    aggregate_uuid: UUID
    aggregate_type: str
    version: int
    state: dict[str, Any]
    schema_version: int
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """One stream's head: what it is, how far it has got and whether it was closed."""

    aggregate_uuid: UUID
    aggregate_type: str
    version: int
    created_at: datetime
    updated_at: datetime
    closed: bool = False


@dataclass(frozen=True, slots=True)
class StreamPage:
    """A page of streams, newest change first, and the cursor of the next page (None at the end)."""

    streams: list[StreamInfo]
    next_cursor: str | None


class EventStoreBackend(abc.ABC):
    """Storage for event streams. Every method is safe to call from several threads."""

    #: Largest number of events one append may carry; None when the backend sets no limit.
    max_events_per_append: int | None = None
    #: True when an append commits in the Django database's transaction, so rows the caller writes in
    #: the same `transaction.atomic()` block commit or roll back together with the events.
    commits_with_django_database: bool = False
    #: True when the events are rows of the EventRecord model in the default database, so the admin's
    #: event list can show them.
    events_in_django_models: bool = False
    #: True when `append` gives the events their global positions as it stores them. False when they get
    #: them later (DynamoDB's indexer): `append` and `read_stream` then return position 0 (not known yet),
    #: read_all shows an event only once it has its position, and read models follow asynchronously.
    positions_on_append: bool = True

    def __init__(self, **options: Any) -> None:
        self.options = options

    @abc.abstractmethod
    def append(
        self,
        aggregate_uuid: UUID,
        aggregate_type: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        closes_stream: bool = False,
    ) -> list[StoredEvent]:
        """Append events as versions expected_version+1.. all or nothing.

        Raise ConcurrencyError, writing nothing, when the stream is not at expected_version.
        `closes_stream` marks the stream closed in its head (its last event is a tombstone).
        The events returned carry their positions when `positions_on_append`, else position 0.
        """

    @abc.abstractmethod
    def read_stream(
        self,
        aggregate_uuid: UUID,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        batch_size: int = 1000,
    ) -> Iterator[StoredEvent]:
        """Yield a stream's events in version order, fetching `batch_size` at a time."""

    @abc.abstractmethod
    def read_all(self, after_position: int = 0, *, batch_size: int = 1000) -> Iterator[StoredEvent]:
        """Yield every event with a position above `after_position`, in position order.

        A reader must never skip an event that commits while it reads: positions become visible
        in order. Without `positions_on_append`, an appended event appears here only once indexed.
        """

    @abc.abstractmethod
    def last_position(self) -> int:
        """Return the highest position in the store (0 when empty)."""

    @abc.abstractmethod
    def get_stream(self, aggregate_uuid: UUID) -> StreamInfo | None:
        """Return the stream's head, or None when it has no events."""

    def get_version(self, aggregate_uuid: UUID) -> int:
        """Return the stream's current version (0 when it has no events)."""
        info = self.get_stream(aggregate_uuid)
        return info.version if info else 0

    def exists(self, aggregate_uuid: UUID) -> bool:
        """Return whether the stream has any event."""
        return self.get_stream(aggregate_uuid) is not None

    @abc.abstractmethod
    def list_streams(
        self, *, aggregate_type: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> StreamPage:
        """Return a page of stream heads, most recently changed first."""

    @abc.abstractmethod
    def count_streams(self, *, aggregate_type: str | None = None) -> int:
        """Return how many streams there are (of one type, if given); without `positions_on_append`, once indexed."""

    @abc.abstractmethod
    def aggregate_types(self) -> list[str]:
        """Return the aggregate types that have streams, sorted."""

    @abc.abstractmethod
    def save_snapshot(self, snapshot: SnapshotRecord) -> None:
        """Store a snapshot; saving the same (aggregate, version) again replaces it."""

    @abc.abstractmethod
    def get_snapshot(self, aggregate_uuid: UUID, *, max_version: int | None = None) -> SnapshotRecord | None:
        """Return the latest snapshot at or below `max_version` (any version when None)."""

    @abc.abstractmethod
    def list_snapshots(self, aggregate_uuid: UUID, *, limit: int | None = None) -> list[SnapshotRecord]:
        """Return the stream's snapshots, newest first (the `limit` newest when given)."""

    def close(self) -> None:  # noqa: B027 - an optional hook, not an abstract method
        """Release connections the backend holds (nothing by default)."""


# Cursors of list_streams pages, shared by the backends so that a cursor means the same everywhere.


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
