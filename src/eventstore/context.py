"""Who and what caused the events being appended: metadata the web layer sets per request."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class EventContext:
    correlation_id: str | None = None
    causation_id: str | None = None
    actor: str | None = None

    def as_metadata(self) -> dict[str, Any]:
        return {key: value for key, value in vars(self).items() if value is not None}


_current: contextvars.ContextVar[EventContext] = contextvars.ContextVar("eventstore_context", default=EventContext())  # noqa: B039 - frozen


def current_context() -> EventContext:
    """Return the metadata that events appended now will carry."""
    return _current.get()


@contextmanager
def event_context(**values: str | None) -> Iterator[EventContext]:
    """Set correlation id, causation id and actor for the events appended inside the block."""
    token = _current.set(replace(_current.get(), **values))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


# Deterministic event ids: a retried request appends events with the ids of its first attempt, so the
# store's event-uuid guard (DuplicateEventError) refuses them a second time, whatever the first attempt's
# answer was lost to.

#: The namespace of ids derived with deterministic_event_ids (uuid5 of the seed, stream and index).
EVENT_ID_NAMESPACE = uuid.UUID("6f1c8f5e-2b1a-4a53-9d43-2f6a1b7c9e01")

_event_id_seed: contextvars.ContextVar[str | None] = contextvars.ContextVar("eventstore_event_id_seed", default=None)


@contextmanager
def deterministic_event_ids(seed: str) -> Iterator[None]:
    """Derive the ids of events saved inside the block from `seed`, the stream and their place in the save.

    Use one seed per logical operation (e.g. a user's Idempotency-Key), and save each stream once in it.
    """
    token = _event_id_seed.set(seed)
    try:
        yield
    finally:
        _event_id_seed.reset(token)


def event_id_seed() -> str | None:
    """Return the seed of deterministic_event_ids in force, or None."""
    return _event_id_seed.get()


def event_uuid_for(aggregate_uuid: uuid.UUID, index: int) -> uuid.UUID:
    """Return the id of the `index`-th event saved to a stream now: derived from the seed in force, else random."""
    seed = _event_id_seed.get()
    if seed is None:
        return uuid.uuid4()
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"{seed}|{aggregate_uuid}|{index}")
