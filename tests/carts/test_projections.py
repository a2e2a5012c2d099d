"""The cart_summary projection: what it folds from a cart's events, its gaps and its replay.

The event store's own projection tests (tests/eventstore/test_projections.py) run on the test domain;
these cover the carts read model itself.
"""

from __future__ import annotations

import dataclasses
import os
import random
import uuid

import pytest

from carts.domain import ShoppingCart
from carts.models import CartSummary
from carts.repository import carts
from eventstore import catchup, projections
from eventstore.models import Checkpoint
from eventstore.projections import Projection, ProjectionFailed
from tests.carts.factories import CartFactory

SUMMARY = "cart_summary"
# Thousands on the Django backend; an emulated DynamoDB answers each call over HTTP, far slower.
RANDOM_EVENTS = 3000 if os.environ.get("EVENTSTORE_BACKEND", "django") == "django" else 400


def summary_projection() -> Projection:
    return projections.registry.get(SUMMARY)


def random_history(rng: random.Random, events: int) -> list[uuid.UUID]:
    """Drive carts through random commands until about `events` events are stored; return their uuids."""
    open_carts: list[ShoppingCart] = []
    uuids: list[uuid.UUID] = []
    stored = 0
    while stored < events:
        if not open_carts or rng.random() < 0.05:
            cart = ShoppingCart.open(uuid.UUID(int=rng.getrandbits(128)))
            open_carts.append(cart)
            uuids.append(cart.uuid)
        cart = rng.choice(open_carts)
        for _ in range(rng.randint(1, 6)):
            roll = rng.random()
            if roll < 0.65:
                cart.add_item(rng.choice("abcdefghij"), rng.randint(1, 5))
            elif roll < 0.95 and cart.items:
                cart.remove_item(rng.choice(sorted(cart.items)))
            elif roll >= 0.98:
                cart.close()
                open_carts.remove(cart)
                break
        stored += len(cart.changes)
        carts.save(cart)
    return uuids


def test_opening_a_cart_writes_its_summary_in_the_same_transaction(backend):
    cart = CartFactory(items=[("apple", 2), ("pear", 1)])

    summary = CartSummary.objects.get(uuid=cart.uuid)

    assert (summary.status, summary.item_count, summary.total_quantity, summary.version) == ("open", 2, 3, 3)
    assert summary.items == {"apple": 2, "pear": 1}
    assert Checkpoint.objects.get(name=SUMMARY).position == backend.last_position()


def test_summary_follows_removals_and_closing(backend):
    cart = CartFactory(items=[("apple", 2), ("pear", 5)])
    carts.update(cart.uuid, lambda c: c.remove_item("pear"))
    carts.update(cart.uuid, lambda c: c.close())

    summary = CartSummary.objects.get(uuid=cart.uuid)

    assert (summary.status, summary.items, summary.total_quantity, summary.version) == ("closed", {"apple": 2}, 2, 5)


def test_summary_ignores_events_it_has_applied_and_fills_a_gap_from_the_stream(backend):
    cart = CartFactory(items=[("apple", 1), ("pear", 1)])
    events = list(backend.read_stream(cart.uuid))
    projection = summary_projection()
    before = projection.export()

    projection.handle_batch(events)  # all seen already: nothing changes
    assert projection.export() == before

    # Version 3 reaching the projection before version 2 (racing appends on DynamoDB).
    CartSummary.objects.filter(uuid=cart.uuid).delete()
    projection.handle_batch(events[:1])
    projection.handle_batch(events[2:])
    assert projection.export() == before


def test_summary_stops_on_an_event_whose_predecessors_are_not_stored(backend):
    cart = CartFactory(items=[("apple", 1)])
    events = list(backend.read_stream(cart.uuid))
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
    assert result.events == sum(backend.get_version(cart_uuid) for cart_uuid in uuids) >= RANDOM_EVENTS
    assert projection.export() == inline
    assert Checkpoint.objects.get(name=SUMMARY).status == Checkpoint.LIVE
    for cart_uuid in uuids[:20]:
        cart = carts.load(cart_uuid, version=backend.get_version(cart_uuid))
        assert CartSummary.objects.get(uuid=cart_uuid).items == cart.items
