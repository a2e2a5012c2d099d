"""The EVENTSTORE setting: every key with its default, read when asked for, never at import time.

    EVENTSTORE = {
        "BACKENDS": {
            "default": {"BACKEND": "eventstore.backends.django.DjangoBackend", "OPTIONS": {}},
            "dynamodb": {
                "BACKEND": "eventstore.backends.dynamodb.DynamoDBBackend",
                "OPTIONS": {"TABLE_PREFIX": "app_"},
            },
        },
        "SNAPSHOT_EVERY": None,
        "PROJECTION_BATCH_SIZE": 1000,
        "AUTODISCOVER": True,
        "SUBSCRIPTION_LEASE_SECONDS": 30,
    }

Backends are named by alias, as Django's CACHES and STORAGES are: `default` is the store that
repositories, projections and the admin use; other aliases are there for commands that name one
(`copy_events --from default --to dynamodb`). Only this module reads the setting.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULT_ALIAS = "default"
DJANGO_BACKEND = "eventstore.backends.django.DjangoBackend"
DYNAMODB_BACKEND = "eventstore.backends.dynamodb.DynamoDBBackend"

DEFAULTS: dict[str, Any] = {
    # Backend aliases, each {"BACKEND": dotted path, "OPTIONS": {...}}; "default" must be among them.
    "BACKENDS": {DEFAULT_ALIAS: {"BACKEND": DJANGO_BACKEND, "OPTIONS": {}}},
    # Snapshot interval of repositories that set none of their own (None: no automatic snapshots).
    "SNAPSHOT_EVERY": None,
    # Events read per batch when projections catch up or replay, and by the maintenance commands.
    "PROJECTION_BATCH_SIZE": 1000,
    # Import each installed app's `repositories` module at startup, as the admin imports `admin`.
    "AUTODISCOVER": True,
    # Subscription workers (run_subscriptions): a lease not renewed for this long passes to another worker.
    "SUBSCRIPTION_LEASE_SECONDS": 30,
    # How often a worker renews its leases; well below the lease, so a slow query does not lose it.
    "SUBSCRIPTION_HEARTBEAT_SECONDS": 10,
    # How long a worker waits before reading again once its subscriptions have caught up.
    "SUBSCRIPTION_POLL_SECONDS": 1.0,
    # How long a worker waits before its first try at catching up a stopped projection (doubling after each
    # failed try, up to ten minutes): long enough for a passing cause (a database restart) to pass.
    "PROJECTION_REPAIR_SECONDS": 5.0,
}


def eventstore_settings() -> dict[str, Any]:
    """Return the EVENTSTORE setting merged over the defaults, with every backend alias filled in."""
    user = dict(getattr(settings, "EVENTSTORE", None) or {})
    merged = {**DEFAULTS, **user}
    merged["BACKENDS"] = {
        alias: {"OPTIONS": {}, **config}
        for alias, config in {**DEFAULTS["BACKENDS"], **user.get("BACKENDS", {})}.items()
    }
    return merged


def get(key: str) -> Any:
    """Return one key of the EVENTSTORE setting (its default when the project sets none)."""
    return eventstore_settings()[key]


def backend_aliases() -> list[str]:
    """Return the configured backend aliases, "default" first."""
    aliases = list(eventstore_settings()["BACKENDS"])
    return sorted(aliases, key=lambda alias: (alias != DEFAULT_ALIAS, alias))


def backend_config(alias: str = DEFAULT_ALIAS) -> dict[str, Any]:
    """Return {"BACKEND": ..., "OPTIONS": {...}} for an alias; raise ImproperlyConfigured for an unknown one."""
    backends = eventstore_settings()["BACKENDS"]
    if alias not in backends:
        known = ", ".join(backend_aliases())
        raise ImproperlyConfigured(f"No event store backend is configured as {alias!r}; configured: {known}.")
    config = backends[alias]
    if not isinstance(config, dict) or not isinstance(config.get("BACKEND"), str):
        raise ImproperlyConfigured(f'EVENTSTORE["BACKENDS"][{alias!r}] needs a "BACKEND" dotted path.')
    return config
