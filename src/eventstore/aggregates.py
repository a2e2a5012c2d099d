"""The aggregate base class: state rebuilt by applying events, changes recorded as new events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Self, TypeVar
from uuid import UUID, uuid4

from .events import Event
from .exceptions import AggregateClosed

Handler = Callable[[Any, Any], None]
H = TypeVar("H", bound=Handler)


def on(event_class: type[Event]) -> Callable[[H], H]:
    """Mark a method as the handler that applies `event_class` to the aggregate's state."""

    def decorate(method: H) -> H:
        method._handles = event_class  # type: ignore[attr-defined]
        return method

    return decorate


class Aggregate:
    """Base class of event-sourced aggregates.

    Subclasses register a handler per event class with @on, record new facts with `record()`,
    and describe their state as a JSON-ready dict (`get_state`/`set_state`) for snapshots and
    for people reading it. A tombstone event class closes the aggregate for good.
    """

    #: The name stored with each event; defaults to the class name.
    aggregate_type: ClassVar[str] = ""
    #: The event that closes the aggregate; nothing may be recorded after it.
    tombstone: ClassVar[type[Event] | None] = None
    #: Bump when get_state's shape changes: older snapshots are then ignored, not trusted.
    state_schema_version: ClassVar[int] = 1
    _handlers: ClassVar[dict[type[Event], Handler]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("aggregate_type"):
            cls.aggregate_type = cls.__name__
        handlers = dict(cls._handlers)
        for attribute in vars(cls).values():
            event_class = getattr(attribute, "_handles", None)
            if event_class is not None:
                handlers[event_class] = attribute
        cls._handlers = handlers

    def __init__(self, uuid: UUID | None = None) -> None:
        self.uuid: UUID = uuid or uuid4()
        self.version: int = 0
        self.closed: bool = False
        self.changes: list[Event] = []

    @classmethod
    def handled_events(cls) -> list[type[Event]]:
        """Return the event classes this aggregate knows how to apply."""
        return list(cls._handlers)

    @property
    def persisted_version(self) -> int:
        """Return the version the store holds: the version before the pending changes."""
        return self.version - len(self.changes)

    def apply(self, event: Event) -> None:
        """Apply one event to the state (rehydration); the version moves on by one."""
        handler = self._handlers.get(type(event))
        if handler is None:
            raise TypeError(f"{type(self).__name__} has no handler for {type(event).__name__}.")
        handler(self, event)
        self.version += 1
        if self.tombstone is not None and isinstance(event, self.tombstone):
            self.closed = True

    def record(self, event: Event) -> None:
        """Apply a new fact and queue it to be saved."""
        if self.closed:
            raise AggregateClosed(self.uuid, self.version, self)
        self.apply(event)
        self.changes.append(event)

    def clear_changes(self) -> None:
        """Forget the pending changes (the repository calls this once they are stored)."""
        self.changes = []

    def get_state(self) -> dict[str, Any]:
        """Return the state as a JSON-ready dict: for snapshots, diffs and people."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_state() to be snapshotted.")

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore the state saved by get_state()."""
        raise NotImplementedError(f"{type(self).__name__} must implement set_state() to be snapshotted.")

    @classmethod
    def from_state(cls, uuid: UUID, version: int, state: dict[str, Any]) -> Self:
        """Return an aggregate restored from a snapshot's state at `version` (never a closed one)."""
        aggregate = cls(uuid)
        aggregate.set_state(state)
        aggregate.version = version
        return aggregate

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.uuid} v{self.version}{' closed' if self.closed else ''}>"
