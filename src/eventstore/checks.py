"""System checks (`manage.py check`) for a misconfigured event store, reported before first use."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .conf import DEFAULT_ALIAS, eventstore_settings

E001 = "eventstore.E001"  # a backend path that does not import
E002 = "eventstore.E002"  # the DynamoDB backend without boto3
E003 = "eventstore.E003"  # two aggregates under one aggregate type
E004 = "eventstore.E004"  # two event classes under one event name
E005 = "eventstore.E005"  # a malformed EVENTSTORE setting
E006 = "eventstore.E006"  # two subscriptions under one name


@checks.register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check the EVENTSTORE setting: its shape, and that every backend alias names an importable backend."""
    from .backends.base import EventStoreBackend

    try:
        config = eventstore_settings()
    except (TypeError, ValueError, ImproperlyConfigured) as exc:
        return [checks.Error(f"The EVENTSTORE setting is malformed: {exc}", id=E005)]
    errors: list[checks.CheckMessage] = []
    backends = config["BACKENDS"]
    if not isinstance(backends, dict) or DEFAULT_ALIAS not in backends:
        return [checks.Error('EVENTSTORE["BACKENDS"] must be a dict with a "default" alias.', id=E005)]
    for alias, backend in backends.items():
        where = f'EVENTSTORE["BACKENDS"][{alias!r}]'
        path = backend.get("BACKEND") if isinstance(backend, dict) else None
        if not isinstance(path, str) or not isinstance(backend.get("OPTIONS", {}), dict):
            errors.append(checks.Error(f'{where} needs "BACKEND" (a dotted path) and "OPTIONS" (a dict).', id=E005))
            continue
        try:
            backend_class = import_string(path)
        except ImportError as exc:
            if "boto" in str(getattr(exc, "name", "") or exc):
                errors.append(
                    checks.Error(
                        f"{where} is the DynamoDB backend, but boto3 is not installed.",
                        hint="pip install 'django-eventstore[dynamodb]'",
                        id=E002,
                    )
                )
            else:
                errors.append(checks.Error(f"{where}: cannot import backend {path!r}: {exc}", id=E001))
            continue
        if not (isinstance(backend_class, type) and issubclass(backend_class, EventStoreBackend)):
            errors.append(checks.Error(f"{where}: {path!r} is not an EventStoreBackend subclass.", id=E001))
    for key, may_be_none in (("PROJECTION_BATCH_SIZE", False), ("SNAPSHOT_EVERY", True)):
        value = config[key]
        if value is None and may_be_none:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            errors.append(checks.Error(f'EVENTSTORE["{key}"] must be a positive integer, not {value!r}.', id=E005))
    seconds = (
        "SUBSCRIPTION_LEASE_SECONDS",
        "SUBSCRIPTION_HEARTBEAT_SECONDS",
        "SUBSCRIPTION_POLL_SECONDS",
        "PROJECTION_REPAIR_SECONDS",
    )
    for key in seconds:
        value = config[key]
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            errors.append(checks.Error(f'EVENTSTORE["{key}"] must be a positive number, not {value!r}.', id=E005))
            return errors
    if config["SUBSCRIPTION_HEARTBEAT_SECONDS"] >= config["SUBSCRIPTION_LEASE_SECONDS"]:
        errors.append(
            checks.Error(
                'EVENTSTORE["SUBSCRIPTION_HEARTBEAT_SECONDS"] must be below "SUBSCRIPTION_LEASE_SECONDS": a worker '
                "renews its lease every heartbeat and would lose it in between.",
                hint="A heartbeat of a third of the lease leaves room for two slow renewals.",
                id=E005,
            )
        )
    return errors


@checks.register()
def check_registries(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check that no two aggregates, events or subscriptions share a name."""
    from .events import registry as events
    from .registry import repositories
    from .subscriptions import registry as subscriptions

    errors: list[checks.CheckMessage] = [
        checks.Error(
            f"Aggregate type {name!r} is registered twice: by {_path(first)} and by {_path(second)}.",
            hint="Give one of them another aggregate_type; stored streams keep the name they were written with.",
            id=E003,
        )
        for name, first, second in repositories.conflicts
    ]
    errors += [
        checks.Error(
            f"Event name {name!r} is registered twice: by {_path(first)} and by {_path(second)}.",
            hint="Give one of them another name in @event(); stored events keep the name they were written with.",
            id=E004,
        )
        for name, first, second in events.conflicts
    ]
    errors += [
        checks.Error(
            f"Subscription {name!r} is registered twice: by {_path(first)} and by {_path(second)}.",
            hint="Give one of them another name; a subscription's checkpoint is kept under its name.",
            id=E006,
        )
        for name, first, second in subscriptions.conflicts
    ]
    return errors


def _path(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"
