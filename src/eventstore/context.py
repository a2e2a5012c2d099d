"""Who and what caused the events being appended: metadata the web layer sets per request."""

from __future__ import annotations

import contextvars
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
