"""pytest fixtures for projects that use the event store.

Enable them in the project's top-level conftest.py::

    pytest_plugins = ["eventstore.testing.pytest_plugin"]

`eventstore_memory_backend` makes a fresh InMemoryBackend the store's default backend for one test;
`eventstore_backend` is the configured default backend, emptied first. Neither needs pytest-django,
but when it is installed they request its `db` fixture, because every save opens a transaction in
the Django database (inline projections write there), even when the events go elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from .. import store
from ..backends.base import EventStoreBackend
from .memory import InMemoryBackend

MEMORY_BACKEND = "eventstore.testing.memory.InMemoryBackend"
DATABASE_FIXTURES = (
    "db",
    "transactional_db",
    "live_server",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
)


def memory_backend_settings() -> dict[str, Any]:
    """Return the EVENTSTORE setting with its default backend replaced by an InMemoryBackend."""
    current: dict[str, Any] = dict(getattr(settings, "EVENTSTORE", None) or {})
    memory = {"BACKEND": MEMORY_BACKEND, "OPTIONS": {}}
    # Other aliases stay as they are: a test may still copy events to or from them.
    return {**current, "BACKENDS": {**current.get("BACKENDS", {}), "default": memory}}


def _allow_database(request: pytest.FixtureRequest) -> None:
    """Give the test pytest-django's database, unless it has one already or pytest-django is absent."""
    if not request.config.pluginmanager.hasplugin("django"):
        return
    if request.node.get_closest_marker("django_db") or any(name in request.fixturenames for name in DATABASE_FIXTURES):
        return
    request.getfixturevalue("db")


@pytest.fixture
def eventstore_memory_backend(request: pytest.FixtureRequest) -> Iterator[InMemoryBackend]:
    """Make a fresh InMemoryBackend the default backend for this test; return it."""
    _allow_database(request)
    with override_settings(EVENTSTORE=memory_backend_settings()):
        # override_settings makes the store forget its backend (setting_changed); forgetting it here
        # too keeps the fixture right should the app's ready() not have connected that receiver.
        store.reset_backend()
        backend = store.get_backend()
        if not isinstance(backend, InMemoryBackend):
            raise RuntimeError(
                f"The store built {backend!r} from EVENTSTORE={settings.EVENTSTORE!r}, not an InMemoryBackend."
            )
        yield backend
    store.reset_backend()


@pytest.fixture
def eventstore_backend(request: pytest.FixtureRequest) -> EventStoreBackend:
    """Return the configured default backend, emptied when it keeps events outside the test database."""
    _allow_database(request)
    store.reset_backend()  # built afresh from the settings this test runs with
    backend = store.get_backend()
    reset = getattr(backend, "reset_for_tests", None)
    if callable(reset):
        reset()
    return backend
