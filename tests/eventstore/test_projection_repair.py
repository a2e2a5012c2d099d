"""Stopped projections repair themselves (issue 14, part 6): a worker's ProjectionRepair catches them up with
backoff, and two catch-up runs of one projection at once apply no event twice."""

from __future__ import annotations

from collections import Counter

from eventstore import catchup
from eventstore.models import Checkpoint
from eventstore.repair import ProjectionRepair
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
