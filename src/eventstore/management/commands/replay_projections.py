"""Rebuild projections from the event log: reset, read every event in global order, go live."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from typing import Any

from django.core.management.base import CommandError

from eventstore import catchup, projections, store
from eventstore.backends.base import StoredEvent
from eventstore.catchup import CatchUpResult, Progress
from eventstore.projections import Projection, ProjectionFailed

from ._base import EventStoreCommand


class Command(EventStoreCommand):
    help = (
        "Rebuild projections (read models) from the event log. By default every projection is replayed: a model "
        "projection is rebuilt aside while the live read model keeps serving, then swapped in one transaction; "
        "others are reset and caught up. --resume continues a stopped projection from its checkpoint; --dry-run "
        "rebuilds aside and reports what would change in the live read model, touching nothing."
    )

    NO_PROJECTIONS = "No projections are registered."
    INTERRUPTED = "Interrupted: {name} is at position {position}. Run again with --resume to continue from there."
    INTERRUPTED_ASIDE = "Interrupted before the swap: {name}'s live read model was not touched. Run the replay again."
    FAILED = "{failure}. Fix the cause, then run again with --projection {name} --resume."
    DONE = "{name}: {events} event(s) up to position {position} in {seconds:.1f}s ({rate:.0f} events/s); live."
    DRY_RUN_CLEAN = "{name}: the live read model matches the event log ({rows} row(s)); nothing would change."
    DRY_RUN_CHANGES = "{name}: replaying would add {missing}, change {changed} and remove {extra} row(s)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--projection", action="append", metavar="NAME", help="Only this projection (repeatable; default all)."
        )
        self.add_batch_size(parser)
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--resume", action="store_true", help="Continue from the checkpoint instead of resetting.")
        mode.add_argument(
            "--dry-run", action="store_true", help="Rebuild aside and report the differences; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        selected = self.select(projections.registry, options["projection"], self.NO_PROJECTIONS)
        for projection in selected:
            if options["dry_run"]:
                self.dry_run(projection, options["batch_size"])
            else:
                self.run(projection, options["batch_size"], resume=options["resume"])

    def run(self, projection: Projection, batch_size: int, *, resume: bool) -> None:
        started = time.monotonic()
        run = catchup.catch_up if resume else catchup.replay
        self.say(f"{'Resuming' if resume else 'Replaying'} {projection.name}…")
        try:
            result: CatchUpResult = run(projection, batch_size=batch_size, on_progress=self.show_progress)
        except KeyboardInterrupt:
            if projection.swaps_on_replay and not resume:
                raise CommandError(self.INTERRUPTED_ASIDE.format(name=projection.name)) from None
            checkpoint = projections.get_checkpoint(projection.name)
            position = checkpoint.position if checkpoint else 0
            raise CommandError(self.INTERRUPTED.format(name=projection.name, position=position)) from None
        if result.failure is not None:
            raise CommandError(self.FAILED.format(failure=result.failure, name=projection.name))
        seconds = time.monotonic() - started
        self.say(
            self.DONE.format(
                name=projection.name,
                events=result.events,
                position=result.position,
                seconds=seconds,
                rate=result.events / max(seconds, 1e-9),
            )
        )

    def show_progress(self, progress: Progress) -> None:
        eta = "?" if progress.eta is None else f"{progress.eta:.0f}s"
        self.progress(
            f"  [{progress.position}/{progress.last_position}] {progress.projection}: {progress.events} events, "
            f"{progress.rate:.0f} events/s, ETA {eta}",
            final=progress.position >= progress.last_position,
        )

    def dry_run(self, projection: Projection, batch_size: int) -> None:
        backend = store.get_backend()
        last = backend.last_position()
        self.say(f"Rebuilding {projection.name} aside (dry run)…")

        def counted(events: Iterator[StoredEvent]) -> Iterator[StoredEvent]:
            for done, event in enumerate(events, start=1):
                if done % batch_size == 0:
                    self.progress(f"  [{event.position}/{last}] {done} events read")
                yield event

        try:
            rebuilt = projection.rebuild_aside(counted(backend.read_all(0, batch_size=batch_size)))
        except NotImplementedError as exc:
            raise CommandError(str(exc)) from None
        except ProjectionFailed as failure:
            raise CommandError(f"{failure}. The live read model was not touched.") from None
        live = projection.export()
        changes = catchup.diff_rows(live, rebuilt)
        if not changes:
            self.say(self.DRY_RUN_CLEAN.format(name=projection.name, rows=len(live)))
            return
        counts = {kind: sum(1 for change in changes if change.kind == kind) for kind in ("missing", "changed", "extra")}
        self.say(self.DRY_RUN_CHANGES.format(name=projection.name, **counts))
        shown = changes if self.verbosity >= 2 else changes[:20]
        for change in shown:
            if change.kind == "changed":
                fields = ", ".join(f"{name}: {old!r} -> {new!r}" for name, (old, new) in change.fields.items())
                self.say(f"  changed {change.key}: {fields}")
            else:
                self.say(f"  {'add' if change.kind == 'missing' else 'remove'} {change.key}")
        if len(shown) < len(changes):
            self.say(f"  … and {len(changes) - len(shown)} more (use -v 2 to list them all)")
