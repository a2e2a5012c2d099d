"""Create the DynamoDB backend's tables."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from eventstore.backends.dynamodb import DynamoDBBackend
from eventstore.store import build_backend


class Command(BaseCommand):
    help = (
        "Create the DynamoDB event store tables (on-demand capacity) that do not exist yet and wait until "
        "they are active. Existing tables are left as they are, so running it again is harmless."
    )

    CREATED = "Created {name}."
    EXISTED = "{name} exists already."
    DONE = "{count} DynamoDB tables are active."
    FAILED = "Could not create the DynamoDB tables: {error}"

    def handle(self, *args: Any, **options: Any) -> None:
        backend = build_backend("dynamodb")
        if not isinstance(backend, DynamoDBBackend):
            raise CommandError(f"settings.EVENTSTORE_BACKENDS['dynamodb'] is {type(backend).__name__}, not DynamoDB.")
        try:
            created = backend.create_tables()
        except (BotoCoreError, ClientError, ImproperlyConfigured) as exc:
            raise CommandError(self.FAILED.format(error=exc)) from exc
        finally:
            backend.close()
        for name in backend.tables.values():
            message = self.CREATED if name in created else self.EXISTED
            self.stdout.write(message.format(name=name), self.style.SUCCESS if name in created else None)
        self.stdout.write(self.style.SUCCESS(self.DONE.format(count=len(backend.tables))))
