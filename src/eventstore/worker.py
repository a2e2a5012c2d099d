"""The subscription worker: follows the store in global order and delivers to each subscription it leases.

Round after round, for each subscription: take (or renew) its lease, deliver the parked events a
person asked to retry, then read one batch after the checkpoint and hand each wanted event to the
handler. The checkpoint moves only after the handler has returned: at the end of the batch, or with
each event inside the handler's transaction for a `transactional` subscription. A handler that raises
is retried with exponential backoff; after its last attempt the event is parked (and the rest go on)
or the subscription stops at it. `stop()` (SIGTERM, SIGINT) lets the event in hand finish, saves the
checkpoint and releases the leases. Only one page of the store (READ_PAGE events, or a batch if larger) is
ever held in memory.
"""

from __future__ import annotations

import enum
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.utils import timezone

from . import catchup, conf, parking, projections, store
from . import subscription_state as state
from .backends.base import EventStoreBackend, StoredEvent
from .events import registry as events
from .exceptions import EventStoreError, LeaseLost
from .models import ParkedEvent, SubscriptionState
from .repair import ProjectionRepair
from .store import first_line
from .subscriptions import Delivery, Subscription

logger = logging.getLogger("eventstore.subscriptions")

#: Longest a worker keeps delivering batches to one subscription before its next round of bookkeeping.
ROUND_SECONDS = 1.0
#: Fewest events a worker reads from the store per query (a subscription's batch_size may ask for more).
READ_PAGE = 1000


class Step(enum.Enum):
    """What one round did for a subscription."""

    BUSY = "busy"  # delivered a batch; more may be waiting
    DONE = "done"  # nothing left after the checkpoint (or paused, or stopped)
    WAITING = "waiting"  # another worker holds the lease, or the database or store failed


@dataclass
class Tally:
    """What a worker did for one subscription: sent to the progress callback, returned by run()."""

    subscription: str
    position: int = 0
    delivered: int = 0
    parked: int = 0
    retried: int = 0
    stopped: bool = False
    error: str = ""


