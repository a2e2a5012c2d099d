"""A stored write is answered as stored: nothing that fails after the events are in turns it into an error.

Each test here reproduces a failure seen on the landed code (issue 13): a failing events_committed
receiver that aborted the others and turned a committed write into a 500; a snapshot save that failed
after the append; a read-model constraint violation inside an inline projection that refused the write
and logged the cart's contents; the same error crashing replay_projections.
"""

from __future__ import annotations

import logging
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from carts.domain import ShoppingCart
from carts.models import CartSummary
from carts.projections import CartSummaryProjection
from eventstore import Repository, events_committed
from eventstore.exceptions import BackendUnavailable
from eventstore.models import Checkpoint
from eventstore.projections import registry as projections
from eventstore.testing.memory import InMemoryBackend

SECRET = "secret-item-do-not-log"


class BrokenSummaryProjection(CartSummaryProjection):
    """The cart summary with a bug: from the first ItemAdded on, its rows break a NOT NULL constraint."""

    name = "broken_summary"

    def fold(self, row, event):
        folded = super().fold(row, event)
        if folded is not None and event.name == "ItemAdded":
            folded = {**folded, "version": None}
        return folded


@pytest.fixture
def broken_projection(backend):
    projection = projections.register(BrokenSummaryProjection(), inline=True)
    yield projection
    projections.unregister(projection.name)


def open_cart_with(*names: str) -> ShoppingCart:
    cart = ShoppingCart.open(uuid.uuid4())
    for name in names:
        cart.add_item(name, 1)
    return cart


def test_a_failing_committed_receiver_neither_stops_the_others_nor_fails_the_write(
    backend, django_capture_on_commit_callbacks, caplog
):
    def broken(sender, events, **kwargs):
        raise RuntimeError(f"receiver bug while handling {events[0].data}")

    seen = []

    def healthy(sender, events, **kwargs):
        seen.extend(event.version for event in events)

    events_committed.connect(broken, dispatch_uid="test.broken")
    events_committed.connect(healthy, dispatch_uid="test.healthy")
    repository = Repository(ShoppingCart)
    try:
        with django_capture_on_commit_callbacks(execute=True), caplog.at_level(logging.ERROR):
            cart = repository.save(open_cart_with(SECRET))
    finally:
        events_committed.disconnect(dispatch_uid="test.broken")
        events_committed.disconnect(dispatch_uid="test.healthy")

    assert seen == [1, 2]
    assert backend.get_version(cart.uuid) == 2
    failures = [record for record in caplog.records if "events_committed receiver" in record.getMessage()]
    assert len(failures) == 1
    message = failures[0].getMessage()
    assert str(cart.uuid) in message and "versions 1-2" in message and "CartOpened, ItemAdded" in message
    assert "RuntimeError" in message
    assert SECRET not in caplog.text


class SnapshotsDown(InMemoryBackend):
    def save_snapshot(self, snapshot):
        raise BackendUnavailable("Saving a snapshot: the snapshot table did not answer")


def test_a_failed_snapshot_after_the_append_is_logged_and_the_save_succeeds(db, caplog):
    backend = SnapshotsDown()
    repository = Repository(ShoppingCart, snapshot_every=2, backend=backend)

    with caplog.at_level(logging.WARNING):
        cart = repository.save(open_cart_with(SECRET, "pear"))

    assert backend.get_version(cart.uuid) == 3
    assert repository.load(cart.uuid).items == {SECRET: 1, "pear": 1}
    assert f"Snapshot of ShoppingCart {cart.uuid} at version 3 not saved" in caplog.text
    assert SECRET not in caplog.text


def test_a_database_error_in_an_inline_projection_keeps_the_write_and_stops_only_that_projection(
    broken_projection, backend, caplog
):
    repository = Repository(ShoppingCart)
    first = repository.save(open_cart_with())  # CartOpened alone: the broken projection is fine with it

    with caplog.at_level(logging.ERROR):
        cart = repository.save(open_cart_with(SECRET))

    assert backend.get_version(cart.uuid) == 2
    checkpoint = Checkpoint.objects.get(name="broken_summary")
    assert checkpoint.status == Checkpoint.STOPPED
    assert f"stream {cart.uuid} version 1 event CartOpened" in checkpoint.error
    assert "IntegrityError" in checkpoint.error
    # The healthy projection in the same transaction went on as if nothing happened.
    assert CartSummary.objects.get(uuid=cart.uuid).items == {SECRET: 1}
    assert CartSummary.objects.filter(uuid=first.uuid).exists()
    assert "broken_summary failed" in caplog.text
    assert SECRET not in caplog.text
    assert SECRET not in checkpoint.error


def test_replay_meeting_a_database_error_stops_cleanly_and_resume_continues_once_fixed(broken_projection, backend):
    repository = Repository(ShoppingCart)
    carts = [repository.save(open_cart_with(SECRET)) for _ in range(3)]

    with pytest.raises(CommandError) as raised:
        call_command("replay_projections", "--projection", "broken_summary", stdout=StringIO(), stderr=StringIO())

    assert "\n" not in str(raised.value)
    assert "IntegrityError" in str(raised.value) and SECRET not in str(raised.value)
    checkpoint = Checkpoint.objects.get(name="broken_summary")
    assert checkpoint.status == Checkpoint.STOPPED
    first_item_added = next(event for event in backend.read_all(0) if event.name == "ItemAdded")
    # Before the failing batch: a database error undoes the whole batch, so the checkpoint names none of it.
    assert checkpoint.position < first_item_added.position

    projections.register(FixedSummaryProjection(), inline=True)
    out = StringIO()
    call_command("replay_projections", "--projection", "broken_summary", "--resume", stdout=out)

    assert Checkpoint.objects.get(name="broken_summary").status == Checkpoint.LIVE
    assert "live" in out.getvalue()
    assert {row.uuid for row in CartSummary.objects.all()} == {cart.uuid for cart in carts}


class FixedSummaryProjection(CartSummaryProjection):
    name = "broken_summary"


def test_update_waits_a_jittered_bounded_time_between_lost_races(monkeypatch):
    from eventstore import repository as repository_module

    waits = [repository_module.backoff(attempt) for attempt in range(1, 12) for _ in range(50)]

    assert all(0 <= wait <= repository_module.BACKOFF_CAP for wait in waits)
    assert len(set(waits)) > 500  # jittered: writers that collided do not retry in lockstep
    assert max(repository_module.backoff(1) for _ in range(200)) <= 2 * repository_module.BACKOFF_BASE
