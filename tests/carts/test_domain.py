"""The cart's rules and how its state follows from its events (no storage involved)."""

from __future__ import annotations

import pytest

from carts.domain import MAX_NAME_LENGTH, MAX_QUANTITY, CartClosed, ItemAdded, ItemRemoved, ShoppingCart
from carts.exceptions import InvalidItemName, InvalidQuantity, ItemNotInCart
from eventstore.exceptions import AggregateClosed


def test_opening_a_cart_records_cart_opened_at_version_one():
    cart = ShoppingCart.open()

    assert cart.version == 1
    assert cart.persisted_version == 0
    assert [type(e).__name__ for e in cart.changes] == ["CartOpened"]
    assert cart.get_state() == {"owner": None, "status": "open", "items": {}}


def test_adding_the_same_item_twice_adds_up_quantities():
    cart = ShoppingCart.open()
    cart.add_item("apple", 2)
    cart.add_item(" apple ", 3)

    assert cart.items == {"apple": 5}
    assert cart.changes[-1] == ItemAdded(name="apple", quantity=3)


def test_removing_an_item_drops_its_line():
    cart = ShoppingCart.open()
    cart.add_item("apple", 2)
    cart.add_item("pear")
    cart.remove_item(" apple ")

    assert cart.items == {"pear": 1}
    assert cart.changes[-1] == ItemRemoved(name="apple")


@pytest.mark.parametrize("quantity", [0, -1, MAX_QUANTITY + 1, 1.5, "2", True, None])
def test_quantities_must_be_whole_and_positive_within_the_limit(quantity):
    cart = ShoppingCart.open()

    with pytest.raises(InvalidQuantity):
        cart.add_item("apple", quantity)
    assert cart.version == 1


@pytest.mark.parametrize("name", ["", "   ", "x" * (MAX_NAME_LENGTH + 1), None, 42])
def test_item_names_must_be_non_empty_and_short(name):
    cart = ShoppingCart.open()

    with pytest.raises(InvalidItemName):
        cart.add_item(name)
    assert cart.items == {}


def test_removing_an_item_not_in_the_cart_is_refused():
    cart = ShoppingCart.open()

    with pytest.raises(ItemNotInCart) as caught:
        cart.remove_item("ghost")
    assert caught.value.code == "item_not_in_cart"


def test_a_closed_cart_takes_no_more_changes():
    cart = ShoppingCart.open()
    cart.close()

    assert cart.closed and cart.status == "closed"
    assert isinstance(cart.changes[-1], CartClosed)
    with pytest.raises(AggregateClosed):
        cart.add_item("apple")
    with pytest.raises(AggregateClosed):
        cart.close()
    assert cart.version == 2


def test_events_are_immutable_values():
    added = ItemAdded(name="apple", quantity=1)

    with pytest.raises(AttributeError):
        added.quantity = 5  # type: ignore[misc]
    assert added == ItemAdded(name="apple", quantity=1)
    assert added.to_payload() == {"name": "apple", "quantity": 1}
    assert (ItemAdded.event_name, ItemAdded.schema_version) == ("ItemAdded", 2)
