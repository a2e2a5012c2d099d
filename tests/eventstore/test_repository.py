"""The repository over the configured backend: saving, loading, time travel, snapshots, upcasting."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carts.domain import ShoppingCart
from carts.exceptions import CartRuleViolation
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
from tests.factories import CartFactory, append_stream


@pytest.fixture
def repo(backend):
    return Repository(ShoppingCart)


def test_saved_cart_loads_with_the_same_state_and_version(repo):
    cart = ShoppingCart.open()
    cart.add_item("apple", 2)
    repo.save(cart)

    loaded = repo.load(cart.uuid)

    assert loaded.items == {"apple": 2}
    assert loaded.version == 2
    assert loaded.changes == []
    assert cart.changes == [] and cart.persisted_version == 2


def test_store_is_save(repo):
    cart = ShoppingCart.open()

    assert repo.store(cart) is cart
    assert repo.get_version(cart.uuid) == 1


def test_a_save_without_changes_writes_nothing(repo, backend):
    cart = CartFactory()
    position = backend.last_position()

    repo.save(repo.load(cart.uuid))

    assert backend.last_position() == position


def test_unknown_aggregates_are_not_found(repo):
    missing = uuid.uuid4()

    assert repo.fetch(missing) is None
    assert repo.exists(missing) is False
    assert repo.get_version(missing) == 0
    with pytest.raises(AggregateNotFound) as caught:
        repo.load(missing)
    assert str(missing) in str(caught.value)


def test_load_or_create_returns_the_stored_cart_or_a_new_one(repo):
    stored = CartFactory(items=[("pear", 3)])
    fresh_uuid = uuid.uuid4()

    assert repo.load_or_create(stored.uuid).items == {"pear": 3}
    fresh = repo.load_or_create(fresh_uuid)
    assert (fresh.uuid, fresh.version) == (fresh_uuid, 0)


def test_a_closed_cart_is_gone_for_fetch_and_load_but_its_past_is_readable(repo):
    cart = CartFactory(items=[("apple", 1)], closed=True)

    assert repo.fetch(cart.uuid) is None
    with pytest.raises(AggregateClosed) as caught:
        repo.load(cart.uuid)
    assert caught.value.version == 3
    assert caught.value.aggregate.items == {"apple": 1}
    assert repo.load(cart.uuid, version=2).items == {"apple": 1}
    assert repo.load(cart.uuid, version=3).closed is True
    with pytest.raises(AggregateClosed):
        repo.load_or_create(cart.uuid)


def test_load_at_a_version_travels_back_in_time(repo):
    cart = CartFactory(items=[("apple", 1), ("pear", 2), ("plum", 3)])

    assert repo.load(cart.uuid, version=1).items == {}
    assert repo.load(cart.uuid, version=3).items == {"apple": 1, "pear": 2}
    assert repo.load(cart.uuid, version=3).version == 3
    with pytest.raises(VersionNotFound) as caught:
        repo.load(cart.uuid, version=5)
    assert (caught.value.version, caught.value.current_version) == (5, 4)
    with pytest.raises(ValueError):
        repo.load(cart.uuid, version=0)


def test_load_as_of_a_time_returns_the_state_then(repo):
    before = timezone.now()
    cart = CartFactory(items=[("apple", 1)])
    between = timezone.now()
    cart.add_item("pear", 1)
    repo.save(cart)

    assert repo.load(cart.uuid, as_of=between).items == {"apple": 1}
    assert repo.load(cart.uuid, as_of=timezone.now()).items == {"apple": 1, "pear": 1}
    with pytest.raises(AggregateNotFound):
        repo.load(cart.uuid, as_of=before)


def test_a_stale_save_raises_and_writes_nothing(repo):
    cart = CartFactory()
    first, second = repo.load(cart.uuid), repo.load(cart.uuid)
    first.add_item("pear")
    repo.save(first)
    second.add_item("plum")

    with pytest.raises(ConcurrencyError) as caught:
        repo.save(second)

    assert (caught.value.expected_version, caught.value.actual_version) == (2, 3)
    assert caught.value.aggregate_uuid == cart.uuid
    assert repo.load(cart.uuid).items == {"apple": 1, "pear": 1}


def test_update_retries_a_lost_race_against_fresh_state(repo):
    cart = CartFactory()
    calls = []

    def add_pear_after_a_rival_wrote(aggregate):
        calls.append(aggregate.version)
        if len(calls) == 1:
            rival = repo.load(cart.uuid)
            rival.add_item("plum")
            repo.save(rival)
        aggregate.add_item("pear")

    updated = repo.update(cart.uuid, add_pear_after_a_rival_wrote)

    assert calls == [2, 3]
    assert updated.version == 4
    assert repo.load(cart.uuid).items == {"apple": 1, "plum": 1, "pear": 1}


def test_the_snapshot_policy_snapshots_when_a_save_crosses_the_interval(backend):
    repo = Repository(ShoppingCart, snapshot_every=3)
    cart = ShoppingCart.open()
    cart.add_item("a")
    repo.save(cart)  # versions 1-2: no snapshot yet
    assert backend.list_snapshots(cart.uuid) == []

    for name in "bcdefg":
        cart.add_item(name)
        repo.save(cart)  # up to version 8: crosses 3 and 6

    assert [s.version for s in backend.list_snapshots(cart.uuid)] == [6, 3]
    assert backend.get_snapshot(cart.uuid).state == {
        "status": "open",
        "items": {"a": 1, "b": 1, "c": 1, "d": 1, "e": 1},
    }


def test_loading_starts_from_the_latest_snapshot_and_applies_the_tail(repo, backend):
    cart = CartFactory(items=[("apple", 1), ("pear", 1), ("plum", 1)])
    # A snapshot whose state differs from the events proves that loading used it.
    backend.save_snapshot(SnapshotRecord(cart.uuid, "ShoppingCart", 3, {"status": "open", "items": {"marker": 9}}, 1))

    assert repo.load(cart.uuid).items == {"marker": 9, "plum": 1}
    assert repo.load(cart.uuid, version=2).items == {"apple": 1}


def test_a_snapshot_of_an_older_state_schema_is_ignored(repo, backend):
    cart = CartFactory(items=[("apple", 1), ("pear", 1)])
    backend.save_snapshot(SnapshotRecord(cart.uuid, "ShoppingCart", 2, {"legacy": "shape"}, 0))

    assert repo.load(cart.uuid).items == {"apple": 1, "pear": 1}


def test_take_snapshot_saves_the_current_state(repo, backend):
    cart = CartFactory(items=[("apple", 2)])

    assert repo.take_snapshot(cart.uuid) == 2
    assert backend.get_snapshot(cart.uuid).state == {"status": "open", "items": {"apple": 2}}
    assert repo.take_snapshot(CartFactory(closed=True).uuid) is None


def test_schema_one_item_added_is_upcast_when_read(repo, backend):
    cart_uuid = uuid.uuid4()
    backend.append(
        cart_uuid,
        "ShoppingCart",
        0,
        [
            NewEvent("CartOpened", {"shopping_cart_uuid": str(cart_uuid)}),
            NewEvent("ItemAdded", {"shopping_cart_uuid": str(cart_uuid), "item_name": "apple"}, schema_version=1),
            NewEvent("ItemAdded", {"name": "apple", "quantity": 2}, schema_version=2),
        ],
    )

    assert repo.load(cart_uuid).items == {"apple": 3}
    stored = list(backend.read_stream(cart_uuid))
    assert stored[1].data == {"shopping_cart_uuid": str(cart_uuid), "item_name": "apple"}


def test_an_unregistered_event_name_is_an_error_naming_stream_and_version(repo, backend):
    cart = CartFactory()
    backend.append(cart.uuid, "ShoppingCart", 2, [NewEvent("CouponApplied", {"code": "X"})])

    with pytest.raises(UnknownEventError) as caught:
        repo.load(cart.uuid)

    assert (caught.value.name, caught.value.aggregate_uuid, caught.value.version) == ("CouponApplied", cart.uuid, 3)
    assert "CouponApplied" in str(caught.value) and str(cart.uuid) in str(caught.value)


@pytest.mark.parametrize(
    ("schema_version", "data"),
    [(3, {"name": "x", "quantity": 1}), (2, {"name": "x"}), (2, {"name": "x", "quantity": 1, "extra": 1})],
)
def test_a_payload_that_does_not_fit_its_class_is_a_decode_error(repo, backend, schema_version, data):
    cart = CartFactory()
    backend.append(cart.uuid, "ShoppingCart", 2, [NewEvent("ItemAdded", data, schema_version=schema_version)])

    with pytest.raises(EventDecodeError) as caught:
        repo.load(cart.uuid)

    assert caught.value.version == 3 and caught.value.aggregate_uuid == cart.uuid


def test_a_stream_of_another_aggregate_type_is_not_found(repo):
    other = append_stream(1, aggregate_type="Order")[0].aggregate_uuid

    with pytest.raises(AggregateNotFound):
        repo.load(other)


def test_events_carry_the_metadata_of_the_current_context(repo, backend):
    with event_context(correlation_id="req-1", actor="ann"), event_context(causation_id="cmd-9"):
        cart = CartFactory()

    stored = list(backend.read_stream(cart.uuid))
    assert {e.metadata["correlation_id"] for e in stored} == {"req-1"}
    assert stored[0].metadata == {"correlation_id": "req-1", "causation_id": "cmd-9", "actor": "ann"}
    assert next(backend.read_stream(CartFactory().uuid)).metadata == {}


def test_committed_events_are_published_after_commit_and_failed_ones_never(repo, django_capture_on_commit_callbacks):
    received = []

    def receiver(sender, events, **kwargs):
        received.extend(e.name for e in events)

    events_committed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            cart = CartFactory(items=[("apple", 1)])
        assert received == ["CartOpened", "ItemAdded"]

        stale = repo.load(cart.uuid)
        rival = repo.load(cart.uuid)
        rival.add_item("pear")
        with django_capture_on_commit_callbacks(execute=True):
            repo.save(rival)
        stale.add_item("plum")
        with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(ConcurrencyError):
            repo.save(stale)
        assert callbacks == []
        assert received == ["CartOpened", "ItemAdded", "ItemAdded"]
    finally:
        events_committed.disconnect(receiver)


commands = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(["apple", "pear", "plum", "fig"]), st.integers(1, 5)),
        st.tuples(st.just("remove"), st.sampled_from(["apple", "pear", "plum", "fig"]), st.just(0)),
        st.tuples(st.just("save"), st.just(""), st.just(0)),
        st.tuples(st.just("close"), st.just(""), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=commands, interval=st.integers(1, 7))
def test_events_alone_and_snapshot_plus_events_rebuild_the_same_state(backend, commands, interval):
    repo = Repository(ShoppingCart, snapshot_every=interval)
    plain = Repository(ShoppingCart)
    cart = ShoppingCart.open()
    for command, name, quantity in commands:
        try:
            if command == "add":
                cart.add_item(name, quantity)
            elif command == "remove":
                cart.remove_item(name)
            elif command == "close":
                cart.close()
            else:
                repo.save(cart)
        except (CartRuleViolation, AggregateClosed):
            pass
    repo.save(cart)

    for version in range(1, cart.version + 1):
        from_events = plain.load(cart.uuid, version=version)
        with_snapshots = repo.load(cart.uuid, version=version)
        assert from_events.get_state() == with_snapshots.get_state()
        assert from_events.version == with_snapshots.version == version
    final = plain.load(cart.uuid, version=cart.version)
    assert (final.items, final.closed) == (cart.items, cart.closed)
