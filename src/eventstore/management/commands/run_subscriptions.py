"""Deliver events to subscriptions: a long-running worker (several may run; a lease per subscription)."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import CommandError

from eventstore import store
from eventstore import subscription_state as state
from eventstore.repair import ProjectionRepair
from eventstore.subscriptions import Subscription, registry
from eventstore.worker import Tally, Worker

from ._base import EventStoreCommand


class Command(EventStoreCommand):
    help = (
        "Deliver events to subscriptions in global order from each one's checkpoint, until SIGTERM or SIGINT "
        "(which finish the event in hand, save the checkpoint and exit 0). Several workers may run: one at a "
        "time handles a subscription, holding its lease; another takes over once a dead worker's lease expires. "
        "--until-caught-up exits once nothing is left to deliver."
    )

    NO_SUBSCRIPTIONS = "No subscriptions are registered."
    STARTED = "Worker {owner}: {names}."
    PROGRESS = "  {name}: position {position}, {behind} event(s) and {seconds:.1f}s behind; {delivered} delivered"
    SUMMARY = "{name}: {delivered} delivered, {retried} retried, {parked} parked; at position {position}{stopped}."
    STOPPED = "Stopped: {names} (an event failed every attempt). Fix the cause, then resume them."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--subscription", action="append", metavar="NAME", help="Only this subscription (repeatable; default all)."
        )
        parser.add_argument(
            "--until-caught-up", action="store_true", help="Exit once no event is left to deliver (cron, tests)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        subscriptions: list[Subscription] = self.select(registry, options["subscription"], self.NO_SUBSCRIPTIONS)
        worker = Worker(
            subscriptions, on_batch=self.show_progress if self.verbosity >= 2 else None, repair=ProjectionRepair()
        )
        self.say(self.STARTED.format(owner=worker.owner, names=", ".join(s.name for s in subscriptions)), 2)
        with stop_on_signals(worker):
            tallies = worker.run(until_caught_up=options["until_caught_up"])
        for tally in tallies.values():
            self.say(
                self.SUMMARY.format(
                    name=tally.subscription,
                    delivered=tally.delivered,
                    retried=tally.retried,
                    parked=tally.parked,
                    position=tally.position,
                    stopped=", stopped" if tally.stopped else "",
                )
            )
        stopped = [tally.subscription for tally in tallies.values() if tally.stopped]
        if options["until_caught_up"] and stopped:
            raise CommandError(self.STOPPED.format(names=", ".join(stopped)))

    def show_progress(self, tally: Tally) -> None:
        lag = state.lag(tally.position, store.get_backend())
        self.progress(
            self.PROGRESS.format(
                name=tally.subscription,
                position=tally.position,
                behind=lag.events,
                seconds=lag.seconds,
                delivered=tally.delivered,
            ),
            final=lag.events == 0,
        )


@contextmanager
def stop_on_signals(worker: Worker) -> Iterator[None]:
    """Turn SIGTERM and SIGINT into worker.stop() for the block (signals reach the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda signum, frame: worker.stop()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
