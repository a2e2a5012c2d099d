"""Run the DynamoDB backend's indexer: give appended events their global positions (read_all, projections)."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError

from eventstore.backends.dynamodb_indexer import Indexer, Pass
from eventstore.conf import DEFAULT_ALIAS
from eventstore.exceptions import EventStoreError, IndexerLeaseLost
from eventstore.store import build_backend

from ._base import EventStoreCommand


class Command(EventStoreCommand):
    help = (
        "Follow the DynamoDB change stream of the stream heads and give every appended event its global "
        "position, until SIGTERM or SIGINT (which finish the transaction in hand and release the lease). One "
        "indexer at a time does the work, holding a lease; another started beside it waits and takes over once "
        "that lease expires. --until-caught-up exits once nothing is left to index; --reconcile first compares "
        "every stream head with its index (after the change stream lost records: an indexer stopped for more "
        "than 24 hours)."
    )

    NOT_INDEXED = (
        "The event store backend {alias!r} ({backend}) gives events their positions as it appends them: it has "
        "nothing to index."
    )
    HELD = "Another indexer holds the lease; --until-caught-up does not wait for it."
    STEP = "Indexed {events} event(s) of {streams} stream(s) from {records} change record(s){reconciled}."
    DONE = "Indexed {total} event(s); {pending} event(s) wait for a position."
    FAILED = "Indexing failed: {error}"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--backend", default=DEFAULT_ALIAS, metavar="ALIAS", help="The backend alias (default).")
        parser.add_argument(
            "--until-caught-up", action="store_true", help="Exit once no record is left to index (cron, tests)."
        )
        parser.add_argument(
            "--reconcile", action="store_true", help="First index every stream head that is ahead of its index."
        )
        parser.add_argument(
            "--poll-seconds",
            type=poll_seconds,
            default=0.2,
            help="How long to wait before reading the change stream again once it showed nothing (default 0.2): "
            "the indexer's delay when idle, against one GetRecords call per shard each time.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            backend = build_backend(options["backend"])
        except (ImportError, ImproperlyConfigured) as exc:
            raise CommandError(self.FAILED.format(error=exc)) from exc
        if getattr(backend, "positions_on_append", True):
            raise CommandError(self.NOT_INDEXED.format(alias=options["backend"], backend=type(backend).__name__))
        indexer = Indexer(backend)  # type: ignore[arg-type]
        try:
            total = 0
            if options["reconcile"]:
                if not indexer.acquire():
                    raise CommandError(self.HELD)
                total += indexer.reconcile()[0]
            with stop_on_signals() as stopping:
                total += indexer.run(
                    stop=stopping.is_set,
                    poll_seconds=options["poll_seconds"],
                    until_caught_up=options["until_caught_up"],
                    on_step=self.show_step,
                )
            self.say(self.DONE.format(total=total, pending=indexer.pending()))
        except IndexerLeaseLost as exc:
            raise CommandError(self.HELD) from exc
        except EventStoreError as exc:
            raise CommandError(self.FAILED.format(error=exc)) from exc
        finally:
            backend.close()

    def show_step(self, done: Pass) -> None:
        if done.events or done.reconciled:
            self.say(
                self.STEP.format(
                    events=done.events,
                    streams=done.streams,
                    records=done.records,
                    reconciled=", after reconciling every stream head" if done.reconciled else "",
                ),
                2 if not done.reconciled else 1,
            )


def poll_seconds(text: str) -> float:
    """Parse a poll interval: seconds, from 0.01 to 60 (argparse turns the ValueError into a one-line error)."""
    value = float(text)
    if not 0.01 <= value <= 60:
        raise ValueError(text)
    return value


poll_seconds.__name__ = "number of seconds from 0.01 to 60"


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Set the event on SIGTERM or SIGINT during the block (signals reach the main thread only)."""
    stopping = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stopping
        return
    handler = lambda signum, frame: stopping.set()  # noqa: E731
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stopping
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
