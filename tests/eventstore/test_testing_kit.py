"""eventstore.testing: given/when/then for aggregates and the pytest plugin's fixtures."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import Any

import pytest
from django.test import override_settings

from eventstore import store
from eventstore.aggregates import Aggregate, on
from eventstore.events import Event, event
from eventstore.exceptions import AggregateClosed
from eventstore.repository import Repository
from eventstore.testing import InMemoryBackend, given

pytest_plugins = ["eventstore.testing.pytest_plugin"]


@event("TestKitCounterOpened")
class CounterOpened(Event):
    label: str


@event("TestKitCounted")
class Counted(Event):
    by: int
    note: str = ""


@event("TestKitCounterReset")
class CounterReset(Event):
    pass


@event("TestKitCounterRetired")
class CounterRetired(Event):
    pass


class Counter(Aggregate):
    """A tiny aggregate: counts up to a limit, can be reset and retired."""

    aggregate_type = "TestKitCounter"
    tombstone = CounterRetired
    limit = 10

    def __init__(self, uuid: uuid.UUID | None = None) -> None:
        super().__init__(uuid)
        self.label = ""
        self.total = 0

    @classmethod
    def open(cls, label: str, uuid: uuid.UUID | None = None) -> Counter:
        counter = cls(uuid)
        counter.record(CounterOpened(label=label))
        return counter

    def count(self, by: int = 1, note: str = "") -> None:
        if self.total + by > self.limit:
            raise ValueError(f"{self.label} would pass {self.limit}: it is at {self.total}.")
        self.record(Counted(by=by, note=note))

    def reset(self) -> None:
        if self.total:
            self.record(CounterReset())

    def retire(self) -> None:
        self.record(CounterRetired())

    def get_state(self) -> dict[str, Any]:
        return {"label": self.label, "total": self.total}

    def set_state(self, state: dict[str, Any]) -> None:
        self.label, self.total = state["label"], state["total"]

    @on(CounterOpened)
    def _opened(self, event: CounterOpened) -> None:
        self.label = event.label

    @on(Counted)
    def _counted(self, event: Counted) -> None:
        self.total += event.by

    @on(CounterReset)
    def _reset(self, event: CounterReset) -> None:
        self.total = 0

    @on(CounterRetired)
    def _retired(self, event: CounterRetired) -> None:
        pass


OPENED = CounterOpened(label="visits")


def failure_of(check: Any) -> str:
    """Return the message of the AssertionError `check()` raises."""
    with pytest.raises(AssertionError) as caught:
        check()
    return str(caught.value)


# given / when / then


def test_then_passes_when_the_command_records_the_expected_events() -> None:
    outcome = given(Counter, OPENED, Counted(by=2)).when(lambda counter: counter.count(3, note="x"))

    outcome.then(Counted(by=3, note="x")).then_state({"label": "visits", "total": 5})
    assert outcome.aggregate.version == 3 and outcome.aggregate.persisted_version == 2


def test_given_without_events_starts_from_a_fresh_aggregate_with_the_uuid_given() -> None:
    counter_uuid = uuid.uuid4()

    outcome = given(Counter, uuid=counter_uuid).when(lambda counter: counter.count())

    outcome.then(Counted(by=1))
    assert outcome.aggregate.uuid == counter_uuid


def test_a_factory_command_returning_an_aggregate_is_the_one_checked() -> None:
    given(Counter).when(lambda _: Counter.open("visits")).then(OPENED).then_state({"label": "visits", "total": 0})


def test_then_without_events_asserts_that_nothing_was_recorded() -> None:
    given(Counter, OPENED).when(lambda counter: counter.reset()).then()

    message = failure_of(lambda: given(Counter, OPENED, Counted(by=1)).when(lambda c: c.reset()).then())

    assert "Expected events:\n  (no events)" in message
    assert "Recorded events:\n  1. CounterReset()" in message
    assert "Expected 0 event(s), recorded 1." in message


def test_a_field_that_differs_is_named_with_both_values() -> None:
    outcome = given(Counter, OPENED).when(lambda counter: counter.count(2, note="lunch"))

    message = failure_of(lambda: outcome.then(Counted(by=3, note="lunch")))

    assert message == (
        "The command recorded other events than expected.\n"
        "Expected events:\n"
        "  1. Counted(by=3, note='lunch')\n"
        "Recorded events:\n"
        "  1. Counted(by=2, note='lunch')\n"
        "First difference, event 1 (Counted):\n"
        "  by: expected 3, recorded 2"
    )


def test_an_event_of_another_class_or_a_missing_one_is_shown() -> None:
    outcome = given(Counter, OPENED, Counted(by=4)).when(lambda counter: counter.reset())

    wrong_class = failure_of(lambda: outcome.then(Counted(by=0)))
    too_many = failure_of(lambda: outcome.then(CounterReset(), Counted(by=1)))

    assert "First difference, event 1: expected Counted, recorded CounterReset." in wrong_class
    assert "  1. CounterReset()\n  2. Counted(by=1, note='')" in too_many
    assert "Expected 2 event(s), recorded 1." in too_many


def test_then_fails_when_the_command_raised() -> None:
    outcome = given(Counter, OPENED, Counted(by=9)).when(lambda counter: counter.count(2))

    with pytest.raises(AssertionError) as caught:
        outcome.then(Counted(by=2))

    assert (
        str(caught.value)
        == "Expected the command to succeed, but it raised ValueError: visits would pass 10: it is at 9."
    )
    assert isinstance(caught.value.__cause__, ValueError)


def test_then_raises_returns_the_exception_the_command_raised() -> None:
    outcome = given(Counter, OPENED, Counted(by=9)).when(lambda counter: counter.count(2))

    raised = outcome.then_raises(ValueError, match=r"would pass 10")

    assert str(raised) == "visits would pass 10: it is at 9."


def test_then_raises_fails_on_no_exception_another_exception_or_another_message() -> None:
    succeeded = given(Counter, OPENED).when(lambda counter: counter.count(1))
    failed = given(Counter, OPENED, Counted(by=10)).when(lambda counter: counter.count(1))

    nothing = failure_of(lambda: succeeded.then_raises(ValueError))
    other_class = failure_of(lambda: failed.then_raises(KeyError))
    other_message = failure_of(lambda: failed.then_raises(ValueError, match="negative"))

    assert nothing == (
        "Expected the command to raise ValueError, but it raised nothing.\n"
        "Recorded events:\n  1. Counted(by=1, note='')"
    )
    assert (
        other_class
        == "Expected the command to raise KeyError, but it raised ValueError: visits would pass 10: it is at 10."
    )
    assert (
        other_message
        == "ValueError was raised, but its message does not match 'negative':\n  visits would pass 10: it is at 10."
    )


def test_a_tombstone_among_the_given_events_closes_the_aggregate() -> None:
    given(Counter, OPENED, CounterRetired()).when(lambda counter: counter.count()).then_raises(AggregateClosed)


def test_then_state_names_the_keys_that_differ() -> None:
    outcome = given(Counter, OPENED).when(lambda counter: counter.count(2))

    message = failure_of(lambda: outcome.then_state({"label": "visits", "total": 3, "extra": None}))

    assert message == (
        "The aggregate's state differs from the expected one.\n"
        "Expected: {'label': 'visits', 'total': 3, 'extra': None}\n"
        "State:    {'label': 'visits', 'total': 2}\n"
        "  'extra': expected None, got <missing>\n"
        "  'total': expected 3, got 2"
    )


def test_importing_the_kit_needs_neither_pytest_nor_django_settings() -> None:
    code = (
        "import sys; sys.modules['pytest'] = None\n"
        "from eventstore.testing import InMemoryBackend, given\n"
        "import eventstore.testing\n"
        "try:\n    eventstore.testing.BackendContract\nexcept ImportError:\n    print('contract needs pytest')\n"
    )
    env = {"PATH": "/usr/bin:/bin"}

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)

    assert (result.returncode, result.stdout, result.stderr) == (0, "contract needs pytest\n", "")


# The pytest plugin


def test_memory_backend_fixture_receives_what_a_repository_saves(eventstore_memory_backend: InMemoryBackend) -> None:
    counter = Counter.open("visits")
    counter.count(2)

    Repository(Counter).save(counter)

    assert store.get_backend() is eventstore_memory_backend
    assert [e.name for e in eventstore_memory_backend.read_stream(counter.uuid)] == [
        "TestKitCounterOpened",
        "TestKitCounted",
    ]
    assert Repository(Counter).load(counter.uuid).total == 2


def test_each_test_gets_an_empty_memory_backend(eventstore_memory_backend: InMemoryBackend) -> None:
    assert eventstore_memory_backend.last_position() == 0


def test_the_configured_backend_is_back_after_the_memory_backend_fixture(eventstore_backend: Any) -> None:
    assert not isinstance(eventstore_backend, InMemoryBackend)
    assert store.get_backend() is eventstore_backend
    assert eventstore_backend.last_position() == 0


def test_eventstore_backend_is_the_configured_backend_emptied(eventstore_backend: Any) -> None:
    counter = Counter.open("visits")
    Repository(Counter).save(counter)

    assert eventstore_backend.get_version(counter.uuid) == 1
    assert eventstore_backend.count_streams() == 1


def test_memory_settings_replace_only_the_default_backend() -> None:
    # Imported here: the plugin module is loaded by pytest_plugins, after this module's imports.
    from eventstore.testing.pytest_plugin import memory_backend_settings

    configured = {"BACKENDS": {"default": {"BACKEND": "x.Y"}, "other": {"BACKEND": "x.Z"}}, "SNAPSHOT_EVERY": 5}

    with override_settings(EVENTSTORE=configured):
        overridden = memory_backend_settings()

    assert overridden == {
        "BACKENDS": {
            "default": {"BACKEND": "eventstore.testing.memory.InMemoryBackend", "OPTIONS": {}},
            "other": {"BACKEND": "x.Z"},
        },
        "SNAPSHOT_EVERY": 5,
    }
