"""Projections: read models kept from the event log, each with a checkpoint (a global position).

A projection declares the event names it handles and how to apply a batch of them. It runs:

- inline, inside the append's transaction (the `events_appended` signal), so that a read model in
  the Django database commits or rolls back with the events and is never behind;
- catching up, reading the store in global order from its checkpoint in batches (after a failure,
  for a projection added to a store that already holds events, or when replaying from scratch).

Inline runs only touch a *live* projection. Replaying sets it aside (status "replaying") until it has
caught up; then, holding the checkpoint row, it reads the last events and goes live again. A handler
that raises stops its projection at that event: the checkpoint stays before it, the status becomes
"stopped" and the error names the stream, version and event, until a catch-up run gets past it.
Catching up and replaying live in `eventstore.catchup`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, DatabaseError, models, transaction
from django.utils import timezone

from . import store
from .backends.base import StoredEvent
from .models import Checkpoint
from .signals import events_appended
from .store import first_line

logger = logging.getLogger(__name__)

Row = dict[str, Any]


class ProjectionFailed(Exception):
    """A projection's handler raised on an event; the events before it were applied."""

    def __init__(self, projection: str, event: StoredEvent, cause: BaseException) -> None:
        self.projection = projection
        self.event = event
        self.cause = cause
        # The cause's first line only: database errors list the offending row's values (payload) after it.
        super().__init__(
            f"Projection {projection} failed at position {event.position}: stream {event.aggregate_uuid} "
            f"version {event.version} event {event.name}: {type(cause).__name__}: {first_line(cause)}"
        )


class UnknownProjection(LookupError):
    """No projection is registered under that name."""


class Projection:
    """Base class of projections: subclasses set `name` and `handles` and implement the hooks."""

    #: Stable name, also the checkpoint's key.
    name: ClassVar[str] = ""
    #: Names of the events this projection handles; others only move its checkpoint on.
    handles: ClassVar[frozenset[str]] = frozenset()

    def handle(self, event: StoredEvent) -> None:
        """Apply one event to the read model."""
        raise NotImplementedError

    def handle_batch(self, events: list[StoredEvent]) -> None:
        """Apply events in order; on a failing event keep the ones before it and raise ProjectionFailed."""
        for event in events:
            try:
                # A savepoint per event, so that a half-applied failing event leaves nothing behind.
                with transaction.atomic(using=DEFAULT_DB_ALIAS):
                    self.handle(event)
            except Exception as exc:
                raise ProjectionFailed(self.name, event, exc) from exc

    def handle_all_or_nothing(self, events: list[StoredEvent]) -> None:
        """Apply events, or on a failing event raise ProjectionFailed leaving the read model untouched.

        Inline runs use this inside the append's transaction; by default a savepoint undoes the
        events applied before the failing one.
        """
        with transaction.atomic(using=DEFAULT_DB_ALIAS):
            self.handle_batch(events)

    def clear(self) -> None:
        """Empty the read model (before a replay)."""
        raise NotImplementedError

    def export(self) -> dict[str, Row]:
        """Return the read model as comparable rows keyed by a string."""
        raise NotImplementedError

    def rebuild_aside(self, events: Iterable[StoredEvent]) -> dict[str, Row]:
        """Return the rows a replay of `events` would produce, without touching the read model."""
        raise NotImplementedError(f"Projection {self.name} cannot rebuild aside (no dry run).")

    #: True when a replay can fold the log aside (fold_aside) and swap the result in (replace_all): the
    #: old read model then serves, complete, until the new one is. Otherwise a replay resets and catches up.
    swaps_on_replay: ClassVar[bool] = False

    def fold_aside(self, rows: dict[Any, Row | None], events: Iterable[StoredEvent]) -> None:
        """Fold `events` into `rows` (the read model being rebuilt in memory); raise ProjectionFailed."""
        raise NotImplementedError

    def replace_all(self, rows: dict[Any, Row | None], last: StoredEvent | None) -> None:
        """Make `rows` the whole read model, in the caller's transaction; raise ProjectionFailed."""
        raise NotImplementedError


