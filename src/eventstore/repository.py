"""Repositories: load aggregates from their events (and snapshots), save their new events."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from . import conf, store
from .aggregates import Aggregate
from .backends.base import EventStoreBackend, NewEvent, StoredEvent
from .context import current_context, event_uuid_for
from .events import EventRegistry, registry
from .exceptions import AggregateClosed, AggregateNotFound, ConcurrencyError, EventStoreError, VersionNotFound
from .snapshots import EveryNEvents, is_usable, restore, snapshot_of
from .store import first_line

A = TypeVar("A", bound=Aggregate)
logger = logging.getLogger(__name__)

#: update()'s wait after its first lost race, and the most it ever waits (seconds).
BACKOFF_BASE = 0.005
BACKOFF_CAP = 0.2


def backoff(attempt: int) -> float:
    """Return a wait after `attempt` lost races: "full jitter", uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))


class Repository(Generic[A]):
    """Fetch and store one class of aggregate.

    `snapshot_every=N` saves a snapshot each time a save crosses a multiple of N versions (default:
    EVENTSTORE["SNAPSHOT_EVERY"], None for no automatic snapshots); loading always starts from the
    latest usable snapshot, whoever took it. The aggregate must then implement get_state/set_state.
    `backend` pins the repository to one store instead of the configured default.
    """

    def __init__(
        self,
        aggregate_class: type[A],
        *,
        snapshot_every: int | None = None,
        backend: EventStoreBackend | None = None,
        events: EventRegistry = registry,
    ) -> None:
        self.aggregate_class = aggregate_class
        self._snapshot_policy = EveryNEvents(snapshot_every) if snapshot_every else None
        self._backend = backend
        self.events = events

    @property
    def backend(self) -> EventStoreBackend:
        return self._backend or store.get_backend()

    @property
    def snapshot_policy(self) -> EveryNEvents | None:
        """Return when saves take snapshots: the repository's own interval, else the project's setting."""
        if self._snapshot_policy is not None:
            return self._snapshot_policy
        every = conf.get("SNAPSHOT_EVERY")
        return EveryNEvents(every) if every else None

    def create_new(self, uuid: UUID | None = None) -> A:
        """Return a new, empty aggregate (version 0) in memory; nothing is stored until it is saved.

        Saving it expects version 0, so it fails with ConcurrencyError if the uuid is taken by then.
        """
        return self.aggregate_class(uuid)

    # Reading

    def load(self, uuid: UUID, version: int | None = None, *, as_of: datetime | None = None) -> A:
        """Return the aggregate, or its state as of `version` or the time `as_of` (time travel).

        Raise AggregateNotFound when it has no events (none yet, for `as_of`), VersionNotFound
        when the stream has not reached `version`, and AggregateClosed when loading the latest
        state of a closed aggregate; past states of closed aggregates load normally.
        """
        if version is not None and version < 1:
            raise ValueError(f"Versions start at 1; {version} was asked for.")
        aggregate = self._rehydrate(uuid, version, as_of)
        if aggregate is None:
            raise AggregateNotFound(uuid, self.aggregate_class.aggregate_type)
        if version is None and as_of is None and aggregate.closed:
            raise AggregateClosed(uuid, aggregate.version, aggregate)
        return aggregate

    def get_or_raise(self, uuid: UUID) -> A:
        """Return the aggregate's latest state; raise AggregateNotFound or AggregateClosed (load(uuid))."""
        return self.load(uuid)

    def fetch(self, uuid: UUID) -> A | None:
        """Return the aggregate, or None when it has no events or is closed."""
        aggregate = self._rehydrate(uuid, None, None)
        if aggregate is None or aggregate.closed:
            return None
        return aggregate

    def load_or_create(self, uuid: UUID) -> A:
        """Return the stored aggregate, or a new empty one with this uuid (saved by the caller)."""
        aggregate = self._rehydrate(uuid, None, None)
        if aggregate is None:
            return self.aggregate_class(uuid)
        if aggregate.closed:
            raise AggregateClosed(uuid, aggregate.version, aggregate)
        return aggregate

    def exists(self, uuid: UUID) -> bool:
        """Return whether the aggregate has any event."""
        return self.backend.exists(uuid)

    def get_version(self, uuid: UUID) -> int:
        """Return the aggregate's stored version (0 when it has no events)."""
        return self.backend.get_version(uuid)

    def _rehydrate(self, uuid: UUID, version: int | None, as_of: datetime | None) -> A | None:
        backend = self.backend
        aggregate: A | None = None
        # A snapshot's time is not its events' time, so time travel by date replays from the start.
        if as_of is None:
            snapshot = backend.get_snapshot(uuid, max_version=version)
            if snapshot is not None and is_usable(snapshot, self.aggregate_class):
                aggregate = restore(snapshot, self.aggregate_class)
        if aggregate is None:
            aggregate = self.aggregate_class(uuid)
        for stored in backend.read_stream(uuid, from_version=aggregate.version + 1, to_version=version):
            if as_of is not None and stored.recorded_at > as_of:
                break
            self._apply(aggregate, stored)
        if aggregate.version == 0:
            return None
        if version is not None and aggregate.version < version:
            raise VersionNotFound(uuid, version, aggregate.version)
        return aggregate

    def _apply(self, aggregate: A, stored: StoredEvent) -> None:
        if stored.aggregate_type != aggregate.aggregate_type:
            raise AggregateNotFound(aggregate.uuid, aggregate.aggregate_type)
        if stored.version != aggregate.version + 1:
            raise EventStoreError(
                f"Stream {aggregate.uuid} is broken: version {stored.version} ({stored.name}) "
                f"follows version {aggregate.version}."
            )
        aggregate.apply(
            self.events.decode(stored.name, stored.schema_version, stored.data, stored.aggregate_uuid, stored.version)
        )

    # Writing

    def save(self, aggregate: A) -> A:
        """Append the aggregate's pending changes, expecting the version it was loaded at; return it.

        Raise ConcurrencyError, writing nothing, when someone else saved in between. Inside
        `deterministic_event_ids(seed)` the events' ids derive from the seed, so saving the same
        operation again raises DuplicateEventError instead of storing it twice.
        """
        if not aggregate.changes:
            return aggregate
        expected_version = aggregate.persisted_version
        metadata = current_context().as_metadata()
        new_events = [
            NewEvent(
                name=event.event_name,
                data=event.to_payload(),
                schema_version=event.schema_version,
                metadata=dict(metadata),
                event_uuid=event_uuid_for(aggregate.uuid, index),
            )
            for index, event in enumerate(aggregate.changes)
        ]
        store.append(
            aggregate.uuid,
            aggregate.aggregate_type,
            expected_version,
            new_events,
            closes_stream=aggregate.closed,
            backend=self.backend,
        )
        aggregate.clear_changes()
        policy = self.snapshot_policy
        if policy and not aggregate.closed and policy.is_due(expected_version, aggregate.version):
            self._snapshot_after_save(aggregate)
        return aggregate

    def _snapshot_after_save(self, aggregate: A) -> None:
        """Save a snapshot, best-effort: the events are stored, so a failure here must not undo the answer.

        Loading works without it (from an older snapshot or the first event); the failure is logged
        with the stream and version, never the state.
        """
        try:
            self.backend.save_snapshot(snapshot_of(aggregate))
        except EventStoreError as exc:  # NotImplementedError (no get_state) is a bug: it is not caught
            logger.warning(
                "Snapshot of %s %s at version %d not saved (the events are stored): %s: %s",
                aggregate.aggregate_type,
                aggregate.uuid,
                aggregate.version,
                type(exc).__name__,
                first_line(exc),
            )

    def update(self, uuid: UUID, command: Callable[[A], object], *, attempts: int = 5) -> A:
        """Load, run `command` on the aggregate, save; on a conflict wait a little, then start again.

        The wait is jittered and grows exponentially (bounded), so writers that keep colliding spread
        out instead of retrying in lockstep and one of them starving. Raise the last ConcurrencyError
        when every attempt lost its race.
        """
        for attempt in range(1, attempts + 1):
            aggregate = self.load(uuid)
            command(aggregate)
            try:
                return self.save(aggregate)
            except ConcurrencyError:
                if attempt == attempts:
                    raise
                time.sleep(backoff(attempt))
        raise AssertionError("unreachable")

    # Snapshots

    def take_snapshot(self, uuid: UUID) -> int | None:
        """Save a snapshot of the current state; return its version (None for closed aggregates)."""
        aggregate = self._rehydrate(uuid, None, None)
        if aggregate is None:
            raise AggregateNotFound(uuid, self.aggregate_class.aggregate_type)
        if aggregate.closed:
            return None
        self.backend.save_snapshot(snapshot_of(aggregate))
        return aggregate.version
