"""Receipts: when a cart closes, its owner gets one by email.

Sent by the `cart_receipts` subscription (registered in carts/repositories.py), which `manage.py
run_subscriptions` delivers to, never by the request that closes the cart: a slow or failing mail
server costs the shopper nothing, and a failed send is retried with backoff, then parked for a person.

The subscription is transactional: the Receipt row commits in one transaction with the subscription's
checkpoint, so a redelivered CartClosed finds its receipt and sends nothing more. The one case left is
a worker killed after the mail server took the message and before that commit: the event is delivered
again and a second copy goes out. Its Message-ID is derived from the cart, the same on every copy, so a
mail system that drops duplicates by Message-ID can drop it.
"""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage

from eventstore import Delivery

from .models import Receipt
from .repository import carts


def send_receipt(delivery: Delivery) -> None:
    """Record and send the receipt of the cart a CartClosed closed, unless it was sent already."""
    cart_uuid = delivery.aggregate_uuid
    if Receipt.objects.filter(cart_uuid=cart_uuid).exists():
        return  # a redelivery: the receipt committed with an earlier checkpoint
    cart = carts.load(cart_uuid, version=delivery.version)
    owner = get_user_model().objects.filter(pk=cart.owner).first() if cart.owner else None
    address = getattr(owner, "email", "") or ""
    Receipt.objects.create(
        cart_uuid=cart_uuid,
        owner=owner,
        email=address,
        item_count=len(cart.items),
        total_quantity=sum(cart.items.values()),
        closed_at=delivery.recorded_at,
    )
    if address:
        receipt_message(cart_uuid, cart.items, address, delivery).send()


def receipt_message(cart_uuid: UUID, items: dict[str, int], address: str, delivery: Delivery) -> EmailMessage:
    lines = [f"  {quantity} x {name}" for name, quantity in sorted(items.items())] or ["  (the cart was empty)"]
    body = "\n".join(
        [
            f"Your cart {cart_uuid} was closed at {delivery.recorded_at:%Y-%m-%d %H:%M} UTC.",
            "",
            *lines,
            "",
            f"{len(items)} item(s), {sum(items.values())} in all.",
        ]
    )
    return EmailMessage(
        subject=f"Your receipt for cart {str(cart_uuid)[:8]}",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[address],
        headers={"Message-ID": f"<receipt-{cart_uuid}@{sender_domain()}>"},
    )


def sender_domain() -> str:
    """Return the domain of DEFAULT_FROM_EMAIL, for the receipts' Message-IDs."""
    return settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip("<> ") or "localhost"
