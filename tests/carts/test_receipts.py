"""A closed cart's owner gets one receipt by email, sent by the cart_receipts subscription (issue 14, part 6)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.mail import EmailMessage
from django.core.management import call_command

from carts.models import Receipt
from eventstore.models import SubscriptionState
from tests.carts.conftest import client_for
from tests.carts.test_api import add, open_cart


def deliver_receipts() -> str:
    """Run a worker for cart_receipts until nothing is left to deliver; return what it printed."""
    out = StringIO()
    call_command("run_subscriptions", "--subscription", "cart_receipts", "--until-caught-up", stdout=out)
    return out.getvalue()


def close(api, cart_uuid: str) -> None:
    response = api.post(f"/api/carts/{cart_uuid}/close/")
    assert response.status_code == 200, response.content


@pytest.fixture
def shopper(backend, db) -> User:
    user = User.objects.create_user("cora", email="cora@example.com", password="x")
    deliver_receipts()  # the subscription starts "now": from here on
    return user


@pytest.fixture
def shop(shopper):
    return client_for(shopper)


def test_closing_a_cart_sends_its_owner_one_receipt(shop, shopper):
    cart = open_cart(shop)["uuid"]
    add(shop, cart, "apple", 3)
    add(shop, cart, "bread")
    close(shop, cart)
    assert mail.outbox == []  # not the request's work

    deliver_receipts()

    [message] = mail.outbox
    assert message.to == ["cora@example.com"]
    assert message.subject == f"Your receipt for cart {cart[:8]}"
    assert "3 x apple" in message.body and "1 x bread" in message.body and "2 item(s), 4 in all." in message.body
    assert message.extra_headers["Message-ID"] == f"<receipt-{cart}@localhost>"
    receipt = Receipt.objects.get()
    assert (str(receipt.cart_uuid), receipt.owner, receipt.email) == (cart, shopper, "cora@example.com")
    assert (receipt.item_count, receipt.total_quantity) == (2, 4)


def test_a_redelivered_close_sends_no_second_receipt(shop):
    cart = open_cart(shop)["uuid"]
    close(shop, cart)
    deliver_receipts()

    # As a worker that died before its checkpoint moved would leave it: the close is delivered again.
    SubscriptionState.objects.filter(name="cart_receipts").update(position=0)
    deliver_receipts()

    assert len(mail.outbox) == 1
    assert Receipt.objects.count() == 1


def test_only_closes_send_receipts(shop):
    cart = open_cart(shop)["uuid"]
    add(shop, cart, "apple")

    deliver_receipts()

    assert mail.outbox == [] and not Receipt.objects.exists()


def test_an_owner_without_an_address_gets_a_receipt_recorded_and_no_mail(backend, shop):
    no_address = client_for(User.objects.create_user("dan", password="x"))
    cart = open_cart(no_address)["uuid"]
    close(no_address, cart)

    deliver_receipts()

    assert mail.outbox == []
    assert Receipt.objects.get().email == ""


def test_a_failing_mail_server_is_retried_and_nothing_is_recorded_until_it_takes_the_message(
    shop, settings, monkeypatch
):
    cart = open_cart(shop)["uuid"]
    close(shop, cart)
    refusals = []

    def refuse_twice(self, *args, **kwargs):
        if len(refusals) < 2:
            refusals.append(Receipt.objects.count())
            raise ConnectionRefusedError("the mail server is down")
        return send(self, *args, **kwargs)

    send = EmailMessage.send
    monkeypatch.setattr(EmailMessage, "send", refuse_twice)
    monkeypatch.setattr("eventstore.subscriptions.Subscription.delay", lambda self, attempt: 0.0)

    deliver_receipts()

    # Each refused try had written its Receipt, and rolled it back: had one stayed, the third try would have
    # taken the close for sent and mailed nothing.
    assert refusals == [1, 1]
    assert len(mail.outbox) == 1 and Receipt.objects.count() == 1


def test_carts_closed_before_the_first_worker_get_no_receipt(backend, db):
    old = client_for(User.objects.create_user("eve", email="eve@example.com", password="x"))
    close(old, open_cart(old)["uuid"])

    deliver_receipts()  # the first run starts the subscription at the store's head

    assert mail.outbox == [] and not Receipt.objects.exists()


def test_a_read_model_that_missed_a_write_is_repaired_by_the_worker(shop, settings, monkeypatch):
    # With DynamoDB the inline run comes after the commit: a failure there leaves the cart list behind.
    from carts.models import CartSummary
    from carts.projections import CartSummaryProjection

    settings.EVENTSTORE = {**settings.EVENTSTORE, "PROJECTION_REPAIR_SECONDS": 0.001}
    cart = open_cart(shop)["uuid"]
    fold = CartSummaryProjection.fold

    def unreachable(self, row, event):
        raise ConnectionError("the read model's database went away")

    monkeypatch.setattr(CartSummaryProjection, "fold", unreachable)
    assert add(shop, cart, "apple", 2).status_code == 200  # the write goes through; the read model is stopped
    monkeypatch.setattr(CartSummaryProjection, "fold", fold)
    assert CartSummary.objects.get(uuid=cart).total_quantity == 0

    deliver_receipts()  # any worker: it catches stopped projections up

    summary = CartSummary.objects.get(uuid=cart)
    assert (summary.total_quantity, summary.version) == (2, 2)
    assert shop.get("/api/carts/").json()["results"][0]["total_quantity"] == 2
