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

from . import catchup, conf, projections
from .catchup import CatchUpResult
from .models import Checkpoint

logger = logging.getLogger("eventstore.projections")


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

    def run_due(self) -> list[CatchUpResult]:
        """Try every stopped projection whose next try is due; return how each try ended.

        The first try is due `first_delay` after the projection stopped (its checkpoint's last change), so
        a worker started later tries at once; later ones back off from this worker's own failed tries.
        """
        stopped = dict(Checkpoint.objects.filter(status=Checkpoint.STOPPED).values_list("name", "updated_at"))
        for name in set(self._tries) - set(stopped):
            del self._tries[name]  # live again (or resumed by a person)
        now = self.clock()
        results = []
        for name in sorted(set(stopped) & set(projections.registry.names())):
            failed, due = self._tries.get(name, (0, stopped[name].timestamp() + self.first_delay))
            if now < due:
                continue
            result = catchup.catch_up(projections.registry.get(name))
            results.append(result)
            if result.failure is None:
                self._tries.pop(name, None)
                logger.warning(
                    "Projection %s repaired: caught up to position %d (%d events).",
                    name,
                    result.position,
                    result.events,
                )
            else:
                delay = min(self.max_delay, self.first_delay * 2 ** (failed + 1))
                self._tries[name] = (failed + 1, self.clock() + delay)
                logger.error("%s; the projection stays stopped, next try in %.0fs.", result.failure, delay)
        return results
