"""A worker's round: batch after batch while catching up, bounded in time so that a pause is soon noticed."""

from __future__ import annotations

import pytest

import eventstore
from eventstore import subscription_state as state
from eventstore import worker as worker_module
from eventstore.subscriptions import Delivery, registry
from eventstore.worker import Step, Worker
from tests.factories import AccountFactory


@pytest.fixture
def counted(backend):
    seen: list[int] = []

    def handler(delivery: Delivery) -> None:
        seen.append(delivery.position)

    subscription = eventstore.register_subscription("counted", handler, batch_size=2)
    yield subscription, seen
    registry.unregister("counted")


def test_catching_up_a_round_delivers_batch_after_batch(counted, monkeypatch):
    subscription, seen = counted
    for _ in range(3):
        AccountFactory(deposits=[1, 2])  # 3 events each: 9 in all, 5 batches of 2
    monkeypatch.setattr(worker_module, "ROUND_SECONDS", 60.0)
    worker = Worker([subscription], poll_seconds=0.01)

    assert worker.step(subscription) is Step.BUSY

    assert len(seen) == 9 and seen == sorted(seen)
    assert state.lag(worker.tallies["counted"].position, eventstore.store.get_backend()).events == 0


def test_a_round_ends_when_its_time_is_up_and_the_next_sees_a_pause(counted, monkeypatch):
    subscription, seen = counted
    for _ in range(3):
        AccountFactory(deposits=[1, 2])
    monkeypatch.setattr(worker_module, "ROUND_SECONDS", 0.0)  # one batch per round
    worker = Worker([subscription], poll_seconds=0.01)

    assert worker.step(subscription) is Step.BUSY
    assert len(seen) == 2
    state.pause("counted")

    assert worker.step(subscription) is Step.DONE
    assert len(seen) == 2


def test_a_subscription_resumed_after_a_stop_is_delivered_to_at_full_pace(backend, monkeypatch):
    broken = {"on": True}
    seen: list[int] = []

    def handler(delivery: Delivery) -> None:
        if broken["on"]:
            raise ValueError("not yet")
        seen.append(delivery.position)

    subscription = eventstore.register_subscription("resumed", handler, batch_size=2, attempts=1, on_failure="stop")
    try:
        for _ in range(3):
            AccountFactory(deposits=[1, 2])
        monkeypatch.setattr(worker_module, "ROUND_SECONDS", 60.0)
        worker = Worker([subscription], poll_seconds=0.01)
        worker.step(subscription)
        assert worker.tallies["resumed"].stopped
        broken["on"] = False
        state.resume("resumed")

        assert worker.step(subscription) is Step.BUSY

        assert not worker.tallies["resumed"].stopped
        assert len(seen) == 9  # every batch in one round, not one batch a round
    finally:
        registry.unregister("resumed")
