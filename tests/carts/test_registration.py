"""Carts register with the event store from carts/repositories.py, found by autodiscovery."""

from carts.repository import carts
from eventstore.projections import registry as projections
from eventstore.registry import repositories


def test_carts_repositories_module_is_autodiscovered_and_registers_the_carts_repository_and_read_model():
    assert repositories.get("ShoppingCart") is carts
    assert "cart_summary" in projections.names()
    assert "cart_summary" in [projection.name for projection in projections.inline()]
