"""Subscriptions: events delivered to code outside the append, from a checkpoint, by a worker process.

A subscription names the events it wants (all when it names none) and a handler that receives each
one decoded, as a `Delivery`. `manage.py run_subscriptions` follows the store in global order from
each subscription's checkpoint (see `eventstore.worker`); the checkpoint moves only after the handler
has returned, so delivery is at least once. A `transactional` subscription runs its handler inside a
transaction of the Django database that also moves the checkpoint: writes the handler makes there
commit with it, or not at all, so they happen effectively once.

    # myapp/repositories.py
    import eventstore
    from .domain import OrderPlaced

    @eventstore.register_subscription("order_emails", events=[OrderPlaced], attempts=5)
    def send_confirmation(delivery: eventstore.Delivery) -> None:
        ...

Nothing here touches a model, so it imports before the app registry is ready.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from .events import Event
from .exceptions import UnknownSubscription

Handler = Callable[["Delivery"], object]
Start = Literal["beginning", "now"]
OnFailure = Literal["park", "stop"]

#: Largest batch a subscription may read at once: the worker holds one batch in memory.
MAX_BATCH_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event handed to a subscription's handler: the decoded event and where it stands in the store."""

    event: Event
    event_name: str
    event_uuid: UUID
    aggregate_uuid: UUID
    aggregate_type: str
    version: int
    position: int
    metadata: dict[str, Any]
    recorded_at: datetime
    subscription: str
    #: 1 on the first try; retries (after the handler raised, or from the admin) count on.
    attempt: int = 1


@dataclass(frozen=True)
class Subscription:
    """A named consumer of events and how to deliver to it.

    `events`: event names or Event classes (None: every event). `attempts`: tries per event before
    `on_failure` ("park": set the event aside and go on; "stop": stop the subscription at it).
    `backoff`: seconds before the second try, doubling after each, at most `max_backoff`.
    `start`: where a new subscription begins ("beginning" of the store, or "now": only later events).
    `transactional`: run the handler in the Django database transaction that moves the checkpoint.
    """

    name: str
    handler: Handler
    events: Collection[str | type[Event]] | None = None
    batch_size: int = 100
    attempts: int = 3
    backoff: float = 1.0
    max_backoff: float = 60.0
    start: Start = "beginning"
    on_failure: OnFailure = "park"
    transactional: bool = False

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 100:
            raise ValueError(f"A subscription needs a name of 1 to 100 characters, not {self.name!r}.")
        if not callable(self.handler):
            raise TypeError(f"Subscription {self.name}: the handler must be callable.")
        if self.events is not None:
            object.__setattr__(self, "events", frozenset(_event_names(self.events)))
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"Subscription {self.name}: batch_size must be 1 to {MAX_BATCH_SIZE}.")
        if self.attempts < 1:
            raise ValueError(f"Subscription {self.name}: attempts must be at least 1.")
        if self.backoff < 0 or self.max_backoff < 0:
            raise ValueError(f"Subscription {self.name}: backoff and max_backoff must not be negative.")
        if self.start not in ("beginning", "now"):
            raise ValueError(f"Subscription {self.name}: start must be 'beginning' or 'now', not {self.start!r}.")
        if self.on_failure not in ("park", "stop"):
            raise ValueError(f"Subscription {self.name}: on_failure must be 'park' or 'stop'.")

    def wants(self, event_name: str) -> bool:
        """Return whether the subscription receives events of that name."""
        return self.events is None or event_name in self.events

    def delay(self, attempt: int) -> float:
        """Return the seconds to wait after the `attempt`-th try failed (exponential, capped)."""
        return float(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))


def _event_names(events: Iterable[str | type[Event]]) -> Iterable[str]:
    if isinstance(events, str):
        raise TypeError("events is a list of event names or classes, not one string.")
    for item in events:
        name = item if isinstance(item, str) else getattr(item, "event_name", "")
        if not name:
            raise TypeError(f"{item!r} is neither an event name nor a registered Event class.")
        yield name


class SubscriptionRegistry:
    """The project's subscriptions, by name."""

    def __init__(self) -> None:
        self._subscriptions: dict[str, Subscription] = {}
        # (name, handler registered first, handler refused): reported by the system checks (eventstore.E006).
        self.conflicts: list[tuple[str, Handler, Handler]] = []
        self._lock = threading.Lock()

    def register(self, subscription: Subscription) -> Subscription:
        """Register a subscription; return the one registered under its name.

        The same handler again (a module imported twice) replaces the options; another handler under a
        taken name is refused and reported by the system checks, as aggregates are.
        """
        with self._lock:
            existing = self._subscriptions.get(subscription.name)
            if existing is None or _same_function(existing.handler, subscription.handler):
                self._subscriptions[subscription.name] = subscription
                return subscription
            self.conflicts.append((subscription.name, existing.handler, subscription.handler))
            return existing

    def unregister(self, name: str) -> None:
        """Forget a subscription (its checkpoint and parked events stay in the database)."""
        with self._lock:
            self._subscriptions.pop(name, None)

    def get(self, name: str) -> Subscription:
        """Return the subscription; raise UnknownSubscription naming the registered ones."""
        try:
            return self._subscriptions[name]
        except KeyError:
            raise UnknownSubscription(name, self.names()) from None

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        return sorted(self._subscriptions)

    def all(self) -> list[Subscription]:
        """Return the registered subscriptions, by name."""
        return [self._subscriptions[name] for name in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._subscriptions


def _same_function(first: Handler, second: Handler) -> bool:
    return first is second or (
        getattr(first, "__module__", None) == getattr(second, "__module__", None)
        and getattr(first, "__qualname__", None) == getattr(second, "__qualname__", None)
    )


#: The project's subscriptions: what `eventstore.register_subscription` fills and the workers ask.
registry = SubscriptionRegistry()


def register_subscription(name: str | Subscription, handler: Handler | None = None, **options: Any) -> Any:
    """Register a subscription: a Subscription, or a name, a handler and Subscription options.

    Without a handler, return a decorator that registers the function it decorates (and returns it).
    """
    if isinstance(name, Subscription):
        if handler is not None or options:
            raise TypeError("Options go to Subscription(...), not to register_subscription(subscription).")
        return registry.register(name)
    if handler is None:

        def decorate(function: Handler) -> Handler:
            registry.register(Subscription(name, function, **options))
            return function

        return decorate
    return registry.register(Subscription(name, handler, **options))
