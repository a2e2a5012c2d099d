"""factory-boy factories for carts."""

from __future__ import annotations

import uuid
from typing import Any

import factory

from carts.domain import ShoppingCart
from carts.repository import carts


class CartFactory(factory.Factory):
    """A saved ShoppingCart; `items` is a list of (name, quantity) to add, `closed` closes it.

    `owner` is the user who opened it (None: no owner known, as for carts opened before owners).
    """

    class Meta:
        model = ShoppingCart

    uuid = factory.LazyFunction(uuid.uuid4)

    @classmethod
    def _create(cls, model_class: type[ShoppingCart], *args: Any, **kwargs: Any) -> ShoppingCart:
        items = kwargs.pop("items", [("apple", 1)])
        closed = kwargs.pop("closed", False)
        owner = kwargs.pop("owner", None)
        cart = model_class.open(kwargs["uuid"], owner=None if owner is None else str(owner.pk))
        for name, quantity in items:
            cart.add_item(name, quantity)
        if closed:
            cart.close()
        return carts.save(cart)