def worker_id() -> str:
    """Return a name for this worker process: host, pid and a random tag (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Failure(Exception):
    """A handler failed an event on every attempt."""

    def __init__(self, message: str, attempts: int, first_failed_at: datetime) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.first_failed_at = first_failed_at


class Abandoned(Exception):
    """The worker was told to stop while it waited to try an event again: the event stays undelivered."""


class Worker:
    """Deliver events to subscriptions, one lease at a time per subscription. `run()` until `stop()`."""

    def __init__(
        self,
        subscriptions: list[Subscription],
        *,
        backend: EventStoreBackend | None = None,
        owner: str | None = None,
        lease_seconds: float | None = None,
        heartbeat_seconds: float | None = None,
        poll_seconds: float | None = None,
        on_batch: Callable[[Tally], None] | None = None,
        repair: ProjectionRepair | None = None,
    ) -> None:
        self.subscriptions = subscriptions
        self.backend = backend or store.get_backend()
        self.owner = owner or worker_id()
        self.lease_seconds = lease_seconds or conf.get("SUBSCRIPTION_LEASE_SECONDS")
        self.heartbeat_seconds = heartbeat_seconds or conf.get("SUBSCRIPTION_HEARTBEAT_SECONDS")
        self.poll_seconds = poll_seconds or conf.get("SUBSCRIPTION_POLL_SECONDS")
        self.on_batch = on_batch
        #: Catches up stopped projections between rounds (the command gives every worker one).
        self.repair = repair
        self.tallies = {subscription.name: Tally(subscription.name) for subscription in subscriptions}
        self._stopping = threading.Event()
        self._held: dict[str, float] = {}  # subscription name -> monotonic time of the last renewal

    def stop(self) -> None:
        """Ask the worker to finish the event in hand, save its checkpoints and return (safe from a signal)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self, *, until_caught_up: bool = False) -> dict[str, Tally]:
        """Deliver until stopped (or, with `until_caught_up`, until nothing is left); release the leases."""
        try:
            while not self.stopping:
                _close_old_connections()
                steps = [self.step(subscription) for subscription in self.subscriptions if not self.stopping]
                if self._follow_projections():
                    steps.append(Step.BUSY)
                self._repair_projections()
                if until_caught_up and all(step is Step.DONE for step in steps):
                    break
                if Step.BUSY not in steps:
                    self._stopping.wait(self.poll_seconds)
        finally:
            for name in list(self._held):
                self._release(name)
        return self.tallies

    def _follow_projections(self) -> bool:
        """Keep inline projections current where no append runs them (a backend that assigns positions later).

        One batch per projection a round, as for subscriptions, so that a backlog does not hold up the leases'
        renewal or a stop. Return whether any event was applied (more may be waiting).
        """
        if self.backend.positions_on_append or self.stopping:
            return False
        applied = 0
        for projection in projections.registry.inline():
            try:
                applied += catchup.follow(projection, backend=self.backend, max_batches=1)
            except (DatabaseError, EventStoreError) as exc:
                logger.error(
                    "Following projection %s: %s: %s; trying again.",
                    projection.name,
                    type(exc).__name__,
                    first_line(exc),
                )
        return applied > 0

    def _repair_projections(self) -> None:
        if self.repair is None or self.stopping:
            return
        try:
            self.repair.run_due(stop=lambda: self.stopping)
        except (DatabaseError, EventStoreError) as exc:
            logger.error("Repairing projections: %s: %s; trying again.", type(exc).__name__, first_line(exc))

    # One round for one subscription

    def step(self, subscription: Subscription) -> Step:
        """Deliver the retries asked for and one batch to `subscription`, if this worker gets its lease."""
        name = subscription.name
        try:
            row = state.ensure_state(subscription, self.backend)
            if row.paused or row.status == SubscriptionState.STOPPED:
                self._release(name)
                self.tallies[name].stopped = row.status == SubscriptionState.STOPPED
                return Step.DONE
            self.tallies[name].stopped = False  # resumed since (from the admin or in code)
            if not (name in self._held and row.lease_owner == self.owner and not self._heartbeat_due(name)):
                # Not ours yet, or due for renewal (otherwise the round writes nothing while there is nothing to do).
                held = state.acquire(name, self.owner, self.lease_seconds)
                if held is None:
                    self._held.pop(name, None)
                    return Step.DONE if row.position >= self.backend.last_position() else Step.WAITING
                if name not in self._held:
                    logger.info("Worker %s took the lease of %s at position %d.", self.owner, name, held.position)
                self._held[name] = time.monotonic()
                row = held
            retried = self._retry_parked(subscription)
            delivered = self._deliver_batches(subscription, row.position)
        except LeaseLost:
            logger.warning("Worker %s lost the lease of subscription %s; another worker goes on.", self.owner, name)
            self._held.pop(name, None)
            return Step.WAITING
        except (DatabaseError, EventStoreError) as exc:
            # The database or the store is unavailable: nothing moved past what was saved; try again next round.
            logger.error("Subscription %s: %s: %s; trying again.", name, type(exc).__name__, first_line(exc))
            return Step.WAITING
        return Step.BUSY if retried or delivered else Step.DONE

    def _deliver_batches(self, subscription: Subscription, position: int) -> bool:
        """Deliver batch after batch for up to ROUND_SECONDS; return whether any held an event.

        Catching up, a round's bookkeeping (reading the subscription's row, its retries due, the lease) is
        paid once per round rather than once per batch, and the store is read in pages of READ_PAGE
        events at least; each batch still saves its checkpoint, so a crash redelivers one batch at most.
        The bound keeps a pause, a retry asked for in the admin, and the worker's other subscriptions
        waiting no longer than that.
        """
        tally = self.tallies[subscription.name]
        tally.position = position
        deadline = time.monotonic() + ROUND_SECONDS
        events = self.backend.read_all(position, batch_size=max(subscription.batch_size, READ_PAGE))
        delivered = False
        while batch := list(islice(events, subscription.batch_size)):
            delivered = True
            # A batch cut short (stopping, a retry abandoned, the subscription stopped) ends the round: the
            # next one reads again from the checkpoint, never from further down this page.
            if not self._deliver_batch(subscription, position, batch) or tally.stopped:
                break
            if self.stopping or time.monotonic() >= deadline:
                break
            position = tally.position
        return delivered

    def _deliver_batch(self, subscription: Subscription, position: int, batch: list[StoredEvent]) -> bool:
        """Deliver a batch read after `position`; save the checkpoint after it. Return whether all of it was."""
        name, tally = subscription.name, self.tallies[subscription.name]
        saved, last, completed = position, None, False
        for index, event in enumerate(batch):
            if self.stopping:
                break
            self._heartbeat(name)
            if subscription.wants(event.name):
                try:
                    self._deliver(subscription, event)
                except Abandoned:
                    break
                except Failure as failure:
                    if subscription.on_failure == "stop":
                        state.stop(name, self.owner, position, str(failure))
                        logger.error("%s; subscription %s is stopped until it is resumed.", failure, name)
                        tally.position, tally.stopped, tally.error = position, True, str(failure)
                        return False
                    with transaction.atomic(using=DEFAULT_DB_ALIAS):
                        parking.park(
                            name,
                            event,
                            error=str(failure),
                            attempts=failure.attempts,
                            first_failed_at=failure.first_failed_at,
                        )
                        state.save_position(name, self.owner, event.position, event.recorded_at)
                    logger.error("%s; the event is parked and subscription %s goes on.", failure, name)
                    saved, tally.parked, tally.error = event.position, tally.parked + 1, str(failure)
                else:
                    tally.delivered += 1
                    if subscription.transactional:
                        saved = event.position
            position, last = event.position, event
            completed = index == len(batch) - 1
        if last is not None and position != saved:
            state.save_position(name, self.owner, position, last.recorded_at)
        tally.position = position
        if self.on_batch is not None:
            self.on_batch(tally)
        return completed

    def _retry_parked(self, subscription: Subscription) -> int:
        """Deliver again the parked events a person asked to retry; return how many were tried."""
        due = parking.due_for_retry(subscription.name, subscription.batch_size)
        for parked in due:
            if self.stopping:
                break
            self._heartbeat(subscription.name)
            event = next(iter(self.backend.read_all(parked.position - 1, batch_size=1)), None)
            if event is None or event.position != parked.position:
                parking.failed_again(parked, error=f"No event at position {parked.position} in the store.", attempts=0)
                continue
            try:
                self._deliver(subscription, event, parked=parked)
            except Abandoned:
                break
            except Failure as failure:
                parking.failed_again(parked, error=str(failure), attempts=failure.attempts)
                logger.error("%s; the event is parked again.", failure)
            else:
                self.tallies[subscription.name].retried += 1
                logger.info(
                    "Subscription %s: the parked event at position %d was delivered.",
                    subscription.name,
                    parked.position,
                )
        return len(due)

    def _deliver(
        self,
        subscription: Subscription,
        event: StoredEvent,
        *,
        parked: ParkedEvent | None = None,
    ) -> None:
        """Hand one event to the handler, trying again with backoff; raise Failure after the last attempt.

        A transactional subscription's handler runs in the transaction that moves the checkpoint (or marks
        the parked event delivered), conditioned on the lease: a worker that lost it commits nothing.
        """
        first_failed_at: datetime | None = None
        for attempt in range(1, subscription.attempts + 1):
            try:
                delivery = _delivery(subscription, event, attempt)
                if subscription.transactional:
                    with transaction.atomic(using=DEFAULT_DB_ALIAS):
                        subscription.handler(delivery)
                        self._after_delivery(subscription, event, parked)
                else:
                    subscription.handler(delivery)
                    if parked is not None:
                        self._after_delivery(subscription, event, parked)
                return
            except LeaseLost:
                raise
            except Exception as exc:
                first_failed_at = first_failed_at or timezone.now()
                message = (
                    f"Subscription {subscription.name} failed at position {event.position}: stream "
                    f"{event.aggregate_uuid} version {event.version} event {event.name} (attempt {attempt} of "
                    f"{subscription.attempts}): {type(exc).__name__}: {first_line(exc)}"
                )
                state.record_error(subscription.name, message)
                if attempt == subscription.attempts:
                    raise Failure(message, attempt, first_failed_at) from exc
                logger.warning("%s; trying again in %.1fs.", message, subscription.delay(attempt))
                if not self._wait(subscription.name, subscription.delay(attempt)):
                    raise Abandoned from exc
        raise AssertionError("unreachable")

    def _after_delivery(self, subscription: Subscription, event: StoredEvent, parked: ParkedEvent | None) -> None:
        if parked is not None:
            state.renew(subscription.name, self.owner, self.lease_seconds)  # raises LeaseLost: rolls back
            parking.delivered(parked)
        else:
            state.save_position(subscription.name, self.owner, event.position, event.recorded_at)

    # Leases

    def _heartbeat_due(self, name: str) -> bool:
        return time.monotonic() - self._held.get(name, 0.0) >= self.heartbeat_seconds

    def _heartbeat(self, name: str) -> None:
        """Renew the lease when a heartbeat is due; raise LeaseLost when another worker has it."""
        if self._heartbeat_due(name):
            state.renew(name, self.owner, self.lease_seconds)
            self._held[name] = time.monotonic()

    def _wait(self, name: str, seconds: float) -> bool:
        """Wait, renewing the lease on time; return False when told to stop meanwhile."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._stopping.wait(min(left, self.heartbeat_seconds)):
                return False
            self._heartbeat(name)
        return not self.stopping

    def _release(self, name: str) -> None:
        if self._held.pop(name, None) is not None:
            try:
                state.release(name, self.owner)
            except DatabaseError as exc:  # it expires on its own
                logger.warning("Subscription %s: the lease was not released: %s", name, first_line(exc))


def _close_old_connections() -> None:
    """Drop connections past their age or broken, as Django does between requests (not inside a transaction)."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def _delivery(subscription: Subscription, event: StoredEvent, attempt: int) -> Delivery:
    return Delivery(
        event=events.decode(event.name, event.schema_version, event.data, event.aggregate_uuid, event.version),
        event_name=event.name,
        event_uuid=event.event_uuid,
        aggregate_uuid=event.aggregate_uuid,
        aggregate_type=event.aggregate_type,
        version=event.version,
        position=event.position,
        metadata=event.metadata,
        recorded_at=event.recorded_at,
        subscription=subscription.name,
        attempt=attempt,
    )
