"""Carts' registrations with the event store, imported at startup (eventstore autodiscovers `repositories`).

The registered repository is the one the admin's stream pages, `take_snapshots` and `verify_eventstore`
rebuild carts with, so its snapshot interval applies there too.
"""

import eventstore

from .projections import CartSummaryProjection
from .repository import carts

eventstore.register(carts)
eventstore.register_projection(CartSummaryProjection(), inline=True)
