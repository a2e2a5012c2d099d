"""Fixtures of the event store's own tests: projections that record what they are handed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from eventstore import projections
from eventstore.backends.base import StoredEvent
from eventstore.projections import Projection


class RecordingProjection(Projection):
    """Remember the (stream, version) of handled events; raise on one chosen event until told not to."""

    name = "test_recording"
    handles = frozenset({"MoneyDeposited"})

    def __init__(self) -> None:
        self.seen: list[tuple[uuid.UUID, int]] = []
        self.fail_on: tuple[uuid.UUID, int] | None = None

    def handle(self, event: StoredEvent) -> None:
        if (event.aggregate_uuid, event.version) == self.fail_on:
            raise RuntimeError("boom")
        self.seen.append((event.aggregate_uuid, event.version))

    def clear(self) -> None:
        self.seen = []


@pytest.fixture
def recording(backend) -> Iterator[RecordingProjection]:
    projection = RecordingProjection()
    projections.registry.register(projection, inline=False)
    yield projection
    projections.registry.unregister(projection.name)


@pytest.fixture
def inline_recording(backend) -> Iterator[RecordingProjection]:
    projection = RecordingProjection()
    projections.registry.register(projection, inline=True)
    yield projection
    projections.registry.unregister(projection.name)
