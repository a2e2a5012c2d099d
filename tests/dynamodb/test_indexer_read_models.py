"""With the indexer giving positions, read models follow the store asynchronously and a save touches no SQL.

The suite's DynamoDB backend assigns positions in the append (GLOBAL_ORDER "append"); these tests make the
default backend an indexed one, as a production settings file would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from carts.domain import ShoppingCart
from carts.models import CartSummary
from carts.repository import carts
from eventstore import store
from eventstore.backends.dynamodb import DynamoDBBackend
from eventstore.models import Checkpoint

from .indexing import settle


@pytest.fixture
def indexed_store(transactional_db: None, settings) -> Iterator[DynamoDBBackend]:
    dynamodb = settings.EVENTSTORE["BACKENDS"]["dynamodb"]
    default = {**dynamodb, "OPTIONS": {**dynamodb["OPTIONS"], "GLOBAL_ORDER": "indexer"}}
    settings.EVENTSTORE = {**settings.EVENTSTORE, "BACKENDS": {**settings.EVENTSTORE["BACKENDS"], "default": default}}
    store.reset_backend()
    backend = store.get_backend()
    assert isinstance(backend, DynamoDBBackend) and not backend.positions_on_append
    backend.reset_for_tests()
    yield backend
    store.reset_backend()


def test_a_save_sends_no_sql_and_the_read_model_follows_through_the_indexer_and_the_worker(indexed_store) -> None:
    cart = ShoppingCart.open(uuid.uuid4())
    cart.add_item("apple", 2)

    with CaptureQueriesContext(connection) as queries:
        carts.save(cart)

    assert [query["sql"] for query in queries.captured_queries] == []  # no transaction, no lock, no inline projection
    assert not CartSummary.objects.filter(uuid=cart.uuid).exists()  # the read model has not followed yet

    settle(indexed_store)
    call_command("run_subscriptions", "--until-caught-up", verbosity=0)

    summary = CartSummary.objects.get(uuid=cart.uuid)
    assert (summary.status, summary.version) == (CartSummary.OPEN, 2)
    assert Checkpoint.objects.get(name="cart_summary").position == indexed_store.last_position() == 2

    cart = carts.load(cart.uuid)
    cart.close()
    carts.save(cart)
    settle(indexed_store)
    call_command("run_subscriptions", "--until-caught-up", verbosity=0)

    summary.refresh_from_db()
    assert (summary.status, summary.version) == (CartSummary.CLOSED, 3)


def test_index_events_indexes_until_caught_up_and_says_what_is_left(indexed_store, capsys) -> None:
    for _ in range(3):
        carts.save(ShoppingCart.open(uuid.uuid4()))

    call_command("index_events", "--until-caught-up")

    assert indexed_store.last_position() == 3
    assert "Indexed 3 event(s); 0 event(s) wait for a position." in capsys.readouterr().out
