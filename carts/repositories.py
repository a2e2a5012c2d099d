"""Carts' registrations with the event store, imported at startup (eventstore autodiscovers `repositories`).

The registered repository is the one the admin's stream pages, `take_snapshots` and `verify_eventstore`
rebuild carts with, so its snapshot interval applies there too.
"""

import eventstore

from .domain import CartClosed
from .projections import CartSummaryProjection
from .receipts import send_receipt
from .repository import carts

eventstore.register(carts)
eventstore.register_projection(CartSummaryProjection(), inline=True)
# Receipts go out from `manage.py run_subscriptions`, in the transaction that moves the checkpoint. "now":
# carts closed before the first worker ran (before receipts existed) get none.
eventstore.register_subscription(
    "cart_receipts", send_receipt, events=[CartClosed], transactional=True, attempts=5, backoff=2.0, start="now"
)
