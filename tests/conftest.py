"""Fixtures shared by the whole suite. The database and event store backend come from the
environment (see bin/test), so the same tests run on every configuration."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection

from eventstore import store
from eventstore.backends.base import EventStoreBackend


def pytest_configure(config: pytest.Config) -> None:
    # The SQLite test database is a file (threads must share it); its folder must exist.
    (settings.BASE_DIR / "var").mkdir(exist_ok=True)


def pytest_report_header(config: pytest.Config) -> list[str]:
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return [f"database: {engine}; event store backend: {settings.EVENTSTORE['BACKENDS']['default']['BACKEND']}"]


def empty_backend() -> EventStoreBackend:
    """Return the configured backend, emptied when it keeps events outside the test database."""
    store.reset_backend()
    backend = store.get_backend()
    reset = getattr(backend, "reset_for_tests", None)
    if reset is not None:
        reset()
    return backend


@pytest.fixture
def backend(db: None) -> Iterator[EventStoreBackend]:
    """Return the configured backend, empty."""
    yield empty_backend()


@pytest.fixture
def tx_backend(transactional_db: None) -> Iterator[EventStoreBackend]:
    """Return the configured backend, empty, for tests whose threads must see each other's commits."""
    yield empty_backend()


def database_vendor() -> str:
    return connection.vendor


requires_postgres = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql"
    or os.environ.get("EVENTSTORE_BACKEND", "django") != "django",
    reason="needs the Django backend on PostgreSQL",
)

requires_django_backend = pytest.mark.skipif(
    os.environ.get("EVENTSTORE_BACKEND", "django") != "django",
    reason="needs the Django backend: its events share the Django database's transaction",
)

# Beside SQLite, an append to DynamoDB with GLOBAL_ORDER "append" (the suite's mode: read models inline) runs
# inside SQLite's one write lock, and two writers appending without pause can hand that lock to each other past
# a third transaction's busy timeout. The default mode, "indexer", opens no transaction there at all.
requires_server_database_beside_dynamodb = pytest.mark.skipif(
    os.environ.get("EVENTSTORE_BACKEND", "django") != "django"
    and settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3",
    reason="DynamoDB (GLOBAL_ORDER 'append') beside SQLite: racing appends hold SQLite's write lock around each "
    "DynamoDB call; "
    "set DATABASE_URL to a PostgreSQL database to run it",
)
