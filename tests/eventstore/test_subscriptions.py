"""Subscriptions in one process: delivery in global order, retries, parking, stopping, leases and the command."""

from __future__ import annotations

import gc
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError
from django.test import override_settings
from django.utils import timezone

import eventstore
from eventstore import parking, store
from eventstore import subscription_state as state
from eventstore.backends.base import StoredEvent
from eventstore.checks import check_registries, check_settings
from eventstore.exceptions import BackendUnavailable, LeaseLost, UnknownSubscription
from eventstore.models import ParkedEvent, SubscriptionState
from eventstore.subscriptions import Delivery, Subscription, registry
from eventstore.worker import READ_PAGE, Worker
from tests.factories import AccountFactory, append_stream
from tests.testapp.domain import AccountOpened, MoneyDeposited
from tests.testapp.models import Delivered

SubscriptionFactory = Callable[..., Subscription]


def record(delivery: Delivery) -> None:
    """A handler that writes what it received to the Delivered table."""
    Delivered.record(delivery)


@pytest.fixture
def subscribe(backend) -> Iterator[SubscriptionFactory]:
    """Return a function that registers a subscription (handler `record` unless given) for the test."""
    names: list[str] = []

    def make(name: str = "test_sub", handler: Callable[[Delivery], object] = record, **options) -> Subscription:
        options.setdefault("backoff", 0)
        subscription = eventstore.register_subscription(name, handler, **options)
        names.append(name)
        return subscription

    yield make
    for name in names:
        registry.unregister(name)


def run(*subscriptions: Subscription, **options) -> Worker:
    worker = Worker(list(subscriptions), poll_seconds=0.01, **options)
    worker.run(until_caught_up=True)
    return worker


def delivered(name: str = "test_sub") -> list[tuple[int, str, int]]:
    return list(Delivered.objects.filter(subscription=name).values_list("position", "event_name", "attempt"))


def positions(name: str = "test_sub") -> list[int]:
    return [position for position, _, _ in delivered(name)]


def checkpoint(name: str = "test_sub") -> int:
    return SubscriptionState.objects.get(name=name).position


# Delivery


def test_events_reach_the_handler_decoded_in_global_order_with_their_coordinates(subscribe):
    seen: list[Delivery] = []
    subscription = subscribe(handler=seen.append, batch_size=2)
    first = AccountFactory(deposits=[5, 7])
    second = AccountFactory(deposits=[1])
    with eventstore.event_context(correlation_id="corr-1"):
        AccountFactory(owner="bob", deposits=[])

    worker = run(subscription)

    stored = list(store.get_backend().read_all())
    assert [d.position for d in seen] == [e.position for e in stored]
    assert [(d.aggregate_uuid, d.version) for d in seen[:3]] == [(first.uuid, 1), (first.uuid, 2), (first.uuid, 3)]
    assert seen[0].event == AccountOpened(owner="ann") and seen[1].event == MoneyDeposited(amount=5, currency="EUR")
    assert {d.aggregate_type for d in seen} == {"Account"} and seen[3].aggregate_uuid == second.uuid
    assert seen[-1].metadata["correlation_id"] == "corr-1" and seen[-1].event_name == "AccountOpened"
    assert all(d.attempt == 1 and d.subscription == "test_sub" for d in seen)
    assert checkpoint() == stored[-1].position == worker.tallies["test_sub"].position
    assert worker.tallies["test_sub"].delivered == 6
    assert SubscriptionState.objects.get(name="test_sub").lease_owner == ""  # released on the way out


def test_only_the_events_named_are_delivered_and_the_checkpoint_moves_past_the_others(subscribe):
    subscription = subscribe(events=[MoneyDeposited], batch_size=3)
    AccountFactory(deposits=[1, 2])
    AccountFactory(deposits=[3])

    run(subscription)

    assert [name for _, name, _ in delivered()] == ["MoneyDeposited"] * 3
    assert checkpoint() == store.get_backend().last_position()


def test_a_second_run_delivers_only_what_came_after_the_checkpoint(subscribe):
    subscription = subscribe()
    AccountFactory(deposits=[1])
    run(subscription)
    later = AccountFactory(deposits=[])

    run(subscription)

    assert len(delivered()) == 3
    assert delivered()[-1][0] == store.get_backend().last_position()
    assert Delivered.objects.last().aggregate_uuid == later.uuid


