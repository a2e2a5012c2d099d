"""The configured event store: a backend chosen in settings, plus transactions and publishing."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils.module_loading import import_string

from .backends.base import EventStoreBackend, NewEvent, StoredEvent
from .conf import eventstore_settings
from .signals import events_appended, events_committed

_lock = threading.Lock()
_backend: EventStoreBackend | None = None
# True while append() runs the backend as the first work of a block it has just opened.
_own_transaction: contextvars.ContextVar[bool] = contextvars.ContextVar("eventstore_own_transaction", default=False)


def get_backend() -> EventStoreBackend:
    """Return the backend named by settings.EVENTSTORE["BACKEND"], created on first use."""
    global _backend
    if _backend is None:
        with _lock:
            if _backend is None:
                config = eventstore_settings()
                backend_class = import_string(config["BACKEND"])
                _backend = backend_class(**config.get("OPTIONS", {}))
    return _backend


def build_backend(name: str) -> EventStoreBackend:
    """Return a new backend by its short name in settings.EVENTSTORE_BACKENDS ("django", "dynamodb")."""
    backends = getattr(settings, "EVENTSTORE_BACKENDS", {})
    if name not in backends:
        raise ValueError(f"Unknown event store backend {name!r}; known: {', '.join(backends) or 'none'}.")
    options = getattr(settings, "EVENTSTORE_BACKEND_OPTIONS", {}).get(name, {})
    return import_string(backends[name])(**options)


def reset_backend() -> None:
    """Forget the configured backend so that the next use reads the settings again."""
    global _backend
    with _lock:
        if _backend is not None:
            _backend.close()
        _backend = None


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "EVENTSTORE":
        reset_backend()


def connect_setting_changed() -> None:
    setting_changed.connect(_on_setting_changed, dispatch_uid="eventstore.reset_backend")


def in_own_transaction() -> bool:
    """Return whether append() is running the backend in a block of its own, opened just before.

    A backend in the default database may then skip a savepoint of its own: should the append
    fail, that block rolls back (to its savepoint, when nested in the caller's transaction) and
    so undoes exactly the append.
    """
    return _own_transaction.get()


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
    checkpoint repair a read model whose inline update failed.
    """
    backend = backend or get_backend()
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        token = _own_transaction.set(True)
        try:
            stored = backend.append(
                aggregate_uuid, aggregate_type, expected_version, events, closes_stream=closes_stream
            )
        finally:
            _own_transaction.reset(token)
        if stored:
            events_appended.send(sender=backend.__class__, events=stored)
            transaction.on_commit(
                lambda: events_committed.send(sender=backend.__class__, events=stored), using=DEFAULT_DB_ALIAS
            )
    return stored
