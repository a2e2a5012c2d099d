"""Copy a whole event store from one backend to another, then verify the copy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from eventstore.backends.base import EventStoreBackend, NewEvent, StoredEvent, StreamInfo
from eventstore.conf import backend_config
from eventstore.exceptions import EventStoreError
from eventstore.store import build_backend


class Command(BaseCommand):
    help = (
        "Copy every event (in global order, keeping event uuids, metadata and recorded times), every stream's "
        "closed flag and every snapshot from one backend to another, e.g. --from django --to dynamodb. "
        "Resumable: events the target already holds are skipped, so run it again after an interruption. "
        "Stop the writers first; a second run picks up whatever they wrote meanwhile. Ends by checking that "
        "every stream has the same version on both sides."
    )

    SAME_BACKEND = "--from and --to name the same backend ({name}); nothing to copy."
    UNKNOWN_BACKEND = "{error}"
    DIVERGED = (
        "Stream {stream}: the target is at version {target_version} but the next event to copy is version "
        "{version} ({event}); the target's stream is not a copy of the source's. Nothing more was copied."
    )
    FAILED = "Copying stream {stream} at version {version} failed: {error}"
    PROGRESS = "[{done}/{total}] events ({copied} copied, {skipped} already there)"
    SNAPSHOTS = "Copied {count} snapshots."
    MISMATCH = "Verification failed: {count} stream(s) differ, e.g. {examples}."
    COUNT_MISMATCH = "Verification failed: the source has {source} streams, the target {target}."
    DONE = "Verified: {streams} streams and {events} events, every stream at its source version."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from",
            dest="source",
            required=True,
            help="the backend alias to copy from, e.g. default",
        )
        parser.add_argument("--to", dest="target", required=True, help="the backend alias to copy to, e.g. dynamodb")
        parser.add_argument("--batch-size", type=int, default=500, help="events read and written at a time")
        parser.add_argument("--no-snapshots", action="store_true", help="do not copy snapshots")

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        if options["source"] == options["target"]:
            raise CommandError(self.SAME_BACKEND.format(name=options["source"]))
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            if backend_config(options["source"]) == backend_config(options["target"]):
                # Two aliases of one store ("default" is often another alias's store too).
                raise CommandError(self.SAME_BACKEND.format(name=f"{options['source']}, {options['target']}"))
            source, target = build_backend(options["source"]), build_backend(options["target"])
        except (ImportError, ImproperlyConfigured) as exc:
            raise CommandError(self.UNKNOWN_BACKEND.format(error=exc)) from exc
        try:
            heads = {stream.aggregate_uuid: stream for stream in all_streams(source)}
            total = sum(stream.version for stream in heads.values())
            self.copy_events(source, target, heads, total, options["batch_size"])
            if not options["no_snapshots"]:
                self.copy_snapshots(source, target, heads)
            self.verify(source, target, heads)
        except EventStoreError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            source.close()
            target.close()

    def copy_events(
        self,
        source: EventStoreBackend,
        target: EventStoreBackend,
        heads: dict[UUID, StreamInfo],
        total: int,
        batch_size: int,
    ) -> None:
        """Append the source's events to the target in global order, in runs of one stream's events."""
        run_size = min(batch_size, target.max_events_per_append or batch_size)
        target_versions: dict[UUID, int] = {}
        run: list[StoredEvent] = []
        copied = skipped = 0
        step = max(total // 20, batch_size)
        next_report = step
        for event in source.read_all(0, batch_size=batch_size):
            stream = event.aggregate_uuid
            if run and (run[0].aggregate_uuid != stream or len(run) == run_size):
                copied += self.append_run(target, run, heads, target_versions)
                run = []
            if stream not in heads:  # written after the listing: copy it too
                heads[stream] = source.get_stream(stream) or _head_of(event)
            if stream not in target_versions:
                target_versions[stream] = target.get_version(stream)
            version = target_versions[stream] + len(run)
            if event.version <= target_versions[stream]:
                skipped += 1
            elif event.version != version + 1:
                raise CommandError(
                    self.DIVERGED.format(
                        stream=stream, target_version=version, version=event.version, event=event.event_uuid
                    )
                )
            else:
                run.append(event)
            if copied + skipped + len(run) >= next_report:
                self.report(copied + skipped + len(run), total, copied, skipped)
                next_report += step
        if run:
            copied += self.append_run(target, run, heads, target_versions)
        self.report(copied + skipped, max(total, copied + skipped), copied, skipped)

    def append_run(
        self,
        target: EventStoreBackend,
        run: list[StoredEvent],
        heads: dict[UUID, StreamInfo],
        target_versions: dict[UUID, int],
    ) -> int:
        """Append one stream's consecutive events to the target; return how many."""
        first = run[0]
        head = heads[first.aggregate_uuid]
        expected = target_versions[first.aggregate_uuid]
        events = [
            NewEvent(
                name=e.name,
                data=e.data,
                schema_version=e.schema_version,
                metadata=e.metadata,
                event_uuid=e.event_uuid,
                recorded_at=e.recorded_at,
            )
            for e in run
        ]
        try:
            target.append(
                first.aggregate_uuid,
                first.aggregate_type,
                expected,
                events,
                closes_stream=head.closed and run[-1].version == head.version,
            )
        except EventStoreError as exc:
            raise CommandError(
                self.FAILED.format(stream=first.aggregate_uuid, version=first.version, error=exc)
            ) from exc
        target_versions[first.aggregate_uuid] = expected + len(run)
        return len(run)

    def report(self, done: int, total: int, copied: int, skipped: int) -> None:
        if self.verbosity >= 1:
            self.stdout.write(self.PROGRESS.format(done=done, total=total, copied=copied, skipped=skipped))

    def copy_snapshots(
        self, source: EventStoreBackend, target: EventStoreBackend, heads: dict[UUID, StreamInfo]
    ) -> None:
        """Save the source's snapshots that the target lacks."""
        count = 0
        for stream in heads:
            present = {snapshot.version for snapshot in target.list_snapshots(stream)}
            for snapshot in source.list_snapshots(stream):
                if snapshot.version not in present:
                    target.save_snapshot(snapshot)
                    count += 1
        if self.verbosity >= 1:
            self.stdout.write(self.SNAPSHOTS.format(count=count))

    def verify(self, source: EventStoreBackend, target: EventStoreBackend, heads: dict[UUID, StreamInfo]) -> None:
        """Check that every source stream has the same version and closed flag in the target."""
        differing = []
        for stream, head in heads.items():
            copy = target.get_stream(stream)
            if copy is None or (copy.version, copy.closed) != (head.version, head.closed):
                found = f"version {copy.version}{' closed' if copy.closed else ''}" if copy else "missing"
                differing.append(f"{stream} (source at version {head.version}, target {found})")
        if differing:
            raise CommandError(self.MISMATCH.format(count=len(differing), examples=", ".join(differing[:3])))
        source_count, target_count = source.count_streams(), target.count_streams()
        if source_count != target_count:
            raise CommandError(self.COUNT_MISMATCH.format(source=source_count, target=target_count))
        events = sum(head.version for head in heads.values())
        self.stdout.write(self.style.SUCCESS(self.DONE.format(streams=len(heads), events=events)))


def all_streams(backend: EventStoreBackend) -> Iterator[StreamInfo]:
    """Yield every stream head of the backend, page after page."""
    cursor = None
    while True:
        page = backend.list_streams(limit=500, cursor=cursor)
        yield from page.streams
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _head_of(event: StoredEvent) -> StreamInfo:
    return StreamInfo(
        event.aggregate_uuid, event.aggregate_type, event.version, event.recorded_at, event.recorded_at, closed=False
    )
