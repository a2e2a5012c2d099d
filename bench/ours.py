"""The project's side of each workload: the carts repository and the configured backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from carts.domain import ShoppingCart
from carts.repository import carts
from eventstore import projections, store
from eventstore.repository import Repository
from eventstore.snapshots import snapshot_of

from .common import item_name

#: Batches and long streams are written without a snapshot policy: W4 places its snapshot itself.
plain = Repository(ShoppingCart)


def open_carts(count: int) -> list[ShoppingCart]:
    return [ShoppingCart.open() for _ in range(count)]


def single_saves(count: int, saves_per_cart: int) -> None:
    """Save `count` carts `saves_per_cart` times each, one event per save (W1)."""
    shopping = open_carts(count)
    for cart in shopping:
        carts.save(cart)
    for round_ in range(1, saves_per_cart):
        for cart in shopping:
            cart.add_item(item_name(round_))
            carts.save(cart)


def batch_appends(batches: int, events: int) -> None:
    """Save `batches` new carts of `events` events each, one save per cart (W2)."""
    for _ in range(batches):
        cart = ShoppingCart.open()
        for n in range(1, events):
            cart.add_item(item_name(n))
        plain.save(cart)


def write_stream(events: int, *, snapshot_at: int | None = None, chunk: int = 1000) -> uuid.UUID:
    """Write a cart of `events` events in saves of `chunk` (at most the backend's limit per append);
    snapshot it at version `snapshot_at`."""
    chunk = max_per_append(chunk)
    cart = ShoppingCart.open()
    for n in range(1, events):
        cart.add_item(item_name(n))
        if len(cart.changes) >= chunk or cart.version == snapshot_at:
            plain.save(cart)
            if cart.version == snapshot_at:
                store.get_backend().save_snapshot(snapshot_of(cart))
    if cart.changes:
        plain.save(cart)
    return cart.uuid


def max_per_append(events: int) -> int:
    """Return `events`, or fewer if the backend takes fewer per append (DynamoDB: 48)."""
    return min(events, store.get_backend().max_events_per_append or events)


def load(cart_uuid: uuid.UUID) -> ShoppingCart:
    return carts.load(cart_uuid)


def read_all() -> Iterator[object]:
    for event in store.get_backend().read_all(0):
        yield event.data


def stream_versions(cart_uuid: uuid.UUID) -> tuple[list[int], int]:
    """Return the stream's versions as read and its head's version (for the contiguity check)."""
    backend = store.get_backend()
    return [event.version for event in backend.read_stream(cart_uuid)], backend.get_version(cart_uuid)


@contextmanager
def inline_projections_off() -> Iterator[None]:
    """Unregister the inline projections (the cart read model) for the block, then restore them.

    The raw driver and the peer keep no read model, so the store is compared without one; the
    cost of keeping it inline is measured on its own (W1 with the cart read model).
    """
    inline = projections.registry.inline()
    for projection in inline:
        projections.registry.unregister(projection.name)
    try:
        yield
    finally:
        for projection in inline:
            projections.registry.register(projection, inline=True)


def cart_read_model() -> projections.Projection:
    return projections.registry.get("cart_summary")
