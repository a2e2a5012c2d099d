"""Projections: inline in the append's transaction, catching up from a checkpoint, replaying, failing and resuming."""

from __future__ import annotations

import dataclasses
import os
import random
import uuid
from collections.abc import Iterator

import pytest
from django.db import transaction

from eventstore import catchup, projections
from eventstore.models import Checkpoint
from eventstore.projections import Projection, ProjectionFailed, UnknownProjection
from tests.conftest import requires_django_backend
from tests.eventstore.conftest import RecordingProjection
from tests.factories import AccountFactory
from tests.testapp.domain import Account
from tests.testapp.models import AccountSummary
from tests.testapp.projections import AccountSummaryProjection
from tests.testapp.repositories import accounts

SUMMARY = "account_summary"
# Thousands on the Django backend; an emulated DynamoDB answers each call over HTTP, far slower.
RANDOM_EVENTS = 3000 if os.environ.get("EVENTSTORE_BACKEND", "django") == "django" else 400


def summary_projection() -> Projection:
    return projections.registry.get(SUMMARY)


CURRENCIES = ["EUR", "USD", "GBP", "CHF", "JPY", "SEK", "NOK", "DKK", "PLN", "CZK"]


def random_history(rng: random.Random, events: int) -> list[uuid.UUID]:
    """Drive accounts through random commands until about `events` events are stored; return their uuids."""
    open_accounts: list[Account] = []
    uuids: list[uuid.UUID] = []
    stored = 0
    while stored < events:
        if not open_accounts or rng.random() < 0.05:
            account = Account.open(rng.choice(["ann", "bob"]), uuid.UUID(int=rng.getrandbits(128)))
            stored += len(account.changes)
            accounts.save(account)  # now, or a new account never chosen below would never be stored
            open_accounts.append(account)
            uuids.append(account.uuid)
        account = rng.choice(open_accounts)
        for _ in range(rng.randint(1, 6)):
            roll = rng.random()
            if roll < 0.65:
                account.deposit(rng.randint(1, 5), rng.choice(CURRENCIES))
            elif roll < 0.95 and account.balances:
                currency = rng.choice(sorted(account.balances))
                account.withdraw(rng.randint(1, account.balances[currency]), currency)
            elif roll >= 0.98:
                account.close()
                open_accounts.remove(account)
                break
        stored += len(account.changes)
        accounts.save(account)
    return uuids


def test_opening_an_account_writes_its_summary_in_the_same_transaction(backend):
    account = AccountFactory(owner="ann", deposits=[2, (1, "USD")])

    summary = AccountSummary.objects.get(uuid=account.uuid)

    assert (summary.owner, summary.status, summary.transactions, summary.version) == ("ann", "open", 2, 3)
    assert summary.balances == {"EUR": 2, "USD": 1}
    assert Checkpoint.objects.get(name=SUMMARY).position == backend.last_position()


@requires_django_backend
def test_a_rolled_back_append_leaves_no_summary(backend):
    account_uuid = uuid.uuid4()
    with pytest.raises(RuntimeError), transaction.atomic():
        accounts.save(Account.open("ann", account_uuid))
        raise RuntimeError("the caller's transaction fails after the append")

    assert not backend.exists(account_uuid)
    assert not AccountSummary.objects.filter(uuid=account_uuid).exists()


def test_summary_follows_withdrawals_and_closing(backend):
    account = AccountFactory(deposits=[2, (5, "USD")])
    accounts.update(account.uuid, lambda a: a.withdraw(5, "USD"))
    accounts.update(account.uuid, lambda a: a.close())

    summary = AccountSummary.objects.get(uuid=account.uuid)

    assert (summary.status, summary.balances, summary.transactions, summary.version) == ("closed", {"EUR": 2}, 3, 5)


def test_summary_ignores_events_it_has_applied_and_fills_a_gap_from_the_stream(backend):
    account = AccountFactory(deposits=[1, (1, "USD")])
    events = list(backend.read_stream(account.uuid))
    projection = summary_projection()
    before = projection.export()

    projection.handle_batch(events)  # all seen already: nothing changes
    assert projection.export() == before

    # Version 3 reaching the projection before version 2 (racing appends on DynamoDB).
    AccountSummary.objects.filter(uuid=account.uuid).delete()
    projection.handle_batch(events[:1])
    projection.handle_batch(events[2:])
    assert projection.export() == before


