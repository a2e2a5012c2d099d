"""Store-wide maintenance behind the commands: walking streams, taking snapshots, verifying the store.

Works through the backend interface and the registered repositories only, so it serves any backend
and any aggregate type; each stream is rebuilt by its type's registered repository (its events,
snapshot policy and backend).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from uuid import UUID

from .backends.base import EventStoreBackend, StreamInfo
from .events import registry as default_events
from .exceptions import EventStoreError
from .registry import RepositoryRegistry, repositories
from .snapshots import is_usable


def iter_streams(backend: EventStoreBackend, *, aggregate_type: str | None = None) -> Iterator[StreamInfo]:
    """Yield every stream head (of one type, if given), page by page."""
    cursor: str | None = None
    while True:
        page = backend.list_streams(aggregate_type=aggregate_type, limit=500, cursor=cursor)
        yield from page.streams
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


# Snapshots


@dataclass
class SnapshotOutcome:
    """What happened to one stream: snapshotted at a version, or skipped with the reason."""

    aggregate_uuid: UUID
    version: int | None
    skipped: str = ""


def events_since_snapshot(backend: EventStoreBackend, stream: StreamInfo) -> int:
    """Return how many events the stream has after its latest snapshot."""
    snapshot = backend.get_snapshot(stream.aggregate_uuid)
    return stream.version - (snapshot.version if snapshot else 0)


def snapshot_stream(
    backend: EventStoreBackend,
    stream: StreamInfo,
    registry: RepositoryRegistry = repositories,
    *,
    min_events: int = 1,
    dry_run: bool = False,
) -> SnapshotOutcome:
    """Snapshot one stream's state, unless closed, unregistered, up to date or fewer than `min_events` behind."""
    repository = registry.repository_for(stream.aggregate_type)
    if repository is None:
        return SnapshotOutcome(stream.aggregate_uuid, None, "of an unregistered type")
    if stream.closed:
        return SnapshotOutcome(stream.aggregate_uuid, None, "closed")
    behind = events_since_snapshot(backend, stream)
    if behind == 0:
        return SnapshotOutcome(stream.aggregate_uuid, None, "up to date")
    if behind < min_events:
        return SnapshotOutcome(stream.aggregate_uuid, None, "below --min-events")
    if dry_run:
        return SnapshotOutcome(stream.aggregate_uuid, stream.version)
    # Saving a snapshot never writes events, so this is safe while others append: the snapshot is
    # the state at the version it names, whatever has been appended since.
    version = repository.take_snapshot(stream.aggregate_uuid)
    if version is None:
        return SnapshotOutcome(stream.aggregate_uuid, None, "closed")
    return SnapshotOutcome(stream.aggregate_uuid, version)


# Verification


@dataclass
class StreamReport:
    """The faults found in one stream (empty when it is sound) and what could not be checked."""

    stream: StreamInfo
    events: int = 0
    snapshots: int = 0
    faults: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def verify_stream(
    backend: EventStoreBackend,
    stream: StreamInfo,
    registry: RepositoryRegistry = repositories,
) -> StreamReport:
    """Check one stream: versions contiguous from 1 up to its head, every event decodes, every snapshot is right."""
    report = StreamReport(stream)
    label = f"stream {stream.aggregate_uuid} ({stream.aggregate_type})"
    repository = registry.repository_for(stream.aggregate_type)
    cls = repository.aggregate_class if repository is not None else None
    events = repository.events if repository is not None else default_events
    snapshots = {snapshot.version: snapshot for snapshot in backend.list_snapshots(stream.aggregate_uuid)}
    report.snapshots = len(snapshots)
    aggregate = cls(stream.aggregate_uuid) if cls is not None else None
    if cls is None:
        report.notes.append(f"{label}: no repository is registered for this type; snapshots not compared")
    expected = 1
    for stored in backend.read_stream(stream.aggregate_uuid):
        report.events += 1
        where = f"{label} version {stored.version} {stored.name}"
        if stored.version != expected:
            report.faults.append(f"{label}: version {stored.version} ({stored.name}) follows version {expected - 1}")
            aggregate = None  # the state can no longer be trusted
            expected = stored.version
        expected += 1
        try:
            event = events.decode(
                stored.name, stored.schema_version, stored.data, stored.aggregate_uuid, stored.version
            )
        except EventStoreError as exc:
            report.faults.append(f"{where}: {exc}")
            aggregate = None
            continue
        if aggregate is None:
            continue
        try:
            aggregate.apply(event)
        except Exception as exc:
            report.faults.append(f"{where}: cannot be applied: {type(exc).__name__}: {exc}")
            aggregate = None
            continue
        snapshot = snapshots.get(stored.version)
        if snapshot is not None and cls is not None:
            if not is_usable(snapshot, cls):
                report.notes.append(
                    f"{label}: snapshot at version {snapshot.version} has state schema {snapshot.schema_version}, "
                    f"not {cls.state_schema_version}; it is ignored when loading"
                )
            elif snapshot.state != aggregate.get_state():
                report.faults.append(
                    f"{label}: snapshot at version {snapshot.version} differs from the state rebuilt from events"
                )
    if expected - 1 != stream.version:
        report.faults.append(f"{label}: the head says version {stream.version} but the events end at {expected - 1}")
    orphans = [version for version in snapshots if version > expected - 1]
    for version in sorted(orphans):
        report.faults.append(f"{label}: snapshot at version {version} is past the last event")
    if stream.closed and aggregate is not None and not aggregate.closed:
        report.faults.append(f"{label}: the head says closed but no tombstone event closes it")
    return report


ProgressCallback = Callable[[int, int, StreamReport], None]


def verify_store(
    backend: EventStoreBackend,
    *,
    aggregate_type: str | None = None,
    on_stream: ProgressCallback | None = None,
    registry: RepositoryRegistry = repositories,
) -> list[StreamReport]:
    """Verify every stream (of one type, if given); return one report per stream."""
    total = backend.count_streams(aggregate_type=aggregate_type)
    reports = []
    for done, stream in enumerate(iter_streams(backend, aggregate_type=aggregate_type), start=1):
        report = verify_stream(backend, stream, registry)
        reports.append(report)
        if on_stream is not None:
            on_stream(done, total, report)
    return reports
