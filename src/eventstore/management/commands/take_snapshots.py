"""Take snapshots of aggregates: one, one type, those far enough past their last snapshot, or all."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from django.core.management.base import CommandError

from eventstore import store
from eventstore.backends.base import StreamInfo
from eventstore.exceptions import UnknownAggregateType
from eventstore.maintenance import iter_streams, snapshot_stream
from eventstore.registry import repositories

from ._base import EventStoreCommand, positive_int


class Command(EventStoreCommand):
    help = (
        "Take snapshots of aggregates' current state. Choose --aggregate UUID, --aggregate-type TYPE or --all; "
        "--min-events N only snapshots streams at least N events past their last snapshot (alone, it looks at "
        "every stream). Saving a snapshot writes no event, so this is safe while the API serves."
    )

    NOTHING_CHOSEN = "Say which streams: --aggregate UUID, --aggregate-type TYPE, --min-events N or --all."
    NO_STREAM = "No stream {uuid}: it has no events."
    SUMMARY = "Snapshotted {taken} of {total} stream(s){skipped}."
    DRY_RUN_SUMMARY = "Dry run: would snapshot {taken} of {total} stream(s){skipped}."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--aggregate", metavar="UUID", help="Only this aggregate.")
        which.add_argument("--aggregate-type", metavar="TYPE", help="Every aggregate of this type.")
        which.add_argument("--all", action="store_true", help="Every stream.")
        parser.add_argument(
            "--min-events",
            type=positive_int,
            metavar="N",
            help="Only streams with at least N events since their last snapshot.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Say what would be snapshotted; save nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        backend = store.get_backend()
        min_events = options["min_events"] or 1
        streams, total = self.chosen_streams(options)
        taken, skipped = 0, Counter[str]()
        for done, stream in enumerate(streams, start=1):
            outcome = snapshot_stream(backend, stream, repositories, min_events=min_events, dry_run=options["dry_run"])
            if outcome.version is None:
                skipped[outcome.skipped] += 1
                self.say(f"  skipped {stream.aggregate_uuid}: {outcome.skipped}", 2)
            else:
                taken += 1
                verb = "would snapshot" if options["dry_run"] else "snapshotted"
                self.say(f"  {verb} {stream.aggregate_uuid} at version {outcome.version}", 2)
            self.progress(f"  [{done}/{total}] streams, {taken} snapshot(s)", final=done == total)
        detail = "; skipped " + ", ".join(f"{count} {why}" for why, count in sorted(skipped.items())) if skipped else ""
        template = self.DRY_RUN_SUMMARY if options["dry_run"] else self.SUMMARY
        self.say(template.format(taken=taken, total=total, skipped=detail))

    def chosen_streams(self, options: dict[str, Any]) -> tuple[Any, int]:
        backend = store.get_backend()
        if options["aggregate"]:
            aggregate_uuid = self.parse_uuid(options["aggregate"])
            stream: StreamInfo | None = backend.get_stream(aggregate_uuid)
            if stream is None:
                raise CommandError(self.NO_STREAM.format(uuid=aggregate_uuid))
            return [stream], 1
        if options["aggregate_type"]:
            name = options["aggregate_type"]
            if name not in repositories:
                raise CommandError(str(UnknownAggregateType(name, repositories.aggregate_types())))
            return iter_streams(backend, aggregate_type=name), backend.count_streams(aggregate_type=name)
        if options["all"] or options["min_events"]:
            return iter_streams(backend), backend.count_streams()
        raise CommandError(self.NOTHING_CHOSEN)