def test_summary_stops_on_an_event_whose_predecessors_are_not_stored(backend):
    account = AccountFactory(deposits=[1])
    events = list(backend.read_stream(account.uuid))
    from_the_future = dataclasses.replace(events[-1], version=5, position=events[-1].position + 10)

    with pytest.raises(ProjectionFailed, match="version 5 follows version 2: events are missing"):
        summary_projection().handle_batch([from_the_future])


def test_replay_equals_inline_on_thousands_of_random_events(backend):
    uuids = random_history(random.Random(20261123), RANDOM_EVENTS)
    projection = summary_projection()
    inline = projection.export()
    assert len(inline) == len(uuids)

    result = catchup.replay(projection, batch_size=97)

    assert result.failure is None
    assert result.events == sum(backend.get_version(account_uuid) for account_uuid in uuids) >= RANDOM_EVENTS
    assert projection.export() == inline
    assert Checkpoint.objects.get(name=SUMMARY).status == Checkpoint.LIVE
    for account_uuid in uuids[:20]:
        account = accounts.load(account_uuid, version=backend.get_version(account_uuid))
        assert AccountSummary.objects.get(uuid=account_uuid).balances == account.balances


def test_replay_reports_progress_per_batch(backend):
    for _ in range(5):
        AccountFactory(deposits=[1] * 3)
    seen = []

    catchup.replay(summary_projection(), batch_size=4, on_progress=lambda p: seen.append((p.position, p.events)))

    assert len(seen) == 5  # 20 events in batches of 4
    assert [events for _, events in seen] == [4, 8, 12, 16, 20]
    assert seen[-1][0] == backend.last_position()


def test_rebuild_aside_reports_differences_without_touching_the_read_model(backend):
    kept = AccountFactory(deposits=[1])
    tampered = AccountFactory(deposits=[1])
    AccountSummary.objects.filter(uuid=tampered.uuid).update(transactions=99)
    AccountSummary.objects.create(
        uuid=uuid.uuid4(), version=1, opened_at="2026-01-01T00:00Z", updated_at="2026-01-01T00:00Z"
    )
    projection = summary_projection()
    live = projection.export()

    changes = catchup.diff_rows(live, projection.rebuild_aside(backend.read_all()))

    assert [(c.kind, c.fields) for c in changes if c.key == str(tampered.uuid)] == [
        ("changed", {"transactions": (99, 1)})
    ]
    assert sorted(c.kind for c in changes) == ["changed", "extra"]
    assert all(c.key != str(kept.uuid) for c in changes)
    assert projection.export() == live


def test_failing_projection_stops_at_the_event_and_resumes_from_there(backend, recording):
    first = AccountFactory(deposits=[1, 2])
    second = AccountFactory(deposits=[3, 4])
    recording.fail_on = (second.uuid, 3)  # second account's second MoneyDeposited
    failing = next(backend.read_stream(second.uuid, from_version=3, to_version=3))

    result = catchup.catch_up(recording, batch_size=100)

    assert isinstance(result.failure, ProjectionFailed)
    message = str(result.failure)
    assert f"stream {second.uuid}" in message and "version 3" in message and "event MoneyDeposited" in message
    checkpoint = Checkpoint.objects.get(name=recording.name)
    assert checkpoint.status == Checkpoint.STOPPED
    assert checkpoint.position == failing.position - 1
    assert "boom" in checkpoint.error
    assert recording.seen == [(first.uuid, 2), (first.uuid, 3), (second.uuid, 2)]

    recording.fail_on = None
    resumed = catchup.catch_up(recording, batch_size=100)

    assert resumed.failure is None
    assert recording.seen == [(first.uuid, 2), (first.uuid, 3), (second.uuid, 2), (second.uuid, 3)]
    checkpoint.refresh_from_db()
    assert (checkpoint.status, checkpoint.position, checkpoint.error) == (Checkpoint.LIVE, backend.last_position(), "")


