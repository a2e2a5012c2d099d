"""An event store for Django: immutable events, aggregates rebuilt from their history.

What a project imports, in one line::

    from eventstore import Aggregate, Event, Repository, event, on, register, upcaster

Everything here imports before Django's app registry is ready (no model is touched), so domain
modules can use it at import time. Projections, which live beside models, import from
`eventstore.projections` (also reachable here, lazily: `eventstore.ModelProjection`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .aggregates import Aggregate, on
from .context import deterministic_event_ids, event_context
from .events import Event, event, upcaster
from .exceptions import (
    AggregateClosed,
    AggregateNotFound,
    BackendUnavailable,
    ConcurrencyError,
    DuplicateEventError,
    EventDecodeError,
    EventLimitError,
    EventStoreError,
    UnknownAggregateType,
    UnknownEventError,
    UnknownSubscription,
    VersionNotFound,
)
from .registry import register, register_projection, register_subscription, repositories
from .repository import Repository
from .signals import events_appended, events_committed
from .store import get_backend
from .subscriptions import Delivery, Subscription

if TYPE_CHECKING:
    from .projections import ModelProjection, Projection

__version__ = "0.2.0"

__all__ = [
    "Aggregate",
    "AggregateClosed",
    "AggregateNotFound",
    "BackendUnavailable",
    "ConcurrencyError",
    "Delivery",
    "DuplicateEventError",
    "Event",
    "EventDecodeError",
    "EventLimitError",
    "EventStoreError",
    "ModelProjection",
    "Projection",
    "Repository",
    "Subscription",
    "UnknownAggregateType",
    "UnknownEventError",
    "UnknownSubscription",
    "VersionNotFound",
    "deterministic_event_ids",
    "event",
    "event_context",
    "events_appended",
    "events_committed",
    "get_backend",
    "on",
    "register",
    "register_projection",
    "register_subscription",
    "repositories",
    "upcaster",
]

# Names whose modules import Django models: loaded on first use, once the app registry is ready.
_LAZY = {"ModelProjection": "projections", "Projection": "projections"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
