"""Given/when/then for aggregates: a command's outcome checked as events, with no storage at all.

    given(ShoppingCart, CartOpened(shopping_cart_uuid=u), uuid=u).when(
        lambda cart: cart.add_item("apple", 2)
    ).then(ItemAdded(name="apple", quantity=2))

    given(ShoppingCart).when(lambda cart: cart.remove_item("pear")).then_raises(ItemNotInCart, match="pear")

`given` replays its events with `Aggregate.apply`, as loading from the store does, so the aggregate
starts with no pending changes; `then` compares the events the command recorded (`aggregate.changes`)
with the expected ones, in order, by equality (events are frozen dataclasses).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Any, Generic, Self, TypeVar
from uuid import UUID

from ..aggregates import Aggregate
from ..events import Event

A = TypeVar("A", bound=Aggregate)
X = TypeVar("X", bound=Exception)


def given(aggregate_class: type[A], *events: Event, uuid: UUID | None = None) -> Given[A]:
    """Return a fresh `aggregate_class` (of `uuid`, if given) with `events` replayed as its history."""
    aggregate = aggregate_class(uuid)
    for event in events:
        aggregate.apply(event)
    return Given(aggregate)


class Given(Generic[A]):
    """An aggregate rebuilt from its history, waiting for the command under test."""

    def __init__(self, aggregate: A) -> None:
        self.aggregate = aggregate

    def when(self, command: Callable[[A], object]) -> When[A]:
        """Run `command` on the aggregate and keep its outcome: the events it recorded, or what it raised.

        A command that returns another aggregate of the same class (a factory such as
        `Cart.open(uuid)`) makes that one the aggregate whose events are checked.
        """
        try:
            result = command(self.aggregate)
        except Exception as exc:
            return When(self.aggregate, raised=exc)
        if isinstance(result, type(self.aggregate)) and result is not self.aggregate:
            return When(result)
        return When(self.aggregate)


class When(Generic[A]):
    """The outcome of a command: check it with `then`, `then_raises` or `then_state`."""

    def __init__(self, aggregate: A, *, raised: Exception | None = None) -> None:
        self.aggregate = aggregate
        self.raised = raised

    @property
    def recorded(self) -> list[Event]:
        """Return the events the command recorded."""
        return list(self.aggregate.changes)

    def then(self, *expected: Event) -> Self:
        """Assert that the command recorded exactly `expected`, in order (nothing, when none are given)."""
        self._fail_if_raised()
        recorded = self.recorded
        if recorded != list(expected):
            raise AssertionError(describe_difference(list(expected), recorded))
        return self

    def then_raises(self, exception_class: type[X], match: str | None = None) -> X:
        """Assert that the command raised `exception_class` (its message matching the regex `match`); return it."""
        if self.raised is None:
            raise AssertionError(
                f"Expected the command to raise {exception_class.__name__}, but it raised nothing.\n"
                f"Recorded events:\n{format_events(self.recorded)}"
            )
        if not isinstance(self.raised, exception_class):
            raise AssertionError(
                f"Expected the command to raise {exception_class.__name__}, "
                f"but it raised {type(self.raised).__name__}: {self.raised}"
            ) from self.raised
        if match is not None and not re.search(match, str(self.raised)):
            raise AssertionError(
                f"{type(self.raised).__name__} was raised, but its message does not match {match!r}:\n  {self.raised}"
            ) from self.raised
        return self.raised

    def then_state(self, expected: dict[str, Any]) -> Self:
        """Assert that the aggregate's `get_state()` after the command equals `expected`."""
        self._fail_if_raised()
        state = self.aggregate.get_state()
        if state != expected:
            lines = [
                "The aggregate's state differs from the expected one.",
                f"Expected: {expected!r}",
                f"State:    {state!r}",
            ]
            for key in sorted(expected.keys() | state.keys(), key=str):
                want, have = expected.get(key, _MISSING), state.get(key, _MISSING)
                if want != have:
                    lines.append(f"  {key!r}: expected {want!r}, got {have!r}")
            raise AssertionError("\n".join(lines))
        return self

    def _fail_if_raised(self) -> None:
        if self.raised is not None:
            raise AssertionError(
                f"Expected the command to succeed, but it raised {type(self.raised).__name__}: {self.raised}"
            ) from self.raised


class _Missing:
    """A key absent from one of two states (None could be a value)."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def format_event(event: Event) -> str:
    """Return `Name(field=value, ...)`, the event's class name and fields."""
    if dataclasses.is_dataclass(event):
        fields = ", ".join(f"{field.name}={getattr(event, field.name)!r}" for field in dataclasses.fields(event))
    else:
        fields = repr(event)
    return f"{type(event).__name__}({fields})"


def format_events(events: Sequence[Event]) -> str:
    """Return the events one a line, numbered from 1, or a line saying there are none."""
    if not events:
        return "  (no events)"
    return "\n".join(f"  {number}. {format_event(event)}" for number, event in enumerate(events, start=1))


def describe_difference(expected: Sequence[Event], recorded: Sequence[Event]) -> str:
    """Return a failure message showing both lists of events and where they first part."""
    lines = [
        f"The command recorded other events than expected.\nExpected events:\n{format_events(expected)}\n"
        f"Recorded events:\n{format_events(recorded)}"
    ]
    for number, (wanted, got) in enumerate(zip(expected, recorded, strict=False), start=1):
        if wanted == got:
            continue
        if type(wanted) is not type(got):
            wanted_name, got_name = type(wanted).__name__, type(got).__name__
            lines.append(f"First difference, event {number}: expected {wanted_name}, recorded {got_name}.")
        else:
            lines.append(f"First difference, event {number} ({type(got).__name__}):")
            for field in dataclasses.fields(got) if dataclasses.is_dataclass(got) else ():
                want, have = getattr(wanted, field.name), getattr(got, field.name)
                if want != have:
                    lines.append(f"  {field.name}: expected {want!r}, recorded {have!r}")
        break
    else:
        lines.append(f"Expected {len(expected)} event(s), recorded {len(recorded)}.")
    return "\n".join(lines)
