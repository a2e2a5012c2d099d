"""Move DynamoDB tables written by layout 1 (positions assigned in each append) to layout 2 (the indexer's)."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError

from eventstore.backends.dynamodb import DynamoDBBackend
from eventstore.backends.dynamodb_migration import LayoutMigration
from eventstore.conf import DEFAULT_ALIAS
from eventstore.exceptions import EventStoreError
from eventstore.store import build_backend

from ._base import EventStoreCommand


class Command(EventStoreCommand):
    help = (
        "Move DynamoDB event store tables written before layout 2 to it: add the streams table's index "
        "recent_by_type_shard, give every stream its index tip and its listing shard, enable the change stream "
        "the indexer follows, and drop the old index recent_by_type. Stop the writers while it runs (or run them "
        "with GLOBAL_ORDER 'append'), then start index_events. Running it again changes nothing; --dry-run only "
        "says what it would do."
    )

    NOT_DYNAMODB = "The event store backend {alias!r} ({backend}) is not DynamoDB: it has no layout to migrate."
    FAILED = "Migrating the DynamoDB layout failed: {error}"
    NOTHING = "The DynamoDB tables of {alias!r} are in layout 2 already ({heads} stream(s)): nothing to do."
    DRY_RUN = "Dry run: {changes} table change(s) and {moved} stream head(s) to move; nothing was changed."
    DONE = (
        "The DynamoDB tables of {alias!r} are in layout 2 ({changes} table change(s), {moved} stream head(s) "
        "moved). Start `python manage.py index_events` (GLOBAL_ORDER 'indexer')."
    )
    LATE_HEADS = (
        "Warning: {moved} stream head(s) of layout 1 were found although the change stream was already enabled: "
        "a writer of the old code may still be running. Stop it."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--backend", default=DEFAULT_ALIAS, metavar="ALIAS", help="The backend alias (default).")
        parser.add_argument("--dry-run", action="store_true", help="Say what would be changed; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["backend"]
        try:
            backend = build_backend(alias)
        except (ImportError, ImproperlyConfigured) as exc:
            raise CommandError(self.FAILED.format(error=exc)) from exc
        if not isinstance(backend, DynamoDBBackend):
            backend.close()
            raise CommandError(self.NOT_DYNAMODB.format(alias=alias, backend=type(backend).__name__))
        migration = LayoutMigration(
            backend, say=self.say, progress=lambda line, final: self.progress(line, final=final)
        )
        try:
            outcome = migration.run(dry_run=options["dry_run"])
        except (EventStoreError, ImproperlyConfigured) as exc:
            raise CommandError(self.FAILED.format(error=exc)) from exc
        finally:
            backend.close()
        if outcome.late_heads:
            self.stderr.write(self.LATE_HEADS.format(moved=outcome.moved))
        if outcome.nothing_to_do:
            self.say(self.NOTHING.format(alias=alias, heads=outcome.heads))
        elif outcome.dry_run:
            self.say(self.DRY_RUN.format(changes=len(outcome.changes), moved=outcome.moved))
        else:
            self.say(
                self.style.SUCCESS(self.DONE.format(alias=alias, changes=len(outcome.changes), moved=outcome.moved))
            )