def test_failing_inline_projection_stops_without_refusing_the_append(backend, inline_recording):
    account = AccountFactory(deposits=[1])
    inline_recording.fail_on = (account.uuid, 3)
    before = Checkpoint.objects.get(name=inline_recording.name).position

    accounts.update(account.uuid, lambda a: a.deposit(2))
    accounts.update(account.uuid, lambda a: a.deposit(3))  # not handled: the projection is stopped

    assert backend.get_version(account.uuid) == 4
    assert AccountSummary.objects.get(uuid=account.uuid).version == 4  # other projections carry on
    checkpoint = Checkpoint.objects.get(name=inline_recording.name)
    assert (checkpoint.status, checkpoint.position) == (Checkpoint.STOPPED, before)
    assert f"stream {account.uuid} version 3 event MoneyDeposited" in checkpoint.error
    assert inline_recording.seen == [(account.uuid, 2)]

    inline_recording.fail_on = None
    catchup.catch_up(inline_recording)
    accounts.update(account.uuid, lambda a: a.deposit(4))

    assert inline_recording.seen == [(account.uuid, v) for v in (2, 3, 4, 5)]
    assert Checkpoint.objects.get(name=inline_recording.name).status == Checkpoint.LIVE


class FailingSummary(AccountSummaryProjection):
    """The account summary, raising on one chosen version."""

    name = "test_failing_summary"
    fail_at = 3

    def fold(self, row, event):
        if event.version == self.fail_at:
            raise ValueError("boom")
        return super().fold(row, event)


@pytest.fixture
def failing_summary(backend) -> Iterator[FailingSummary]:
    """FailingSummary inline in place of the account summary (both write AccountSummary rows)."""
    projections.registry.unregister(SUMMARY)
    projection = FailingSummary()
    projections.registry.register(projection, inline=True)
    yield projection
    projections.registry.unregister(projection.name)
    projections.registry.register(AccountSummaryProjection(), inline=True)


def test_a_failing_inline_model_projection_keeps_nothing_of_the_append(backend, failing_summary):
    account = accounts.save(Account.open("ann"))
    checkpoint = Checkpoint.objects.get(name=failing_summary.name)
    account.deposit(1)
    account.deposit(2)  # version 3: the projection raises on it

    accounts.save(account)

    assert backend.get_version(account.uuid) == 3  # the append went through
    summary = AccountSummary.objects.get(uuid=account.uuid)
    assert (summary.version, summary.balances) == (1, {})  # nothing of versions 2 and 3, not even 2
    stopped = Checkpoint.objects.get(name=failing_summary.name)
    assert (stopped.status, stopped.position) == (Checkpoint.STOPPED, checkpoint.position)
    assert f"stream {account.uuid} version 3 event MoneyDeposited" in stopped.error


def test_inline_runs_skip_a_projection_being_replayed(backend, inline_recording):
    account = AccountFactory(deposits=[1])
    Checkpoint.objects.filter(name=inline_recording.name).update(status=Checkpoint.REPLAYING)

    accounts.update(account.uuid, lambda a: a.deposit(2))
    assert inline_recording.seen == [(account.uuid, 2)]

    catchup.catch_up(inline_recording)
    assert inline_recording.seen == [(account.uuid, 2), (account.uuid, 3)]


def test_projection_registered_after_events_were_stored_waits_for_a_replay(backend):
    AccountFactory(deposits=[1])
    late = RecordingProjection()
    projections.registry.register(late, inline=True)
    try:
        account = AccountFactory(deposits=[2])
        checkpoint = Checkpoint.objects.get(name=late.name)
        assert checkpoint.status == Checkpoint.STOPPED and "replay" in checkpoint.error
        assert late.seen == []

        catchup.replay(late)

        assert (account.uuid, 2) in late.seen and len(late.seen) == 2
    finally:
        projections.registry.unregister(late.name)


def test_unknown_projection_names_the_registered_ones():
    with pytest.raises(UnknownProjection, match=r"registered: .*account_summary"):
        projections.registry.get("nope")
