"""The cart_summary projection: one CartSummary row per cart, folded from the cart's events."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventstore import store
from eventstore.backends.base import StoredEvent
from eventstore.events import registry
from eventstore.projections import ModelProjection, Row

from .domain import CartClosed, CartOpened, ItemAdded, ItemRemoved
from .models import CartSummary


class CartSummaryProjection(ModelProjection):
    """Keep CartSummary: owner, status, items, counts, version and last change of every cart."""

    name = "cart_summary"
    handles = frozenset(cls.event_name for cls in (CartOpened, ItemAdded, ItemRemoved, CartClosed))
    model = CartSummary

    def key(self, event: StoredEvent) -> UUID:
        return event.aggregate_uuid

    def fold(self, row: Row | None, event: StoredEvent) -> Row | None:
        if row is not None and event.version <= row["version"]:
            return row  # already applied (an inline run and a catch-up may both see it)
        applied = row["version"] if row is not None else 0
        if event.version != applied + 1:
            row = self._fill_gap(row, event, applied)
        return self._apply(row, event)

    def _fill_gap(self, row: Row | None, event: StoredEvent, applied: int) -> Row | None:
        """Fold the events between the row and `event`, read from the stream.

        A backend outside the Django database (DynamoDB) may run the inline receivers of two racing
        appends out of order. The earlier events are stored: the later append was conditioned on them.
        """
        missing = list(
            store.get_backend().read_stream(
                event.aggregate_uuid, from_version=applied + 1, to_version=event.version - 1
            )
        )
        if [m.version for m in missing] != list(range(applied + 1, event.version)):
            raise ValueError(f"version {event.version} follows version {applied}: events are missing")
        for earlier in missing:
            row = self._apply(row, earlier)
        return row

    def _apply(self, row: Row | None, event: StoredEvent) -> Row | None:
        # Decoding upcasts old payloads (CartOpened and ItemAdded schema 1) exactly as the aggregate sees them.
        fact = registry.decode(event.name, event.schema_version, event.data, event.aggregate_uuid, event.version)
        if isinstance(fact, CartOpened):
            items: dict[str, int] = {}
            row = {
                "uuid": event.aggregate_uuid,
                "owner_id": fact.owner_id or "",  # empty: unknown
                "status": CartSummary.OPEN,
                "opened_at": event.recorded_at,
            }
        elif row is None:
            raise ValueError(f"{event.name} before CartOpened: the cart has no summary yet")
        else:
            items = dict(row["items"])
        if isinstance(fact, ItemAdded):
            items[fact.name] = items.get(fact.name, 0) + fact.quantity
        elif isinstance(fact, ItemRemoved):
            items.pop(fact.name, None)
        elif isinstance(fact, CartClosed):
            row = {**row, "status": CartSummary.CLOSED}
        return {**row, **summary_of(items), "version": event.version, "updated_at": event.recorded_at}


def summary_of(items: dict[str, int]) -> dict[str, Any]:
    """Return the item fields of a summary row."""
    return {"items": items, "item_count": len(items), "total_quantity": sum(items.values())}
