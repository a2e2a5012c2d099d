"""Stopped projections repair themselves: a subscriptions worker catches them up, with backoff.

A projection stops at an event it failed on, and the appends go on without it (projections.run_inline).
With the Django backend that is most often a bug in the projection; with DynamoDB, whose inline runs
come after the commit, it can as well be the Django database out of reach for a moment. Either way
nobody should have to notice and run `replay_projections --resume`: every `run_subscriptions` worker
tries each stopped projection again, first after `first_delay` (EVENTSTORE["PROJECTION_REPAIR_SECONDS"],
5 s), then doubling up to `max_delay` (ten minutes) while it keeps failing, and the projection is live
again as soon as one try gets through. Two workers trying at once are safe: catch-up batches are
ordered by the checkpoint's row lock (catchup.CheckpointMoved).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import DatabaseError
from django.db.models import Q, QuerySet
from django.utils import timezone

from . import catchup, conf, projections
from .catchup import CatchUpResult, Progress
from .exceptions import EventStoreError
from .models import Checkpoint
from .store import first_line

logger = logging.getLogger("eventstore.projections")

#: A projection left replaying this long without a batch (a catch-up killed or cut off by a store error) is
#: caught up by the workers as a stopped one is.
STALE_REPLAY = timedelta(minutes=5)


class ProjectionRepair:
    """Catch up stopped projections when their next try is due; remember each one's backoff."""

    def __init__(
        self,
        first_delay: float | None = None,
        max_delay: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.first_delay = conf.get("PROJECTION_REPAIR_SECONDS") if first_delay is None else first_delay
        self.max_delay = max_delay
        self.clock = clock
        # projection: (failed tries, when the next is due, in the clock's seconds since the epoch)
        self._tries: dict[str, tuple[int, float]] = {}

    def run_due(self, stop: Callable[[], bool] = lambda: False) -> list[CatchUpResult]:
        """Try every stopped projection whose next try is due; return how each try ended.

        The first try is due `first_delay` after the projection stopped (its checkpoint's last change), so
        a worker started later tries at once; later ones back off from this worker's own failed tries.
        A catch-up left REPLAYING for STALE_REPLAY (its run killed, or a try that met a store error) is
        taken up the same way. `stop()` true ends a catch-up after its batch in hand (SIGTERM).
        """
        now = timezone.now()
        candidates = dict(_behind(now).values_list("name", "updated_at"))
        for name in set(self._tries) - set(candidates):
            del self._tries[name]  # live again (or resumed by a person)
        results: list[CatchUpResult] = []
        for name in sorted(set(candidates) & set(projections.registry.names())):
            failed, due = self._tries.get(name, (0, candidates[name].timestamp() + self.first_delay))
            if self.clock() < due or stop():
                continue
            if not _behind(now).filter(name=name).exists():
                continue  # another worker repaired it meanwhile: catching up again would set it replaying for nothing
            try:
                result = catchup.catch_up(projections.registry.get(name), on_progress=_stop_when(stop))
            except Interrupted:
                return results
            except (DatabaseError, EventStoreError) as exc:
                error = f"Projection {name}: {type(exc).__name__}: {first_line(exc)}"
            else:
                results.append(result)
                if result.failure is None:
                    self._tries.pop(name, None)
                    logger.warning(
                        "Projection %s repaired: caught up to position %d (%d events).",
                        name,
                        result.position,
                        result.events,
                    )
                    continue
                error = str(result.failure)
            delay = min(self.max_delay, self.first_delay * 2 ** (failed + 1))
            self._tries[name] = (failed + 1, self.clock() + delay)
            logger.error("%s; the projection stays behind, next try in %.0fs.", error, delay)
        return results


def _behind(now: datetime) -> QuerySet[Checkpoint]:
    """Return the checkpoints of projections left behind: stopped, or replaying with no batch for STALE_REPLAY."""
    return Checkpoint.objects.filter(
        Q(status=Checkpoint.STOPPED) | Q(status=Checkpoint.REPLAYING, updated_at__lt=now - STALE_REPLAY)
    )


class Interrupted(Exception):
    """The worker is stopping: a catch-up ends after the batch in hand (its checkpoint saved)."""


def _stop_when(stop: Callable[[], bool]) -> Callable[[Progress], None]:
    def check(progress: Progress) -> None:
        if stop():
            raise Interrupted

    return check
