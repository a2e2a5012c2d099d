"""Verify the event store: contiguous streams, decodable events, snapshots equal to the rebuilt state."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import CommandError

from eventstore import store
from eventstore.exceptions import UnknownAggregateType
from eventstore.maintenance import StreamReport, verify_store
from eventstore.registry import repositories

from ._base import EventStoreCommand


class Command(EventStoreCommand):
    help = (
        "Check every stream: versions contiguous from 1 up to its head, every event decodes and upcasts, "
        "every snapshot equals the state rebuilt from the events. Prints a report; exits 1 on any fault."
    )

    SOUND = "Checked {streams} stream(s), {events} event(s), {snapshots} snapshot(s): no faults."
    FAULTY = "{faults} fault(s) in {streams} of {total} stream(s); see the report above."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--aggregate-type", metavar="TYPE", help="Only streams of this type.")

    def handle(self, *args: Any, **options: Any) -> None:
        backend = store.get_backend()
        name = options["aggregate_type"]
        if name is not None and name not in repositories:
            raise CommandError(str(UnknownAggregateType(name, repositories.aggregate_types())))
        reports = verify_store(backend, aggregate_type=name, on_stream=self.on_stream)
        faulty = [report for report in reports if report.faults]
        if self.verbosity >= 1:
            for note in sorted({note for report in reports for note in report.notes}):
                self.stdout.write(f"note: {note}")
        if faulty:
            raise CommandError(
                self.FAULTY.format(faults=sum(len(r.faults) for r in faulty), streams=len(faulty), total=len(reports))
            )
        self.say(
            self.SOUND.format(
                streams=len(reports),
                events=sum(r.events for r in reports),
                snapshots=sum(r.snapshots for r in reports),
            )
        )

    def on_stream(self, done: int, total: int, report: StreamReport) -> None:
        for fault in report.faults:
            self.stdout.write(f"FAULT {fault}")
        self.progress(f"  [{done}/{total}] streams checked", final=done == total)