def test_a_subscription_starting_now_skips_the_events_stored_before_it(subscribe):
    AccountFactory(deposits=[1, 2])
    subscription = subscribe(start="now")
    run(subscription)
    assert delivered() == []
    AccountFactory(deposits=[])

    run(subscription)

    assert [name for _, name, _ in delivered()] == ["AccountOpened"]


# Failures


def flaky(failures: int) -> Callable[[Delivery], None]:
    """Return a handler that raises on its first `failures` tries of each event, then records it."""

    def handler(delivery: Delivery) -> None:
        if delivery.attempt <= failures:
            raise ConnectionError(f"mail server down (try {delivery.attempt})\nsecret payload line")
        record(delivery)

    return handler


def test_a_handler_that_fails_twice_then_succeeds_delivers_the_event_once(subscribe):
    subscription = subscribe(handler=flaky(2), attempts=3)
    AccountFactory(deposits=[])

    worker = run(subscription)

    assert [(name, attempt) for _, name, attempt in delivered()] == [("AccountOpened", 3)]
    assert ParkedEvent.objects.count() == 0 and worker.tallies["test_sub"].parked == 0
    row = SubscriptionState.objects.get(name="test_sub")
    assert row.position == positions()[0]
    assert "attempt 2 of 3): ConnectionError: mail server down (try 2)" in row.last_error
    assert "secret payload" not in row.last_error


