"""The registry telling the admin which repository rebuilds each aggregate type."""

from __future__ import annotations

import pytest

from carts.domain import ShoppingCart
from carts.repository import carts
from eventstore.admin_registry import register_repository, repository_for, unregister_repository
from eventstore.repository import Repository


def test_the_carts_admin_registers_the_carts_repository():
    assert repository_for("ShoppingCart") is carts
    assert repository_for("Invoice") is None


def test_registering_the_same_repository_again_is_harmless_and_another_one_is_refused():
    assert register_repository(carts) is carts

    with pytest.raises(ValueError, match="already registered for aggregate type 'ShoppingCart'"):
        register_repository(Repository(ShoppingCart))

    assert repository_for("ShoppingCart") is carts


def test_an_unregistered_type_can_be_registered_anew():
    try:
        unregister_repository("ShoppingCart")
        assert repository_for("ShoppingCart") is None
        other = Repository(ShoppingCart)
        assert register_repository(other) is other
        unregister_repository("ShoppingCart")
        unregister_repository("ShoppingCart")  # forgetting what is not there does nothing
    finally:
        register_repository(carts)
    assert repository_for("ShoppingCart") is carts