class ModelProjection(Projection):
    """A projection into one Django model, written as a pure fold over one row per key.

    Subclasses set `model` and implement `key` (the primary key an event changes) and `fold` (the
    row after the event, None to delete it). Batches are folded in memory and written in one upsert,
    and a dry run folds the whole log in memory.
    """

    model: ClassVar[type[models.Model]]

    def key(self, event: StoredEvent) -> Any:
        """Return the primary key of the row that `event` changes."""
        raise NotImplementedError

    def fold(self, row: Row | None, event: StoredEvent) -> Row | None:
        """Return the row after applying `event` to it (None when it does not exist or goes away)."""
        raise NotImplementedError

    @property
    def _pk(self) -> str:
        return self.model._meta.pk.attname  # type: ignore[union-attr]

    def _fold_all(self, rows: dict[Any, Row | None], events: Iterable[StoredEvent]) -> None:
        """Fold events into `rows` in place; on a failing event raise, `rows` holding the ones before it."""
        for event in events:
            try:
                key = self.key(event)
                rows[key] = self.fold(rows.get(key), event)
            except Exception as exc:
                raise ProjectionFailed(self.name, event, exc) from exc

    def handle(self, event: StoredEvent) -> None:
        self.handle_batch([event])

    def handle_batch(self, events: list[StoredEvent]) -> None:
        self._handle(events, keep_partial=True)

    def handle_all_or_nothing(self, events: list[StoredEvent]) -> None:
        # The fold runs in memory before anything is written, so a failing event writes nothing; _handle's
        # savepoint is there for database errors only.
        self._handle(events, keep_partial=False)

    def _handle(self, events: list[StoredEvent], *, keep_partial: bool) -> None:
        if not events:
            return
        manager = self.model._default_manager
        keys = set()
        for event in events:
            try:
                keys.add(self.key(event))
            except Exception as exc:
                raise ProjectionFailed(self.name, event, exc) from exc
        try:
            # A savepoint: a database error (a read model's constraint, say) undoes this batch's rows and
            # leaves the caller's transaction usable, so it can record the failure and, inline, keep the append.
            with transaction.atomic(using=DEFAULT_DB_ALIAS):
                existing: dict[Any, Row | None] = {
                    row[self._pk]: row for row in manager.filter(pk__in=keys).values(*self._field_names())
                }
                rows = dict(existing)
                failure: ProjectionFailed | None = None
                try:
                    self._fold_all(rows, events)
                except ProjectionFailed as exc:
                    if not keep_partial:
                        raise
                    failure = exc
                self._write({key: row for key, row in rows.items() if row != existing.get(key)}, existing)
        except DatabaseError as exc:
            # Nothing of the batch was written: the failure is its first event, so a checkpoint goes before it.
            raise ProjectionFailed(self.name, events[0], exc) from exc
        if failure is not None:
            raise failure

    def _field_names(self) -> list[str]:
        return [field.attname for field in self.model._meta.concrete_fields]

    def _write(self, changed: dict[Any, Row | None], existing: dict[Any, Row | None]) -> None:
        manager = self.model._default_manager
        gone = [key for key, row in changed.items() if row is None and key in existing]
        if gone:
            manager.filter(pk__in=gone).delete()
        kept = [self.model(**row) for row in changed.values() if row is not None]
        if kept:
            manager.bulk_create(
                kept,
                update_conflicts=True,
                unique_fields=[self._pk],
                update_fields=[name for name in self._field_names() if name != self._pk],
            )

    def clear(self) -> None:
        self.model._default_manager.all().delete()

    def export(self) -> dict[str, Row]:
        return {
            str(row[self._pk]): comparable(row)
            for row in self.model._default_manager.order_by().values(*self._field_names())
        }

    def rebuild_aside(self, events: Iterable[StoredEvent]) -> dict[str, Row]:
        rows: dict[Any, Row | None] = {}
        self.fold_aside(rows, events)
        return {str(key): comparable(row) for key, row in rows.items() if row is not None}

    swaps_on_replay = True

    def fold_aside(self, rows: dict[Any, Row | None], events: Iterable[StoredEvent]) -> None:
        self._fold_all(rows, (event for event in events if event.name in self.handles))

    def replace_all(self, rows: dict[Any, Row | None], last: StoredEvent | None) -> None:
        manager = self.model._default_manager
        try:
            with transaction.atomic(using=DEFAULT_DB_ALIAS):  # a savepoint: a failed swap leaves the old rows
                manager.all().delete()
                manager.bulk_create([self.model(**row) for row in rows.values() if row is not None], batch_size=500)
        except DatabaseError as exc:
            if last is None:
                raise
            raise ProjectionFailed(self.name, last, exc) from exc


