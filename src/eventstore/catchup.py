"""Catching a projection up from its checkpoint, replaying it from scratch, and comparing read models.

Each batch commits with the checkpoint, so a run that is interrupted or stopped by a failing event
resumes where it stopped. The run ends by going live while holding the checkpoint row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from . import conf, store
from .backends.base import EventStoreBackend, StoredEvent
from .models import Checkpoint
from .projections import Projection, ProjectionFailed, Row, get_checkpoint, locked_checkpoint

logger = logging.getLogger("eventstore.projections")


@dataclass
class Progress:
    """Where a catch-up run has got: sent to the progress callback after each batch."""

    projection: str
    start_position: int
    position: int
    last_position: int
    events: int
    started: float

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    @property
    def rate(self) -> float:
        """Return events handled per second."""
        return self.events / self.elapsed

    @property
    def eta(self) -> float | None:
        """Return the seconds left, estimated from the positions covered so far."""
        covered = self.position - self.start_position
        left = self.last_position - self.position
        if covered <= 0:
            return None
        return left * self.elapsed / covered


@dataclass
class CatchUpResult:
    """How a catch-up run ended."""

    projection: str
    position: int
    events: int
    failure: ProjectionFailed | None = None


ProgressCallback = Callable[[Progress], None]


def reset(projection: Projection) -> None:
    """Empty the read model and set its checkpoint back to the start, marked as replaying.

    The checkpoint row is locked before the read model's rows, the order inline runs take them in.
    """
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        Checkpoint.objects.update_or_create(
            name=projection.name, defaults={"position": 0, "status": Checkpoint.REPLAYING, "error": ""}
        )
        projection.clear()


def catch_up(
    projection: Projection,
    *,
    batch_size: int | None = None,
    backend: EventStoreBackend | None = None,
    on_progress: ProgressCallback | None = None,
) -> CatchUpResult:
    """Apply every event after the projection's checkpoint, batch by batch, then set it live.

    `batch_size` defaults to EVENTSTORE["PROJECTION_BATCH_SIZE"].

    Each batch commits with the checkpoint, so an interrupted run resumes where it stopped.
    A failing event stops the run: the checkpoint stays before it and the projection is stopped.
    """
    backend = backend or store.get_backend()
    batch_size = batch_size or conf.get("PROJECTION_BATCH_SIZE")
    checkpoint, _ = Checkpoint.objects.get_or_create(name=projection.name, defaults={"status": Checkpoint.REPLAYING})
    if checkpoint.status == Checkpoint.LIVE:
        # Keep inline runs off it while it catches up: they would skip what it has not read yet.
        Checkpoint.objects.filter(name=projection.name).update(status=Checkpoint.REPLAYING)
    # Batches up to the head as it is now; the rest is read in _go_live, holding the checkpoint, so a run
    # never chases writers that append faster than it reads.
    target = backend.last_position()
    progress = Progress(projection.name, checkpoint.position, checkpoint.position, target, 0, time.monotonic())
    position = checkpoint.position
    while position < target:
        batch = list(_take(backend.read_all(position, batch_size=batch_size), batch_size))
        if not batch:
            break
        try:
            failure = _apply_batch(projection, batch, after=position)
        except CheckpointMoved as moved:
            position = progress.position = moved.position  # another run applied it: go on from there
            continue
        if failure is not None:
            return _stopped(projection, progress, failure)
        position = batch[-1].position
        progress.position = position
        progress.events += len(batch)
        progress.last_position = max(progress.last_position, position)
        if on_progress is not None:
            on_progress(progress)
    return _go_live(projection, backend, progress, batch_size)


def _take(events: Iterator[StoredEvent], limit: int) -> Iterator[StoredEvent]:
    for count, event in enumerate(events, start=1):
        yield event
        if count >= limit:
            return


class CheckpointMoved(Exception):
    """Another run moved the checkpoint since the batch was read: applying it would apply events twice."""

    def __init__(self, position: int) -> None:
        super().__init__(f"the checkpoint moved to {position}")
        self.position = position


class NotLive(Exception):
    """The projection is no longer live (a replay or a person took it over): following it must stop."""


def follow(
    projection: Projection,
    *,
    backend: EventStoreBackend | None = None,
    batch_size: int | None = None,
    max_batches: int | None = None,
) -> int:
    """Apply what the store has indexed since a live projection's checkpoint; return how many events were read.

    `max_batches` bounds one call (a worker applies one batch a round, so that its other work goes on).

    For backends that give events their positions after the append (DynamoDB's indexer): no append runs
    projections inline there, so the subscriptions worker keeps each one current with this, round after
    round. A stopped or replaying projection is left to ProjectionRepair and replay_projections. A failing
    event stops the projection, as it would inline (logged; ProjectionRepair retries it).
    """
    backend = backend or store.get_backend()
    batch_size = batch_size or conf.get("PROJECTION_BATCH_SIZE")
    checkpoint, _ = Checkpoint.objects.get_or_create(name=projection.name, defaults={"status": Checkpoint.LIVE})
    position, read, batches = checkpoint.position, 0, 0
    if checkpoint.status != Checkpoint.LIVE:
        return 0
    while max_batches is None or batches < max_batches:
        batches += 1
        batch = list(_take(backend.read_all(position, batch_size=batch_size), batch_size))
        if not batch:
            return read
        try:
            failure = _apply_batch(projection, batch, after=position, go_live=True, only_live=True)
        except CheckpointMoved as moved:
            position = moved.position  # another worker applied it: go on from there
            continue
        except NotLive:
            return read
        if failure is not None:
            logger.error("%s; the projection is stopped until it catches up.", failure)
            return read
        position = batch[-1].position
        read += len(batch)
    return read


def _apply_batch(
    projection: Projection,
    batch: list[StoredEvent],
    *,
    after: int | None,
    go_live: bool = False,
    only_live: bool = False,
) -> ProjectionFailed | None:
    """Apply one batch and move the checkpoint past it, in one transaction; return the failure if any.

    `after` is the checkpoint the batch was read from. Two runs may catch one projection up at once (two
    workers repairing it, a person resuming it meanwhile): the row lock orders them, and the second finds
    the checkpoint moved (CheckpointMoved) instead of applying the same events again. None: the batch was
    read holding the row lock already (going live), so nothing can have moved it.
    """
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        checkpoint = locked_checkpoint(projection.name)
        assert checkpoint is not None, "catch_up creates the checkpoint first"
        if only_live and checkpoint.status != Checkpoint.LIVE:
            raise NotLive
        if after is not None and checkpoint.position != after:
            raise CheckpointMoved(checkpoint.position)
        try:
            projection.handle_batch([event for event in batch if event.name in projection.handles])
        except ProjectionFailed as failure:
            checkpoint.position = _position_before(batch, failure.event)
            checkpoint.status = Checkpoint.STOPPED
            checkpoint.error = str(failure)
            checkpoint.save()
            return failure
        checkpoint.position = batch[-1].position
        checkpoint.status = Checkpoint.LIVE if go_live else Checkpoint.REPLAYING
        checkpoint.error = ""
        checkpoint.save()
    return None


def _position_before(batch: list[StoredEvent], failed: StoredEvent) -> int:
    """Return the checkpoint just before the failed event (the last position before it in the batch)."""
    earlier = [event.position for event in batch if event.position < failed.position]
    return earlier[-1] if earlier else batch[0].position - 1


def _go_live(projection: Projection, backend: EventStoreBackend, progress: Progress, batch_size: int) -> CatchUpResult:
    """Read what was appended meanwhile and set the projection live, holding its checkpoint row.

    Appends that run inline projections lock that row too, so none slips between the last read
    and the switch: those that committed are read here, those waiting will find it live.
    """
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        checkpoint = locked_checkpoint(projection.name)
        assert checkpoint is not None
        remaining = list(backend.read_all(checkpoint.position, batch_size=batch_size))
        if remaining:
            failure = _apply_batch(projection, remaining, after=None, go_live=True)
            if failure is not None:
                return _stopped(projection, progress, failure)
            progress.events += len(remaining)
        Checkpoint.objects.filter(name=projection.name).update(status=Checkpoint.LIVE, error="")
        position = remaining[-1].position if remaining else checkpoint.position
    progress.position = position
    return CatchUpResult(projection.name, position, progress.events)


def _stopped(projection: Projection, progress: Progress, failure: ProjectionFailed) -> CatchUpResult:
    checkpoint = get_checkpoint(projection.name)
    position = checkpoint.position if checkpoint else 0
    return CatchUpResult(projection.name, position, progress.events, failure)


def replay(
    projection: Projection,
    *,
    batch_size: int | None = None,
    backend: EventStoreBackend | None = None,
    on_progress: ProgressCallback | None = None,
) -> CatchUpResult:
    """Rebuild the projection from the whole event log.

    A projection that swaps on replay (a ModelProjection) is folded aside in memory while its old read
    model keeps serving, complete, and inline runs keep it current; then, holding the checkpoint, the
    events appended meanwhile are folded too and the new rows replace the old in one transaction.
    Others are reset and caught up batch by batch (resumable from their checkpoint).
    """
    if projection.swaps_on_replay:
        return replay_aside(projection, batch_size=batch_size, backend=backend, on_progress=on_progress)
    reset(projection)
    return catch_up(projection, batch_size=batch_size, backend=backend, on_progress=on_progress)


def replay_aside(
    projection: Projection,
    *,
    batch_size: int | None = None,
    backend: EventStoreBackend | None = None,
    on_progress: ProgressCallback | None = None,
) -> CatchUpResult:
    """Fold the whole log aside, then swap the result in, holding the checkpoint (see replay)."""
    backend = backend or store.get_backend()
    batch_size = batch_size or conf.get("PROJECTION_BATCH_SIZE")
    Checkpoint.objects.get_or_create(name=projection.name, defaults={"status": Checkpoint.REPLAYING})
    # Up to the head as it is now; what writers append meanwhile is folded at the swap, under the checkpoint's
    # lock, so the build never chases writers that append faster than it reads.
    target = backend.last_position()
    progress = Progress(projection.name, 0, 0, target, 0, time.monotonic())
    rows: dict[Any, Row | None] = {}
    position = 0
    last: StoredEvent | None = None
    while position < target:
        batch = list(_take(backend.read_all(position, batch_size=batch_size), batch_size))
        if not batch:
            break
        try:
            projection.fold_aside(rows, batch)
        except ProjectionFailed as failure:
            return _stopped_aside(projection, progress, failure)
        last = batch[-1]
        position = last.position
        progress.position = position
        progress.events += len(batch)
        progress.last_position = max(progress.last_position, position)
        if on_progress is not None:
            on_progress(progress)
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        locked_checkpoint(projection.name)  # first, as inline runs do: appends wait here until the swap commits
        remaining = list(backend.read_all(position, batch_size=batch_size))
        try:
            projection.fold_aside(rows, remaining)
            last = remaining[-1] if remaining else last
            projection.replace_all(rows, last)
        except ProjectionFailed as failure:
            return _stopped_aside(projection, progress, failure)
        position = last.position if last else 0
        Checkpoint.objects.filter(name=projection.name).update(
            position=position, status=Checkpoint.LIVE, error="", updated_at=timezone.now()
        )
    progress.position = position
    progress.events += len(remaining)
    return CatchUpResult(projection.name, position, progress.events)


def _stopped_aside(projection: Projection, progress: Progress, failure: ProjectionFailed) -> CatchUpResult:
    """Mark the projection stopped where its old read model stands (untouched); --resume catches up from there."""
    Checkpoint.objects.filter(name=projection.name).update(
        status=Checkpoint.STOPPED, error=str(failure), updated_at=timezone.now()
    )
    return _stopped(projection, progress, failure)


@dataclass
class RowChange:
    """A difference between the live read model and one rebuilt aside."""

    key: str
    kind: str  # "missing" (the rebuild adds it), "extra" (the rebuild drops it) or "changed"
    fields: dict[str, tuple[Any, Any]]


def diff_rows(live: dict[str, Row], rebuilt: dict[str, Row]) -> list[RowChange]:
    """Return what replacing `live` by `rebuilt` would change, row by row."""
    changes = []
    for key in sorted(live.keys() | rebuilt.keys()):
        before, after = live.get(key), rebuilt.get(key)
        if before is None:
            changes.append(RowChange(key, "missing", {}))
        elif after is None:
            changes.append(RowChange(key, "extra", {}))
        elif before != after:
            fields = {
                name: (before.get(name), after.get(name))
                for name in sorted(before.keys() | after.keys())
                if before.get(name) != after.get(name)
            }
            changes.append(RowChange(key, "changed", fields))
    return changes
