"""factory-boy factories for events, streams and carts."""

from __future__ import annotations

import uuid
from typing import Any

import factory

from carts.domain import ShoppingCart
from carts.repository import carts
from eventstore import store
from eventstore.backends.base import NewEvent, StoredEvent


class NewEventFactory(factory.Factory):
    """An ItemAdded-shaped event ready to append."""

    class Meta:
        model = NewEvent

    name = "ItemAdded"
    schema_version = 2
    data = factory.Sequence(lambda n: {"name": f"item-{n}", "quantity": 1})
    metadata = factory.LazyFunction(dict)
    event_uuid = factory.LazyFunction(uuid.uuid4)


def append_stream(
    events: int = 3, *, aggregate_uuid: uuid.UUID | None = None, aggregate_type: str = "ShoppingCart", **kwargs: Any
) -> list[StoredEvent]:
    """Append a stream of `events` generic events through the configured backend and return them."""
    aggregate_uuid = aggregate_uuid or uuid.uuid4()
    backend = store.get_backend()
    return backend.append(
        aggregate_uuid,
        aggregate_type,
        backend.get_version(aggregate_uuid),
        NewEventFactory.build_batch(events),
        **kwargs,
    )


class CartFactory(factory.Factory):
    """A saved ShoppingCart; `items` is a list of (name, quantity) to add, `closed` closes it."""

    class Meta:
        model = ShoppingCart

    uuid = factory.LazyFunction(uuid.uuid4)

    @classmethod
    def _create(cls, model_class: type[ShoppingCart], *args: Any, **kwargs: Any) -> ShoppingCart:
        items = kwargs.pop("items", [("apple", 1)])
        closed = kwargs.pop("closed", False)
        cart = model_class.open(kwargs["uuid"])
        for name, quantity in items:
            cart.add_item(name, quantity)
        if closed:
            cart.close()
        return carts.save(cart)