def test_retries_wait_with_exponential_backoff_up_to_a_cap():
    subscription = Subscription("backoff", record, backoff=0.5, max_backoff=3)
    assert [subscription.delay(attempt) for attempt in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_poison_event_is_parked_while_the_rest_go_on_then_retried(subscribe, admin_user):
    poison: set[int] = set()

    def handler(delivery: Delivery) -> None:
        if delivery.position in poison:
            raise ValueError("cannot handle this one")
        record(delivery)

    subscription = subscribe(handler=handler, attempts=2, batch_size=2)
    account = AccountFactory(deposits=[1, 2, 3])
    events = list(store.get_backend().read_all())
    poison.add(events[2].position)

    worker = run(subscription)

    assert positions() == [e.position for e in events if e.position not in poison]
    assert checkpoint() == events[-1].position
    parked = ParkedEvent.objects.get()
    assert (parked.subscription, parked.position, parked.aggregate_uuid, parked.version) == (
        "test_sub",
        events[2].position,
        account.uuid,
        3,
    )
    assert (parked.event_name, parked.attempts, parked.status) == ("MoneyDeposited", 2, ParkedEvent.PARKED)
    assert parked.first_failed_at <= parked.last_failed_at
    assert "ValueError: cannot handle this one" in parked.error and f"stream {account.uuid} version 3" in parked.error
    assert worker.tallies["test_sub"].parked == 1 and parking.parked_count("test_sub") == 1

    poison.clear()
    assert parking.request_retry([parked], by="admin") == 1
    run(subscription)

    parked.refresh_from_db()
    assert (parked.status, parked.retried_by) == (ParkedEvent.DELIVERED, "admin")
    assert parked.retried_at is not None and parked.delivered_at is not None
    assert positions().count(events[2].position) == 1 and delivered()[-1][2] == 1
    assert parking.parked_count("test_sub") == 0


def test_a_retry_that_fails_again_parks_the_event_again_counting_the_attempts(subscribe):
    subscription = subscribe(handler=flaky(99), attempts=2)
    AccountFactory(deposits=[])
    run(subscription)
    parked = ParkedEvent.objects.get()
    parking.request_retry([parked.pk], by="ops")

    run(subscription)

    parked.refresh_from_db()
    assert (parked.status, parked.attempts) == (ParkedEvent.PARKED, 4)


def test_a_skipped_event_is_never_delivered_and_says_who_skipped_it(subscribe):
    subscription = subscribe(handler=flaky(99), attempts=1)
    AccountFactory(deposits=[])
    run(subscription)
    parked = ParkedEvent.objects.get()

    assert parking.skip([parked], by="ops") == 1
    assert parking.request_retry([parked], by="ops") == 0  # only parked events can be retried
    run(subscription)

    parked.refresh_from_db()
    assert (parked.status, parked.skipped_by, parked.attempts) == (ParkedEvent.SKIPPED, "ops", 1)
    assert parked.skipped_at is not None and delivered() == []


def test_a_subscription_set_to_stop_stops_before_the_failing_event_until_resumed(subscribe):
    fail = {"on": True}

    def handler(delivery: Delivery) -> None:
        if fail["on"] and delivery.event_name == "MoneyDeposited":
            raise RuntimeError("bug")
        record(delivery)

    subscription = subscribe(handler=handler, on_failure="stop", attempts=1)
    AccountFactory(deposits=[1, 2])
    opened = store.get_backend().last_position() - 2

    with pytest.raises(CommandError, match="Stopped: test_sub"):
        call_command("run_subscriptions", "--until-caught-up", stdout=StringIO())

    row = SubscriptionState.objects.get(name="test_sub")
    assert (row.status, row.position) == (SubscriptionState.STOPPED, opened)
    assert "RuntimeError: bug" in row.last_error and ParkedEvent.objects.count() == 0
    run(subscription)
    assert positions() == [opened]  # a stopped subscription is left alone

    fail["on"] = False
    assert state.resume("test_sub")
    run(subscription)
    assert positions() == [opened, opened + 1, opened + 2]
    assert SubscriptionState.objects.get(name="test_sub").status == SubscriptionState.ACTIVE


def test_a_worker_told_to_stop_while_waiting_to_retry_leaves_the_event_undelivered(subscribe):
    worker: Worker

    def handler(delivery: Delivery) -> None:
        if delivery.event_name == "MoneyDeposited":
            worker.stop()
            raise ConnectionError("down")
        record(delivery)

    subscription = subscribe(handler=handler, attempts=5, backoff=30)
    AccountFactory(deposits=[1])
    worker = Worker([subscription], poll_seconds=0.01)

    worker.run()

    assert checkpoint() == positions()[0]  # after AccountOpened, before the deposit
    assert ParkedEvent.objects.count() == 0


def test_an_event_that_does_not_decode_is_parked_like_a_failure(subscribe):
    subscription = subscribe(attempts=1)
    append_stream(1, aggregate_type="Account")  # MoneyDeposited schema 2 without an opening: decodes
    store.get_backend().append(uuid.uuid4(), "Other", 0, [eventstore_new_event("NoSuchEvent")])

    run(subscription)

    assert ParkedEvent.objects.get().event_name == "NoSuchEvent"
    assert "UnknownEventError" in ParkedEvent.objects.get().error


def eventstore_new_event(name: str):
    from eventstore.backends.base import NewEvent

    return NewEvent(name, {"secret": "payload"})


# Effectively once: the handler's writes commit with the checkpoint


def test_a_transactional_handler_commits_its_writes_with_the_checkpoint(subscribe):
    def handler(delivery: Delivery) -> None:
        record(delivery)
        if delivery.event_name == "MoneyDeposited" and delivery.attempt == 1:
            raise RuntimeError("after writing")

    subscription = subscribe(handler=handler, transactional=True, attempts=2)
    AccountFactory(deposits=[4])

    run(subscription)

    # The failed first try of the deposit wrote a row that rolled back with it.
    assert [(name, attempt) for _, name, attempt in delivered()] == [("AccountOpened", 1), ("MoneyDeposited", 2)]
    assert checkpoint() == positions()[-1]


def test_a_transactional_handler_commits_nothing_once_another_worker_took_the_lease(subscribe):
    def handler(delivery: Delivery) -> None:
        record(delivery)
        SubscriptionState.objects.filter(name="test_sub").update(lease_owner="someone-else")

    subscription = subscribe(handler=handler, transactional=True)
    AccountFactory(deposits=[])
    worker = Worker([subscription], poll_seconds=0.01)

    assert worker.step(subscription).value == "waiting"

    assert delivered() == [] and checkpoint() == 0


def test_a_store_or_database_failure_is_logged_and_the_worker_goes_on_from_the_checkpoint(subscribe, caplog):
    subscription = subscribe()
    AccountFactory(deposits=[1])
    backend = store.get_backend()
    original, failures = backend.read_all, [BackendUnavailable("store down"), DatabaseError("db down\nrow values")]

    def read_all(after_position: int = 0, *, batch_size: int = 1000):
        if failures:
            raise failures.pop(0)
        return original(after_position, batch_size=batch_size)

    backend.read_all = read_all  # type: ignore[method-assign]
    try:
        worker = Worker([subscription], poll_seconds=0.01)
        assert [worker.step(subscription).value for _ in range(2)] == ["waiting", "waiting"]
        worker.run(until_caught_up=True)
    finally:
        del backend.read_all

    assert [name for _, name, _ in delivered()] == ["AccountOpened", "MoneyDeposited"]
    messages = [record.getMessage() for record in caplog.records if record.name == "eventstore.subscriptions"]
    assert "Subscription test_sub: BackendUnavailable: store down; trying again." in messages
    assert "Subscription test_sub: DatabaseError: db down; trying again." in messages


# Leases


def test_one_worker_holds_a_lease_until_it_expires_or_is_released(subscribe):
    subscription = subscribe()
    state.ensure_state(subscription, store.get_backend())

    assert state.acquire("test_sub", "a", 30) is not None
    assert state.acquire("test_sub", "b", 30) is None
    assert state.acquire("test_sub", "a", 30) is not None  # renewing

    SubscriptionState.objects.filter(name="test_sub").update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert state.acquire("test_sub", "b", 30) is not None
    with pytest.raises(LeaseLost):
        state.save_position("test_sub", "a", 99, None)
    with pytest.raises(LeaseLost):
        state.renew("test_sub", "a", 30)

    state.release("test_sub", "a")  # not a's to release
    assert SubscriptionState.objects.get(name="test_sub").lease_owner == "b"
    state.release("test_sub", "b")
    assert state.acquire("test_sub", "c", 30) is not None


def test_a_worker_leaves_a_subscription_leased_by_another_alone(subscribe):
    subscription = subscribe()
    AccountFactory(deposits=[])
    state.ensure_state(subscription, store.get_backend())
    state.acquire("test_sub", "other-worker", 30)

    worker = Worker([subscription], poll_seconds=0.01)

    assert worker.step(subscription).value == "waiting"
    assert delivered() == []


def test_until_caught_up_ends_when_another_worker_holding_the_lease_has_caught_up(subscribe):
    subscription = subscribe()
    AccountFactory(deposits=[])
    state.ensure_state(subscription, store.get_backend())
    state.acquire("test_sub", "other-worker", 30)
    worker = Worker([subscription], poll_seconds=0.01)
    assert worker.step(subscription).value == "waiting"  # behind, and not this worker's to deliver

    SubscriptionState.objects.filter(name="test_sub").update(position=store.get_backend().last_position())

    assert worker.run(until_caught_up=True)["test_sub"].delivered == 0
    assert SubscriptionState.objects.get(name="test_sub").lease_owner == "other-worker"


def test_a_paused_subscription_is_left_alone_until_resumed(subscribe):
    subscription = subscribe()
    AccountFactory(deposits=[])
    state.ensure_state(subscription, store.get_backend())
    assert state.pause("test_sub")

    run(subscription)
    assert delivered() == []

    state.resume("test_sub")
    run(subscription)
    assert [name for _, name, _ in delivered()] == ["AccountOpened"]


# Memory: one batch at a time


def test_ten_thousand_events_are_caught_up_holding_one_page_at_a_time(subscribe):
    backend = store.get_backend()
    per_append = min(100, backend.max_events_per_append or 100)
    for done in range(0, 10_000, per_append):
        append_stream(min(per_append, 10_000 - done))
    held: list[int] = []

    def count(delivery: Delivery) -> None:
        if delivery.position % 1000 == 0:  # now and then: how many stored events are in memory at this moment
            held.append(sum(1 for obj in gc.get_objects() if type(obj) is StoredEvent))

    subscription = subscribe(handler=count, batch_size=200)
    read_sizes: list[int] = []
    original = backend.read_all

    def read_all(after_position: int = 0, *, batch_size: int = 1000):
        read_sizes.append(batch_size)
        return original(after_position, batch_size=batch_size)

    backend.read_all = read_all  # type: ignore[method-assign]
    try:
        worker = run(subscription, backend=backend)
    finally:
        del backend.read_all

    assert worker.tallies["test_sub"].delivered == 10_000
    assert checkpoint() == backend.last_position()
    page = max(200, READ_PAGE)
    assert read_sizes and set(read_sizes) == {page}  # pages of READ_PAGE, read lazily through each round
    # Flat: whatever the number of events caught up, at most one page read and one batch of it are alive.
    assert len(held) >= 9 and max(held) <= page + 200, held


# Registration, settings and the command


def test_subscriptions_register_as_aggregates_do_and_a_second_handler_under_a_name_is_reported(subscribe):
    @eventstore.register_subscription("decorated", events=["AccountOpened"])
    def decorated(delivery: Delivery) -> None: ...

    try:
        assert registry.get("decorated").handler is decorated
        assert registry.get("decorated").events == frozenset({"AccountOpened"})
        eventstore.register_subscription("decorated", decorated, attempts=7)  # the same handler: new options
        assert registry.get("decorated").attempts == 7

        eventstore.register_subscription("decorated", record)

        assert registry.get("decorated").handler is decorated
        errors = check_registries()
        assert [error.id for error in errors] == ["eventstore.E006"]
        assert "Subscription 'decorated' is registered twice" in errors[0].msg
    finally:
        registry.unregister("decorated")
        registry.conflicts.clear()
    with pytest.raises(UnknownSubscription, match="Unknown subscription 'nope'"):
        registry.get("nope")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"attempts": 0}, "attempts"),
        ({"start": "yesterday"}, "start"),
        ({"on_failure": "ignore"}, "on_failure"),
        ({"events": "AccountOpened"}, "not one string"),
        ({"events": [object()]}, "neither an event name"),
    ],
)
def test_a_subscription_with_bad_options_is_refused_at_once(options, message):
    with pytest.raises((ValueError, TypeError), match=message):
        Subscription("bad", record, **options)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SUBSCRIPTION_LEASE_SECONDS": 0}, "SUBSCRIPTION_LEASE_SECONDS"),
        ({"SUBSCRIPTION_POLL_SECONDS": "1"}, "SUBSCRIPTION_POLL_SECONDS"),
        ({"SUBSCRIPTION_LEASE_SECONDS": 10, "SUBSCRIPTION_HEARTBEAT_SECONDS": 10}, "must be below"),
    ],
)
def test_subscription_settings_are_checked(settings, overrides, message):
    with override_settings(EVENTSTORE={**settings.EVENTSTORE, **overrides}):
        errors = check_settings()
    assert [error.id for error in errors] == ["eventstore.E005"] and message in errors[0].msg


