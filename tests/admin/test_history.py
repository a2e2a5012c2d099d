"""History helpers: flat states, readable diffs, time travel with blame in one replay, history pages."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventstore.backends.base import NewEvent
from eventstore.exceptions import UnknownEventError, VersionNotFound
from eventstore.history import (
    Change,
    StreamHistory,
    changed_leaves,
    detached,
    diff_flat,
    diff_states,
    flatten,
    format_value,
    path_label,
    state_at,
)
from eventstore.repository import Repository
from tests.factories import AccountFactory
from tests.testapp.domain import Account

# JSON-ready states over a few keys, so that two draws share parts: leaves, lists, nested and empty mappings.
keys = st.sampled_from(["a", "b", "c", "items"])
leaves = st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["x", "y"])
values = st.recursive(
    leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3), max_leaves=8
)
states = st.dictionaries(keys, values, max_size=4)


@given(states, states)
def test_changed_leaves_finds_what_diffing_the_flattened_states_finds(before, after):
    expected = {(change.path, change.kind != "removed") for change in diff_flat(flatten(before), flatten(after))}

    assert set(changed_leaves(before, after)) == expected


def test_a_detached_state_shares_no_container_with_the_aggregate_state():
    items = {"apple": 1}
    state = {"items": items, "tags": [["x"]], "status": "open"}

    copy = detached(state)
    items["pear"] = 2
    state["tags"][0].append("y")

    assert copy == {"items": {"apple": 1}, "tags": [["x"]], "status": "open"}


@pytest.fixture
def repo(backend):
    return Repository(Account)


def test_flatten_keeps_leaves_by_path_and_empty_mappings_as_leaves():
    state = {"status": "open", "items": {"apple": 2, "pear": 1}, "tags": [], "extra": {}}

    assert flatten(state) == {
        ("status",): "open",
        ("items", "apple"): 2,
        ("items", "pear"): 1,
        ("tags",): [],
        ("extra",): {},
    }


def test_values_and_paths_read_as_text():
    assert path_label(("items", "apple")) == "items \u203a apple"
    assert format_value("café") == "café"
    assert format_value(3) == "3"
    assert format_value({}) == "(empty)"
    assert format_value(["a", 1]) == '["a", 1]'
    assert format_value(None) == "null"


def test_diff_reports_added_changed_and_removed_parts():
    before = flatten({"items": {"apple": 1, "pear": 2}, "status": "open"})
    after = flatten({"items": {"apple": 3, "plum": 1}, "status": "open"})

    assert diff_states(before, after) == [
        Change(("items", "apple"), "changed", 1, 3),
        Change(("items", "plum"), "added", after=1),
        Change(("items", "pear"), "removed", before=2),
    ]


def test_diff_hides_an_empty_container_filling_up_or_emptying():
    empty, one = flatten({"items": {}}), flatten({"items": {"apple": 1}})

    assert diff_states(empty, one) == [Change(("items", "apple"), "added", after=1)]
    assert diff_states(one, empty) == [Change(("items", "apple"), "removed", before=1)]


def test_diff_from_nothing_adds_every_part():
    assert diff_states({}, flatten({"status": "open", "items": {}})) == [
        Change(("status",), "added", after="open"),
        Change(("items",), "added", after={}),
    ]


def _account_history(repo):
    account = Account.open("ann")
    account.deposit(1, "EUR")  # v2
    account.deposit(2, "USD")  # v3
    account.deposit(4, "EUR")  # v4
    account.withdraw(2, "USD")  # v5: the last dollars leave, and USD with them
    account.deposit(1, "GBP")  # v6
    repo.save(account)
    return account


def test_state_at_a_past_version_shows_that_state_what_its_event_changed_and_who_last_changed_each_part(repo):
    account = _account_history(repo)

    at = state_at(repo, account.uuid, 4)

    assert at.version == 4 and at.event.name == "MoneyDeposited"
    assert at.state == {"status": "open", "owner": "ann", "balances": {"EUR": 5, "USD": 2}}
    assert at.changes == [Change(("balances", "EUR"), "changed", 1, 5)]
    blame = {part.path: part.changed_by.version for part in at.parts}
    assert blame == {("status",): 1, ("owner",): 1, ("balances", "EUR"): 4, ("balances", "USD"): 3}
    assert at.blame_complete and at.replayed_from == 0 and at.replayed == 4


def test_blame_of_a_part_removed_and_added_again_names_the_event_that_added_it_back(repo):
    account = _account_history(repo)
    account.deposit(1, "USD")  # v7
    repo.save(account)

    at = state_at(repo, account.uuid, 7)

    assert {p.path: p.changed_by.version for p in at.parts}[("balances", "USD")] == 7
    assert at.changes == [Change(("balances", "USD"), "added", after=1)]


def test_blame_matches_a_version_by_version_replay_at_every_version(repo):
    account = _account_history(repo)
    for version in range(1, account.version + 1):
        at = state_at(repo, account.uuid, version)
        for part in at.parts:
            # The blamed event changed the part, and no later event up to `version` did.
            last = part.changed_by.version
            before = flatten(repo.load(account.uuid, last - 1).get_state()) if last > 1 else {}
            assert before.get(part.path) != part.value
            for later in range(last, version + 1):
                assert flatten(repo.load(account.uuid, later).get_state())[part.path] == part.value


def currency(n: int) -> str:
    """Return the n-th of the currency codes AAA, AAB, …: a part of the state of its own per deposit."""
    return "A" + chr(65 + n // 26) + chr(65 + n % 26)


def test_with_a_window_the_replay_starts_at_a_snapshot_and_older_parts_are_blamed_on_nobody(backend):
    repo = Repository(Account, snapshot_every=10)
    account = repo.save(Account.open("ann"))
    for n in range(30):  # currency(n) is deposited at version n + 2; saving one by one snapshots v10, v20, v30
        account.deposit(1, currency(n))
        repo.save(account)

    at = state_at(repo, account.uuid, 31, blame_window=5)

    assert at.replayed_from == 20 and at.replayed == 11 and not at.blame_complete
    blame = {part.path: part.changed_by for part in at.parts}
    assert blame[("balances", currency(29))].version == 31
    assert blame[("balances", currency(19))].version == 21
    assert blame[("balances", currency(0))] is None and blame[("status",)] is None and blame[("owner",)] is None
    assert at.state == state_at(repo, account.uuid, 31).state


def test_a_window_reaching_before_every_snapshot_replays_from_the_start(backend):
    repo = Repository(Account, snapshot_every=10)
    account = AccountFactory(deposits=[1] * 12)

    at = state_at(repo, account.uuid, 13, blame_window=5)

    assert at.replayed_from == 0 and at.blame_complete


def test_state_at_a_version_the_stream_has_not_reached_raises_version_not_found(repo):
    account = AccountFactory()

    with pytest.raises(VersionNotFound) as caught:
        state_at(repo, account.uuid, 9)

    assert caught.value.current_version == 2


def test_state_at_version_zero_or_a_zero_window_is_refused(repo):
    account = AccountFactory()

    with pytest.raises(ValueError, match="Versions start at 1"):
        state_at(repo, account.uuid, 0)
    with pytest.raises(ValueError, match="at least one event"):
        state_at(repo, account.uuid, 1, blame_window=0)


def test_an_unknown_event_names_the_stream_and_version(repo, backend):
    account = AccountFactory()
    backend.append(account.uuid, "Account", account.version, [NewEvent("InterestPaid", {"rate": "red"})])

    with pytest.raises(UnknownEventError, match=rf"stream {account.uuid}, version 3"):
        state_at(repo, account.uuid, 3)


def test_stream_history_pages_are_version_ranges_newest_first(backend):
    account = AccountFactory(deposits=[1] * 9)  # v1..v10
    history = StreamHistory(backend, account.uuid, 10)

    assert len(history) == 10
    assert [e.version for e in history[0:4]] == [10, 9, 8, 7]
    assert [e.version for e in history[8:20]] == [2, 1]
    assert history[0].version == 10 and history[-1].version == 1
    assert history[5:5] == []
    with pytest.raises(IndexError):
        history[10]
    assert history.page_of(10, 4) == 1 and history.page_of(7, 4) == 1 and history.page_of(6, 4) == 2
    assert history.page_of(1, 4) == 3


def test_stream_history_of_an_unknown_stream_is_empty(backend):
    assert StreamHistory(backend, uuid.uuid4(), 0)[:] == []
