"""The configured event store: backends by alias from settings, plus transactions and publishing."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils.module_loading import import_string

from .backends.base import EventStoreBackend, NewEvent, StoredEvent, own_transaction
from .conf import DEFAULT_ALIAS, backend_config
from .signals import events_appended, events_committed

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_backends: dict[str, EventStoreBackend] = {}


def get_backend(alias: str = DEFAULT_ALIAS) -> EventStoreBackend:
    """Return the backend configured under `alias` in EVENTSTORE["BACKENDS"], created on first use."""
    backend = _backends.get(alias)
    if backend is None:
        with _lock:
            backend = _backends.get(alias)
            if backend is None:
                backend = _backends[alias] = build_backend(alias)
    return backend


def build_backend(alias: str) -> EventStoreBackend:
    """Return a new backend for an alias of EVENTSTORE["BACKENDS"] ("default", "dynamodb", ...)."""
    config = backend_config(alias)
    backend_class = import_string(config["BACKEND"])
    return backend_class(**config["OPTIONS"])


def reset_backend() -> None:
    """Forget the backends created so far, so that the next use reads the settings again."""
    with _lock:
        for backend in _backends.values():
            backend.close()
        _backends.clear()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "EVENTSTORE":
        reset_backend()


def connect_setting_changed() -> None:
    setting_changed.connect(_on_setting_changed, dispatch_uid="eventstore.reset_backend")


def append(
    aggregate_uuid: UUID,
    aggregate_type: str,
    expected_version: int,
    events: Sequence[NewEvent],
    *,
    closes_stream: bool = False,
    backend: EventStoreBackend | None = None,
) -> list[StoredEvent]:
    """Append events through the backend, run inline receivers in the same transaction, publish on commit.

    The Django database's transaction wraps the append so that inline projections (read models in
    that database) commit or roll back with the events. A backend outside that database (DynamoDB)
    has committed its events before the inline receivers run; projections catching up from their
    checkpoint repair a read model whose inline update failed. A backend that gives positions only after
    the append (`positions_on_append` False) runs no inline receivers: read models follow it asynchronously.
    """
    backend = backend or get_backend()
    if not backend.positions_on_append:
        # The events get their positions later (DynamoDB's indexer), and read models follow those positions
        # asynchronously (the subscriptions worker): nothing runs inline, and the append opens no transaction
        # in the Django database, so it takes no lock there either.
        stored = backend.append(aggregate_uuid, aggregate_type, expected_version, events, closes_stream=closes_stream)
        if stored:
            publish_committed(backend, stored)
        return stored
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        with own_transaction():
            stored = backend.append(
                aggregate_uuid, aggregate_type, expected_version, events, closes_stream=closes_stream
            )
        if stored:
            events_appended.send(sender=backend.__class__, events=stored)
            transaction.on_commit(lambda: publish_committed(backend, stored), using=DEFAULT_DB_ALIAS)
    return stored


def publish_committed(backend: EventStoreBackend, stored: list[StoredEvent]) -> None:
    """Send events_committed to every receiver, each in isolation: the events are stored whatever they do.

    A receiver that raises is logged (stream, versions, event names, positions; never the payload)
    and the others still run, so nothing after the commit can turn a stored write into an error.
    """
    for receiver, outcome in events_committed.send_robust(sender=backend.__class__, events=stored):
        if isinstance(outcome, Exception):
            logger.error(
                "An events_committed receiver (%s) failed after stream %s versions %d-%d (%s, positions %d-%d) "
                "were stored: %s: %s (at %s)",
                getattr(receiver, "__qualname__", receiver),
                stored[0].aggregate_uuid,
                stored[0].version,
                stored[-1].version,
                ", ".join(dict.fromkeys(event.name for event in stored)),
                stored[0].position,
                stored[-1].position,
                type(outcome).__name__,
                first_line(outcome),
                where(outcome),
            )


def where(error: BaseException) -> str:
    """Return the file, line and function an error was raised in; no message, so no row values."""
    frames = traceback.extract_tb(error.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else "unknown"


def first_line(error: BaseException) -> str:
    """Return the first line of an error's message: drivers put row values (payloads) on the lines after."""
    lines = str(error).splitlines()
    return lines[0] if lines else ""
