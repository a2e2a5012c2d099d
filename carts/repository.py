"""Where carts are kept: the event store, with a snapshot every 100 events."""

from eventstore.repository import Repository

from .domain import ShoppingCart

carts: Repository[ShoppingCart] = Repository(ShoppingCart, snapshot_every=100)
