"""Helpers of the indexer's tests: a DynamoDB backend in the indexer's mode, and waiting for the index."""

from __future__ import annotations

import time
from collections import Counter

from django.conf import settings

from eventstore.backends.base import StoredEvent
from eventstore.backends.dynamodb import DynamoDBBackend
from eventstore.backends.dynamodb_indexer import Indexer

SETTLE_SECONDS = 30.0


def indexed_backend(**options: object) -> DynamoDBBackend:
    """Return a DynamoDB backend whose positions the indexer assigns (the suite's default is "append"), emptied."""
    configured = settings.EVENTSTORE["BACKENDS"]["dynamodb"]["OPTIONS"]
    backend = DynamoDBBackend(**{**configured, "GLOBAL_ORDER": "indexer", **options})
    backend.reset_for_tests()
    return backend


def settle(backend: DynamoDBBackend, indexer: Indexer | None = None) -> None:
    """Run an indexer until every stream head is indexed; fail, naming what is left, after SETTLE_SECONDS."""
    indexer = indexer or Indexer(backend, owner="settle")
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        indexer.step()
        pending = indexer.pending()
        if pending == 0:
            return
        assert time.monotonic() < deadline, f"{pending} event(s) still have no position after {SETTLE_SECONDS}s"
        time.sleep(0.05)


def assert_dense_and_whole(events: list[StoredEvent], expected: dict[object, int]) -> None:
    """Assert positions 1..N, each (stream, version) once, each stream's versions 1..v in position order."""
    assert [event.position for event in events] == list(range(1, len(events) + 1))
    seen = Counter((event.aggregate_uuid, event.version) for event in events)
    assert not [key for key, count in seen.items() if count > 1], "an event has two positions"
    by_stream: dict[object, list[int]] = {}
    for event in events:
        by_stream.setdefault(event.aggregate_uuid, []).append(event.version)
    assert {stream: versions[-1] for stream, versions in by_stream.items()} == expected
    for stream, versions in by_stream.items():
        assert versions == list(range(1, len(versions) + 1)), f"stream {stream} is out of order: {versions}"
