"""The repository over the configured backend: saving, loading, time travel, snapshots, upcasting."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstore.backends.base import NewEvent, SnapshotRecord
from eventstore.context import event_context
from eventstore.exceptions import (
    AggregateClosed,
    AggregateNotFound,
    ConcurrencyError,
    EventDecodeError,
    UnknownEventError,
    VersionNotFound,
)
from eventstore.repository import Repository
from eventstore.signals import events_committed
from tests.factories import AccountFactory, append_stream
from tests.testapp.domain import Account, AccountOpened, AccountRuleViolation, InsufficientFunds


@pytest.fixture
def repo(backend):
    return Repository(Account)


def test_saved_account_loads_with_the_same_state_and_version(repo):
    account = Account.open("ann")
    account.deposit(2)
    repo.save(account)

    loaded = repo.load(account.uuid)

    assert (loaded.owner, loaded.balances) == ("ann", {"EUR": 2})
    assert loaded.version == 2
    assert loaded.changes == []
    assert account.changes == [] and account.persisted_version == 2


def test_save_returns_the_aggregate(repo):
    account = Account.open("ann")

    assert repo.save(account) is account
    assert repo.get_version(account.uuid) == 1


def test_create_new_is_an_empty_aggregate_that_only_a_save_stores_and_never_over_a_taken_uuid(repo):
    taken = AccountFactory(owner="ann")

    fresh = repo.create_new()
    clash = repo.create_new(taken.uuid)
    clash.record(AccountOpened(owner="bob"))

    assert (fresh.version, fresh.changes, fresh.balances) == (0, [], {})
    assert repo.exists(fresh.uuid) is False
    with pytest.raises(ConcurrencyError):
        repo.save(clash)
    assert repo.load(taken.uuid).owner == "ann"


def test_get_or_raise_returns_the_latest_state_or_raises_as_load_does(repo):
    account = AccountFactory(deposits=[1, 2])
    closed = AccountFactory(closed=True)

    assert repo.get_or_raise(account.uuid).balances == {"EUR": 3}
    with pytest.raises(AggregateNotFound):
        repo.get_or_raise(uuid.uuid4())
    with pytest.raises(AggregateClosed):
        repo.get_or_raise(closed.uuid)


def test_a_save_without_changes_writes_nothing(repo, backend):
    account = AccountFactory()
    position = backend.last_position()

    repo.save(repo.load(account.uuid))

    assert backend.last_position() == position


def test_a_command_that_breaks_a_rule_records_nothing_and_a_save_then_writes_nothing(repo, backend):
    account = AccountFactory(deposits=[5])
    loaded = repo.load(account.uuid)
    position = backend.last_position()

    with pytest.raises(InsufficientFunds):
        loaded.withdraw(6)
    repo.save(loaded)

    assert (loaded.version, loaded.changes, loaded.balances) == (2, [], {"EUR": 5})
    assert backend.last_position() == position


def test_unknown_aggregates_are_not_found(repo):
    missing = uuid.uuid4()

    assert repo.fetch(missing) is None
    assert repo.exists(missing) is False
    assert repo.get_version(missing) == 0
    with pytest.raises(AggregateNotFound) as caught:
        repo.load(missing)
    assert str(missing) in str(caught.value)


def test_load_or_create_returns_the_stored_account_or_a_new_one(repo):
    stored = AccountFactory(deposits=[3])
    fresh_uuid = uuid.uuid4()

    assert repo.load_or_create(stored.uuid).balances == {"EUR": 3}
    fresh = repo.load_or_create(fresh_uuid)
    assert (fresh.uuid, fresh.version) == (fresh_uuid, 0)


def test_a_closed_account_is_gone_for_fetch_and_load_but_its_past_is_readable(repo):
    account = AccountFactory(deposits=[1], closed=True)

    assert repo.fetch(account.uuid) is None
    with pytest.raises(AggregateClosed) as caught:
        repo.load(account.uuid)
    assert caught.value.version == 3
    assert caught.value.aggregate.balances == {"EUR": 1}
    assert repo.load(account.uuid, version=2).balances == {"EUR": 1}
    assert repo.load(account.uuid, version=3).closed is True
    with pytest.raises(AggregateClosed):
        repo.load_or_create(account.uuid)


def test_load_at_a_version_travels_back_in_time(repo):
    account = AccountFactory(deposits=[1, (2, "USD"), (3, "GBP")])

    assert repo.load(account.uuid, version=1).balances == {}
    assert repo.load(account.uuid, version=3).balances == {"EUR": 1, "USD": 2}
    assert repo.load(account.uuid, version=3).version == 3
    with pytest.raises(VersionNotFound) as caught:
        repo.load(account.uuid, version=5)
    assert (caught.value.version, caught.value.current_version) == (5, 4)
    with pytest.raises(ValueError):
        repo.load(account.uuid, version=0)


def test_load_as_of_a_time_returns_the_state_then(repo):
    before = timezone.now()
    account = AccountFactory(deposits=[1])
    between = timezone.now()
    account.deposit(1, "USD")
    repo.save(account)

    assert repo.load(account.uuid, as_of=between).balances == {"EUR": 1}
    assert repo.load(account.uuid, as_of=timezone.now()).balances == {"EUR": 1, "USD": 1}
    with pytest.raises(AggregateNotFound):
        repo.load(account.uuid, as_of=before)


def test_a_stale_save_raises_and_writes_nothing(repo):
    account = AccountFactory(deposits=[1])
    first, second = repo.load(account.uuid), repo.load(account.uuid)
    first.deposit(1, "USD")
    repo.save(first)
    second.deposit(1, "GBP")

    with pytest.raises(ConcurrencyError) as caught:
        repo.save(second)

    assert (caught.value.expected_version, caught.value.actual_version) == (2, 3)
    assert caught.value.aggregate_uuid == account.uuid
    assert repo.load(account.uuid).balances == {"EUR": 1, "USD": 1}


def test_update_retries_a_lost_race_against_fresh_state(repo):
    account = AccountFactory(deposits=[1])
    calls = []

    def deposit_after_a_rival_wrote(aggregate):
        calls.append(aggregate.version)
        if len(calls) == 1:
            rival = repo.load(account.uuid)
            rival.deposit(1, "GBP")
            repo.save(rival)
        aggregate.deposit(1, "USD")

    updated = repo.update(account.uuid, deposit_after_a_rival_wrote)

    assert calls == [2, 3]
    assert updated.version == 4
    assert repo.load(account.uuid).balances == {"EUR": 1, "GBP": 1, "USD": 1}


def test_the_snapshot_policy_snapshots_when_a_save_crosses_the_interval(backend):
    repo = Repository(Account, snapshot_every=3)
    account = Account.open("ann")
    account.deposit(1)
    repo.save(account)  # versions 1-2: no snapshot yet
    assert backend.list_snapshots(account.uuid) == []

    for currency in ["USD", "GBP", "CHF", "JPY", "SEK", "NOK"]:
        account.deposit(1, currency)
        repo.save(account)  # up to version 8: crosses 3 and 6

    assert [s.version for s in backend.list_snapshots(account.uuid)] == [6, 3]
    assert backend.get_snapshot(account.uuid).state == {
        "status": "open",
        "owner": "ann",
        "balances": {"EUR": 1, "USD": 1, "GBP": 1, "CHF": 1, "JPY": 1},
    }


def test_loading_starts_from_the_latest_snapshot_and_applies_the_tail(repo, backend):
    account = AccountFactory(deposits=[1, (1, "USD"), (1, "GBP")])
    # A snapshot whose state differs from the events proves that loading used it.
    marker = {"status": "open", "owner": "marker", "balances": {"XXX": 9}}
    backend.save_snapshot(SnapshotRecord(account.uuid, "Account", 3, marker, 1))

    assert repo.load(account.uuid).balances == {"XXX": 9, "GBP": 1}
    assert repo.load(account.uuid).owner == "marker"
    assert repo.load(account.uuid, version=2).balances == {"EUR": 1}


def test_a_snapshot_of_an_older_state_schema_is_ignored(repo, backend):
    account = AccountFactory(deposits=[1, (1, "USD")])
    backend.save_snapshot(SnapshotRecord(account.uuid, "Account", 2, {"legacy": "shape"}, 0))

    assert repo.load(account.uuid).balances == {"EUR": 1, "USD": 1}


def test_take_snapshot_saves_the_current_state(repo, backend):
    account = AccountFactory(deposits=[2])

    assert repo.take_snapshot(account.uuid) == 2
    assert backend.get_snapshot(account.uuid).state == {"status": "open", "owner": "ann", "balances": {"EUR": 2}}
    assert repo.take_snapshot(AccountFactory(closed=True).uuid) is None


def test_schema_one_money_deposited_is_upcast_when_read(repo, backend):
    account_uuid = uuid.uuid4()
    backend.append(
        account_uuid,
        "Account",
        0,
        [
            NewEvent("AccountOpened", {"owner": "ann"}),
            NewEvent("MoneyDeposited", {"amount": 1}, schema_version=1),
            NewEvent("MoneyDeposited", {"amount": 2, "currency": "EUR"}, schema_version=2),
        ],
    )

    assert repo.load(account_uuid).balances == {"EUR": 3}
    stored = list(backend.read_stream(account_uuid))
    assert stored[1].data == {"amount": 1}


def test_an_unregistered_event_name_is_an_error_naming_stream_and_version(repo, backend):
    account = AccountFactory()
    backend.append(account.uuid, "Account", 2, [NewEvent("InterestPaid", {"rate": "X"})])

    with pytest.raises(UnknownEventError) as caught:
        repo.load(account.uuid)

    assert (caught.value.name, caught.value.aggregate_uuid, caught.value.version) == ("InterestPaid", account.uuid, 3)
    assert "InterestPaid" in str(caught.value) and str(account.uuid) in str(caught.value)


@pytest.mark.parametrize(
    ("schema_version", "data"),
    [
        (3, {"amount": 1, "currency": "EUR"}),
        (2, {"amount": 1}),
        (2, {"amount": 1, "currency": "EUR", "extra": 1}),
    ],
)
def test_a_payload_that_does_not_fit_its_class_is_a_decode_error(repo, backend, schema_version, data):
    account = AccountFactory()
    backend.append(account.uuid, "Account", 2, [NewEvent("MoneyDeposited", data, schema_version=schema_version)])

    with pytest.raises(EventDecodeError) as caught:
        repo.load(account.uuid)

    assert caught.value.version == 3 and caught.value.aggregate_uuid == account.uuid


def test_a_stream_of_another_aggregate_type_is_not_found(repo):
    other = append_stream(1, aggregate_type="Order")[0].aggregate_uuid

    with pytest.raises(AggregateNotFound):
        repo.load(other)


def test_events_carry_the_metadata_of_the_current_context(repo, backend):
    with event_context(correlation_id="req-1", actor="ann"), event_context(causation_id="cmd-9"):
        account = AccountFactory()

    stored = list(backend.read_stream(account.uuid))
    assert {e.metadata["correlation_id"] for e in stored} == {"req-1"}
    assert stored[0].metadata == {"correlation_id": "req-1", "causation_id": "cmd-9", "actor": "ann"}
    assert next(backend.read_stream(AccountFactory().uuid)).metadata == {}


def test_committed_events_are_published_after_commit_and_failed_ones_never(repo, django_capture_on_commit_callbacks):
    received = []

    def receiver(sender, events, **kwargs):
        received.extend(e.name for e in events)

    events_committed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            account = AccountFactory(deposits=[1])
        assert received == ["AccountOpened", "MoneyDeposited"]

        stale = repo.load(account.uuid)
        rival = repo.load(account.uuid)
        rival.withdraw(1)
        with django_capture_on_commit_callbacks(execute=True):
            repo.save(rival)
        stale.deposit(1)
        with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(ConcurrencyError):
            repo.save(stale)
        assert callbacks == []
        assert received == ["AccountOpened", "MoneyDeposited", "MoneyWithdrawn"]
    finally:
        events_committed.disconnect(receiver)


CURRENCIES = ["EUR", "USD", "GBP", "CHF"]
commands = st.lists(
    st.one_of(
        st.tuples(st.just("deposit"), st.sampled_from(CURRENCIES), st.integers(1, 5)),
        st.tuples(st.just("withdraw"), st.sampled_from(CURRENCIES), st.integers(1, 5)),
        st.tuples(st.just("save"), st.just(""), st.just(0)),
        st.tuples(st.just("close"), st.just(""), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=commands, interval=st.integers(1, 7))
def test_events_alone_and_snapshot_plus_events_rebuild_the_same_state(backend, commands, interval):
    repo = Repository(Account, snapshot_every=interval)
    plain = Repository(Account)
    account = Account.open("ann")
    for command, currency, amount in commands:
        try:
            if command == "deposit":
                account.deposit(amount, currency)
            elif command == "withdraw":
                account.withdraw(amount, currency)
            elif command == "close":
                account.close()
            else:
                repo.save(account)
        except (AccountRuleViolation, AggregateClosed):
            pass
    repo.save(account)

    for version in range(1, account.version + 1):
        from_events = plain.load(account.uuid, version=version)
        with_snapshots = repo.load(account.uuid, version=version)
        assert from_events.get_state() == with_snapshots.get_state()
        assert from_events.version == with_snapshots.version == version
    final = plain.load(account.uuid, version=account.version)
    assert (final.balances, final.closed) == (account.balances, account.closed)