def comparable(row: Row) -> Row:
    """Return the row with values as their JSON text would read them (times, uuids as strings)."""
    return {
        name: value.isoformat() if isinstance(value, datetime) else str(value) if isinstance(value, UUID) else value
        for name, value in row.items()
    }


# The registry


class ProjectionRegistry:
    """The projections of the project, by name, and which of them run inline."""

    def __init__(self) -> None:
        self._projections: dict[str, Projection] = {}
        self._inline: set[str] = set()

    def register(self, projection: Projection, *, inline: bool = True) -> Projection:
        """Register a projection; an inline one is then applied inside every append's transaction."""
        if not projection.name:
            raise ValueError(f"{type(projection).__name__} needs a name.")
        self._projections[projection.name] = projection
        if inline:
            self._inline.add(projection.name)
            events_appended.connect(run_inline, dispatch_uid="eventstore.projections.run_inline")
        else:
            self._inline.discard(projection.name)
        return projection

    def unregister(self, name: str) -> None:
        self._projections.pop(name, None)
        self._inline.discard(name)

    def get(self, name: str) -> Projection:
        try:
            return self._projections[name]
        except KeyError:
            known = ", ".join(sorted(self._projections)) or "none"
            raise UnknownProjection(f"Unknown projection {name!r}; registered: {known}.") from None

    def names(self) -> list[str]:
        return sorted(self._projections)

    def inline(self) -> list[Projection]:
        return [self._projections[name] for name in sorted(self._inline)]


registry = ProjectionRegistry()


# Checkpoints


def get_checkpoint(name: str) -> Checkpoint | None:
    """Return the projection's checkpoint, or None when it has never run."""
    return Checkpoint.objects.filter(name=name).first()


def locked_checkpoint(name: str) -> Checkpoint | None:
    """Return the projection's checkpoint, locking its row until the transaction ends."""
    return Checkpoint.objects.select_for_update().filter(name=name).first()


# Inline


def run_inline(sender: object, events: list[StoredEvent], **kwargs: Any) -> None:
    """Apply freshly appended events to every live inline projection, in the append's transaction.

    A projection that fails is rolled back to before these events and stopped; the append itself
    goes through (a read model's bug must not refuse the user's write). Catching up resumes it.
    """
    for projection in registry.inline():
        # The checkpoint's row lock orders inline runs of appends that no database lock orders (DynamoDB).
        # Values, not an instance: this runs on every append.
        checkpoint = Checkpoint.objects.filter(name=projection.name)
        found = checkpoint.select_for_update().values_list("position", "status").first()
        if found is None:
            created = _first_checkpoint(projection, events)
            found = (created.position, created.status)
        position, status = found
        if status != Checkpoint.LIVE:
            continue
        # Every event is handled, even one below the checkpoint: a backend outside this database
        # (DynamoDB) may run the inline receivers of two appends in the other order than their positions.
        try:
            projection.handle_all_or_nothing([event for event in events if event.name in projection.handles])
        except ProjectionFailed as failure:
            logger.error("%s; the projection is stopped until it catches up.", failure)
            checkpoint.update(status=Checkpoint.STOPPED, error=str(failure), updated_at=timezone.now())
        else:
            checkpoint.update(position=max(position, events[-1].position), updated_at=timezone.now())


def _first_checkpoint(projection: Projection, events: list[StoredEvent]) -> Checkpoint:
    """Create the checkpoint of a projection seeing its first events: live only if the store held nothing before."""
    first_stored = next(iter(store.get_backend().read_all(0, batch_size=1)), None)
    store_was_empty = first_stored is None or first_stored.position >= events[0].position
    return Checkpoint.objects.create(
        name=projection.name,
        position=0,
        status=Checkpoint.LIVE if store_was_empty else Checkpoint.STOPPED,
        error="" if store_was_empty else "Registered after events were stored: replay it to fill it.",
    )
