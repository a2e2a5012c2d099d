"""The configured event store: backends by alias from settings, plus transactions and publishing."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils.module_loading import import_string

from .backends.base import EventStoreBackend, NewEvent, StoredEvent, own_transaction
from .conf import DEFAULT_ALIAS, backend_config
from .signals import events_appended, events_committed

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
    checkpoint repair a read model whose inline update failed.
    """
    backend = backend or get_backend()
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        with own_transaction():
            stored = backend.append(
                aggregate_uuid, aggregate_type, expected_version, events, closes_stream=closes_stream
            )
        if stored:
            events_appended.send(sender=backend.__class__, events=stored)
            transaction.on_commit(
                lambda: events_committed.send(sender=backend.__class__, events=stored), using=DEFAULT_DB_ALIAS
            )
    return stored
