"""Fixtures of the DynamoDB backend's own tests; they run only in bin/test's DynamoDB suites."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eventstore.backends.base import EventStoreBackend
from eventstore.backends.dynamodb import DynamoDBBackend

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("EVENTSTORE_BACKEND") == "dynamodb":
        return
    skip = pytest.mark.skip(reason="needs the DynamoDB backend (bin/test's dynamodb-local and moto suites)")
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)


@pytest.fixture
def ddb(backend: EventStoreBackend) -> Iterator[DynamoDBBackend]:
    """Return the configured DynamoDB backend, its tables empty."""
    assert isinstance(backend, DynamoDBBackend)
    yield backend


@pytest.fixture
def calls(ddb: DynamoDBBackend) -> Iterator[Counter[str]]:
    """Count the backend's DynamoDB calls by operation name, as they go over the wire."""
    counter: Counter[str] = Counter()

    def count(model: Any, **kwargs: Any) -> None:
        counter[model.name] += 1

    ddb.client.meta.events.register("before-call.dynamodb", count)
    yield counter
    ddb.client.meta.events.unregister("before-call.dynamodb", count)


@pytest.fixture
def dynamodb_local(ddb: DynamoDBBackend) -> bool:
    """Return whether the endpoint is DynamoDB Local (a Jetty server) rather than moto."""
    headers = ddb.client.list_tables(Limit=1)["ResponseMetadata"]["HTTPHeaders"]
    return "jetty" in headers.get("server", "").lower()
