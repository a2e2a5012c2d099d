"""The carts repository over the configured backend: old cart events are upcast when read."""

from __future__ import annotations

import uuid

from carts.repository import carts
from eventstore.backends.base import NewEvent


def test_schema_one_item_added_is_upcast_when_read(backend):
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

    assert carts.load(cart_uuid).items == {"apple": 3}
    stored = list(backend.read_stream(cart_uuid))
    assert stored[1].data == {"shopping_cart_uuid": str(cart_uuid), "item_name": "apple"}
