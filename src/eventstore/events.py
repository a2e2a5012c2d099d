"""Domain events: immutable typed values, a registry of their names, and upcasting of old payloads.

An event class is a frozen dataclass registered under a stable name with a schema version.
Stored payloads written under an older schema are upcast, one version at a time, when read;
the stored rows are never rewritten.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, dataclass_transform
from uuid import UUID

from .exceptions import EventDecodeError, UnknownEventError

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


@dataclasses.dataclass(frozen=True)
class Event:
    """Base class of domain events. Subclasses are frozen dataclasses registered with @event."""

    event_name: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1

    def to_payload(self) -> Payload:
        """Return the event's data as a JSON-ready dict."""
        return dataclasses.asdict(self)


E = TypeVar("E", bound=type[Event])


class EventRegistry:
    """Map stored event names to classes, and old schema versions to upcasters."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Event]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        # (name, class registered first, class refused): reported by the system checks (eventstore.E004).
        self.conflicts: list[tuple[str, type[Event], type[Event]]] = []

    def register(self, cls: type[Event], name: str, schema_version: int = 1) -> type[Event]:
        """Map `name` to `cls`; a second class under a taken name is refused and reported by the checks.

        Not raised here: an import-time error would stop the project before `manage.py check` could
        name both classes.
        """
        existing = self._classes.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            self.conflicts.append((name, existing, cls))
            cls.event_name = name
            cls.schema_version = schema_version
            return cls
        cls.event_name = name
        cls.schema_version = schema_version
        self._classes[name] = cls
        return cls

    def add_upcaster(self, name: str, from_version: int, upcaster: Upcaster) -> None:
        self._upcasters[(name, from_version)] = upcaster

    def get(self, name: str) -> type[Event] | None:
        return self._classes.get(name)

    def names(self) -> list[str]:
        return sorted(self._classes)

    def upcast(self, name: str, schema_version: int, data: Payload) -> Payload:
        """Return `data` brought from `schema_version` to the current schema of event `name`."""
        cls = self._classes[name]
        if schema_version > cls.schema_version:
            raise ValueError(f"stored schema {schema_version} is newer than the code's schema {cls.schema_version}")
        while schema_version < cls.schema_version:
            upcaster = self._upcasters.get((name, schema_version))
            if upcaster is None:
                raise ValueError(f"no upcaster from schema {schema_version} to {schema_version + 1}")
            data = upcaster(dict(data))
            schema_version += 1
        return data

    def decode(
        self,
        name: str,
        schema_version: int,
        data: Payload,
        aggregate_uuid: UUID | None = None,
        version: int | None = None,
    ) -> Event:
        """Return the event object for a stored payload, upcasting it first."""
        cls = self._classes.get(name)
        if cls is None:
            raise UnknownEventError(name, aggregate_uuid, version)
        try:
            return cls(**self.upcast(name, schema_version, data))
        except (TypeError, ValueError, KeyError) as exc:
            raise EventDecodeError(name, schema_version, str(exc), aggregate_uuid, version) from exc


registry = EventRegistry()


@dataclass_transform(frozen_default=True)
def event(name: str, schema_version: int = 1) -> Callable[[E], E]:
    """Register an Event subclass under a stable stored name, making it a frozen dataclass."""

    def decorate(cls: E) -> E:
        if "__dataclass_fields__" not in cls.__dict__:
            cls = dataclasses.dataclass(frozen=True)(cls)  # type: ignore[assignment]
        registry.register(cls, name, schema_version)
        return cls

    return decorate


def upcaster(name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function that turns a payload of `from_version` into `from_version + 1`."""

    def decorate(fn: Upcaster) -> Upcaster:
        registry.add_upcaster(name, from_version, fn)
        return fn

    return decorate
