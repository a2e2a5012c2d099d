"""Stopped projections repair themselves (issue 14, part 6): a worker's ProjectionRepair catches them up with
backoff, and two catch-up runs of one projection at once apply no event twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django.utils import timezone

from eventstore import catchup
from eventstore.exceptions import EventStoreError
from eventstore.models import Checkpoint
from eventstore.repair import STALE_REPLAY, ProjectionRepair
from tests.eventstore.conftest import RecordingProjection
from tests.factories import AccountFactory
from tests.testapp.repositories import accounts


class Clock:
    """Wall-clock seconds that move only when told to, from when the projection stopped."""

    def __init__(self, projection: RecordingProjection) -> None:
        self.now = self.start = Checkpoint.objects.get(name=projection.name).updated_at.timestamp()

    def __call__(self) -> float:
        return self.now


def status(projection: RecordingProjection) -> str:
    return Checkpoint.objects.get(name=projection.name).status


def test_a_stopped_inline_projection_is_caught_up_by_the_worker_once_its_cause_is_gone(backend, inline_recording):
    account = AccountFactory(deposits=[1])
    inline_recording.fail_on = (account.uuid, 3)
    accounts.update(account.uuid, lambda a: a.deposit(2))
    accounts.update(account.uuid, lambda a: a.deposit(3))
    assert status(inline_recording) == Checkpoint.STOPPED
    clock = Clock(inline_recording)
    repair = ProjectionRepair(first_delay=5, max_delay=60, clock=clock)

    assert repair.run_due() == []  # noticed; the first try comes after first_delay
    clock.now += 5
    [failed] = repair.run_due()  # the cause is still there
    clock.now += 9
    assert repair.run_due() == []  # backing off: 10 s after the failed try
    inline_recording.fail_on = None
    clock.now += 1
    [repaired] = repair.run_due()

    assert failed.failure is not None and repaired.failure is None
    assert status(inline_recording) == Checkpoint.LIVE
    assert inline_recording.seen == [(account.uuid, v) for v in (2, 3, 4)]
    accounts.update(account.uuid, lambda a: a.deposit(4))  # and inline runs take it from there
    assert inline_recording.seen[-1] == (account.uuid, 5)


def test_the_backoff_doubles_up_to_its_ceiling(backend, inline_recording):
    account = AccountFactory(deposits=[1])
    inline_recording.fail_on = (account.uuid, 3)
    accounts.update(account.uuid, lambda a: a.deposit(2))
    clock = Clock(inline_recording)
    repair = ProjectionRepair(first_delay=5, max_delay=30, clock=clock)
    repair.run_due()

    tried_at = []
    for _ in range(120):
        clock.now += 1
        if repair.run_due():
            tried_at.append(round(clock.now - clock.start))

    assert tried_at == [5, 15, 35, 65, 95]  # waits of 10, 20, then 30 s at most


def test_live_projections_are_left_alone(backend, inline_recording):
    AccountFactory(deposits=[1, 2])
    clock = Clock(inline_recording)
    repair = ProjectionRepair(first_delay=0, clock=clock)

    assert repair.run_due() == []
    assert status(inline_recording) == Checkpoint.LIVE


def test_two_catch_up_runs_at_once_apply_each_event_once(backend, recording, monkeypatch):
    for _ in range(3):
        AccountFactory(deposits=[1, 2, 3])
    take = catchup._take
    raced = []

    def take_then_let_another_run_finish_first(events, limit):
        batch = list(take(events, limit))
        if not raced:
            raced.append(True)
            other = catchup.catch_up(recording, batch_size=4)  # applies everything before this run does
            assert other.failure is None
        return iter(batch)

    monkeypatch.setattr(catchup, "_take", take_then_let_another_run_finish_first)
    result = catchup.catch_up(recording, batch_size=4)

    assert result.failure is None
    assert len(recording.seen) == 9
    assert [key for key, count in Counter(recording.seen).items() if count > 1] == []
    assert status(recording) == Checkpoint.LIVE


def stop_projection(backend, projection: RecordingProjection):
    account = AccountFactory(deposits=[1])
    projection.fail_on = (account.uuid, 3)
    accounts.update(account.uuid, lambda a: a.deposit(2))
    projection.fail_on = None
    return account


def test_a_store_error_during_a_repair_is_a_failed_try_with_backoff(backend, inline_recording, monkeypatch):
    stop_projection(backend, inline_recording)
    clock = Clock(inline_recording)
    repair = ProjectionRepair(first_delay=5, clock=clock)
    clock.now += 5

    def unreachable(*args, **kwargs):
        raise EventStoreError("the store is out of reach")

    monkeypatch.setattr(catchup, "catch_up", unreachable)
    assert repair.run_due() == []  # no exception reaches the worker
    monkeypatch.undo()
    clock.now += 9
    assert repair.run_due() == []  # backing off: 10 s
    clock.now += 1
    [repaired] = repair.run_due()

    assert repaired.failure is None and status(inline_recording) == Checkpoint.LIVE


def test_a_catch_up_left_replaying_is_taken_up_once_it_is_stale(backend, inline_recording):
    account = stop_projection(backend, inline_recording)
    stale = timezone.now() - STALE_REPLAY - timedelta(seconds=1)
    Checkpoint.objects.filter(name=inline_recording.name).update(status=Checkpoint.REPLAYING, updated_at=stale)
    repair = ProjectionRepair(first_delay=0)

    [repaired] = repair.run_due()

    assert repaired.failure is None and status(inline_recording) == Checkpoint.LIVE
    assert inline_recording.seen == [(account.uuid, 2), (account.uuid, 3)]


def test_a_replay_under_way_is_left_alone(backend, inline_recording):
    stop_projection(backend, inline_recording)
    Checkpoint.objects.filter(name=inline_recording.name).update(status=Checkpoint.REPLAYING)

    assert ProjectionRepair(first_delay=0).run_due() == []
    assert status(inline_recording) == Checkpoint.REPLAYING


def test_a_stopping_worker_starts_no_repair(backend, inline_recording):
    stop_projection(backend, inline_recording)

    assert ProjectionRepair(first_delay=0).run_due(stop=lambda: True) == []
    assert status(inline_recording) == Checkpoint.STOPPED


def test_a_worker_told_to_stop_ends_a_repair_after_the_batch_in_hand(backend, inline_recording):
    account = stop_projection(backend, inline_recording)
    answers = iter([False])  # not stopping when the repair starts; stopping from its first batch on

    assert ProjectionRepair(first_delay=0).run_due(stop=lambda: next(answers, True)) == []

    assert inline_recording.seen == [(account.uuid, 2), (account.uuid, 3)]  # the batch in hand, committed
    assert status(inline_recording) == Checkpoint.REPLAYING  # taken up again once stale
