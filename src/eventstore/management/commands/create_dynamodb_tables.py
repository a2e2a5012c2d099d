"""Create the DynamoDB backend's tables."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from eventstore.conf import backend_aliases
from eventstore.exceptions import EventStoreError
from eventstore.store import build_backend


class Command(BaseCommand):
    help = (
        "Create the DynamoDB event store tables (on-demand capacity) that do not exist yet and wait until "
        "they are active. Existing tables are left as they are, so running it again is harmless. Without "
        "--backend, every configured alias whose backend keeps tables of its own is set up."
    )

    CREATED = "Created {name}."
    EXISTED = "{name} exists already."
    DONE = "{count} DynamoDB tables are active."
    FAILED = "Could not create the DynamoDB tables: {error}"
    NOT_DYNAMODB = "The event store backend {alias!r} ({backend}) has no tables to create."
    NONE_CONFIGURED = "No configured event store backend has tables to create (see EVENTSTORE['BACKENDS'])."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--backend", action="append", dest="aliases", metavar="ALIAS", help="a backend alias")

    def handle(self, *args: Any, **options: Any) -> None:
        backends: list[Any] = []  # backends with create_tables() and tables: a capability, not a class
        for alias in options["aliases"] or backend_aliases():
            try:
                backend = build_backend(alias)
            except (ImportError, ImproperlyConfigured) as exc:
                raise CommandError(self.FAILED.format(error=exc)) from exc
            if hasattr(backend, "create_tables"):
                backends.append(backend)
            elif options["aliases"]:
                raise CommandError(self.NOT_DYNAMODB.format(alias=alias, backend=type(backend).__name__))
        if not backends:
            raise CommandError(self.NONE_CONFIGURED)
        names: dict[str, bool] = {}
        for backend in backends:
            try:
                created = backend.create_tables()
            except (EventStoreError, ImproperlyConfigured) as exc:
                raise CommandError(self.FAILED.format(error=exc)) from exc
            finally:
                backend.close()
            for name in backend.tables.values():
                names[name] = names.get(name, False) or name in created
        for name, was_created in names.items():
            message = self.CREATED if was_created else self.EXISTED
            self.stdout.write(message.format(name=name), self.style.SUCCESS if was_created else None)
        self.stdout.write(self.style.SUCCESS(self.DONE.format(count=len(names))))