def test_the_command_delivers_until_caught_up_and_reports_progress_and_lag(subscribe):
    subscribe(batch_size=1)
    subscribe("other_sub", events=["MoneyDeposited"])
    AccountFactory(deposits=[1])
    out = StringIO()

    call_command("run_subscriptions", "--until-caught-up", "-v", "2", "--subscription", "test_sub", stdout=out)

    text = out.getvalue()
    assert "Worker " in text and "test_sub: position" in text
    assert "event(s) and" in text and "behind; " in text
    assert "test_sub: 2 delivered, 0 retried, 0 parked; at position" in text
    assert "other_sub" not in text and delivered("other_sub") == []


def test_the_command_refuses_an_unknown_subscription(subscribe):
    subscribe()
    with pytest.raises(CommandError, match=r"Unknown subscription 'nope'; registered: (.*, )?test_sub"):
        call_command("run_subscriptions", "--subscription", "nope", stdout=StringIO())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_lets_the_event_in_hand_finish_saves_the_checkpoint_and_ends_the_command(subscribe, signum):
    def handler(delivery: Delivery) -> None:
        os.kill(os.getpid(), signum)  # arrives while the handler runs
        record(delivery)

    subscribe(handler=handler, batch_size=10)
    AccountFactory(deposits=[1, 2])
    before = signal.getsignal(signum)

    call_command("run_subscriptions", stdout=StringIO())  # without --until-caught-up: only the signal ends it

    assert len(delivered()) == 1 and checkpoint() == positions()[0]
    assert SubscriptionState.objects.get(name="test_sub").lease_owner == ""
    assert signal.getsignal(signum) is before


def test_the_command_says_so_when_no_subscription_is_registered(backend, monkeypatch):
    monkeypatch.setattr(registry, "_subscriptions", {})  # the project's apps register some (the demo's receipts)
    with pytest.raises(CommandError, match="No subscriptions are registered"):
        call_command("run_subscriptions", "--until-caught-up", stdout=StringIO())
