"""Random command sequences on carts: the state rebuilt from events alone, from snapshot + events and
from the CartSummary read model always agree with a plain model of the rules, at every version; a
command that breaks a rule stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carts.domain import MAX_QUANTITY, ShoppingCart
from carts.exceptions import CartRuleViolation
from carts.models import CartSummary
from carts.repository import carts
from eventstore import store
from eventstore.exceptions import AggregateClosed

NAMES = st.sampled_from(["apple", "pear", " plum ", "fig", "é-ü", "<b>x</b>", "a" * 100])
COMMANDS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), NAMES, st.integers(min_value=-2, max_value=MAX_QUANTITY + 1)),
        st.tuples(st.just("remove"), NAMES, st.none()),
        st.tuples(st.just("snapshot"), st.none(), st.none()),
        st.tuples(st.just("close"), st.none(), st.none()),
    ),
    max_size=25,
)
FAR_FUTURE = datetime.now(UTC) + timedelta(days=3650)


def expected_after(items: dict[str, int], closed: bool, command: tuple) -> tuple[dict[str, int], bool, bool]:
    """Return (items, closed, recorded) after a command, by the cart's rules written out plainly."""
    kind, name, quantity = command
    if closed or kind == "snapshot":
        return items, closed, False
    if kind == "close":
        return items, True, True
    key = name.strip()
    if kind == "remove":
        # Names are stripped on removal as on adding: " plum " removes "plum".
        if key not in items:
            return items, closed, False
        return {k: v for k, v in items.items() if k != key}, closed, True
    if not 1 <= quantity <= MAX_QUANTITY or items.get(key, 0) + quantity > MAX_QUANTITY:
        return items, closed, False
    return {**items, key: items.get(key, 0) + quantity}, closed, True


def rehydrated(uuid: UUID, **kwargs) -> ShoppingCart:
    try:
        return carts.load(uuid, **kwargs)
    except AggregateClosed as closed:
        return closed.aggregate


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=COMMANDS)
def test_state_from_events_from_snapshots_and_from_the_read_model_always_agree(backend, commands):
    cart = carts.save(ShoppingCart.open())
    items: dict[str, int] = {}
    closed = False
    history = [({}, False)]  # expected state at each version, version 1 first

    for command in commands:
        before = store.get_backend().get_version(cart.uuid)
        kind, name, quantity = command
        items_after, closed_after, recorded = expected_after(items, closed, command)
        try:
            if kind == "snapshot":
                carts.take_snapshot(cart.uuid)
            else:
                aggregate = carts.load(cart.uuid)
                if kind == "add":
                    aggregate.add_item(name, quantity)
                elif kind == "remove":
                    aggregate.remove_item(name)
                else:
                    aggregate.close()
                carts.save(aggregate)
        except (CartRuleViolation, AggregateClosed):
            assert not recorded, f"{command} was refused but the rules allow it"
        after = store.get_backend().get_version(cart.uuid)
        assert after == before + (1 if recorded else 0), f"{command}: version {before} -> {after}"
        items, closed = items_after, closed_after
        if recorded:
            history.append((items, closed))

    version = len(history)
    from_snapshot = rehydrated(cart.uuid)
    from_events = rehydrated(cart.uuid, as_of=FAR_FUTURE)  # by date: snapshots are never used
    summary = CartSummary.objects.get(uuid=cart.uuid)
    expected = (version, "closed" if closed else "open", items)
    assert (from_snapshot.version, from_snapshot.status, from_snapshot.items) == expected
    assert (from_events.version, from_events.status, from_events.items) == expected
    assert (summary.version, summary.status, summary.items) == expected
    assert (summary.item_count, summary.total_quantity) == (len(items), sum(items.values()))
    for at, (items_then, closed_then) in enumerate(history, start=1):
        past = carts.load(cart.uuid, version=at)
        assert (past.items, past.closed) == (items_then, closed_then), f"state at version {at}"
