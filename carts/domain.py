"""The shopping cart: its events, its rules and how its state follows from its history.

Knows nothing of storage: the repository rebuilds carts from these events.
"""

from __future__ import annotations

import unicodedata
from typing import Any
from uuid import UUID

from eventstore.aggregates import Aggregate, on
from eventstore.events import Event, event, upcaster

from .exceptions import InvalidItemName, InvalidQuantity, ItemNotInCart, TooManyItems

MAX_NAME_LENGTH = 100
MAX_QUANTITY = 10_000
MAX_DISTINCT_ITEMS = 200
#: Unicode categories an item name may not hold: control (Cc) and format (Cf) characters.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf"})


@event("CartOpened", schema_version=2)
class CartOpened(Event):
    shopping_cart_uuid: str
    #: Who opened the cart, and owns it: the user's primary key as text; None when unknown.
    owner_id: str | None = None


@upcaster("CartOpened", from_version=1)
def cart_opened_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 recorded no owner: a cart opened then has none known."""
    return {**data, "owner_id": None}


@event("ItemAdded", schema_version=2)
class ItemAdded(Event):
    name: str
    quantity: int


@upcaster("ItemAdded", from_version=1)
def item_added_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 (the design notes' {shopping_cart_uuid, item_name}) added one unit of an item."""
    return {"name": data["item_name"], "quantity": 1}


@event("ItemRemoved")
class ItemRemoved(Event):
    name: str


@event("CartClosed")
class CartClosed(Event):
    pass


class ShoppingCart(Aggregate):
    aggregate_type = "ShoppingCart"
    tombstone = CartClosed
    # 2: the state holds the owner.
    state_schema_version = 2

    def __init__(self, uuid: UUID | None = None) -> None:
        super().__init__(uuid)
        #: The owner's id (a user's primary key as text), None when unknown (carts opened before owners).
        self.owner: str | None = None
        self.items: dict[str, int] = {}

    # Commands

    @classmethod
    def open(cls, uuid: UUID | None = None, *, owner: str | None = None) -> ShoppingCart:
        cart = cls(uuid)
        cart.record(CartOpened(shopping_cart_uuid=str(cart.uuid), owner_id=owner))
        return cart

    def add_item(self, name: str, quantity: int = 1) -> None:
        name = validate_item_name(name)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidQuantity(f"Quantity must be a whole number from 1 to {MAX_QUANTITY}, not {quantity!r}.")
        if self.items.get(name, 0) + quantity > MAX_QUANTITY:
            raise InvalidQuantity(f"{name!r} would exceed {MAX_QUANTITY} units.")
        if name not in self.items and len(self.items) >= MAX_DISTINCT_ITEMS:
            raise TooManyItems(f"A cart holds at most {MAX_DISTINCT_ITEMS} distinct items.")
        self.record(ItemAdded(name=name, quantity=quantity))

    def remove_item(self, name: str) -> None:
        # A name recorded before names were normalised (or checked for hidden characters) is removed as recorded.
        if not isinstance(name, str) or name.strip() not in self.items:
            name = validate_item_name(name)
        name = name.strip()
        if name not in self.items:
            raise ItemNotInCart(f"{name!r} is not in the cart.")
        self.record(ItemRemoved(name=name))

    def close(self) -> None:
        self.record(CartClosed())

    # State

    @property
    def status(self) -> str:
        return "closed" if self.closed else "open"

    def get_state(self) -> dict[str, Any]:
        return {"owner": self.owner, "status": self.status, "items": dict(self.items)}

    def set_state(self, state: dict[str, Any]) -> None:
        self.owner = state["owner"]
        self.items = dict(state["items"])

    @on(CartOpened)
    def _opened(self, event: CartOpened) -> None:
        self.owner = event.owner_id
        self.items = {}

    @on(ItemAdded)
    def _item_added(self, event: ItemAdded) -> None:
        self.items[event.name] = self.items.get(event.name, 0) + event.quantity

    @on(ItemRemoved)
    def _item_removed(self, event: ItemRemoved) -> None:
        self.items.pop(event.name, None)

    @on(CartClosed)
    def _closed(self, event: CartClosed) -> None:
        pass


def normalize_item_name(name: str) -> str:
    """Return the item name as it is kept: NFC-normalised, without surrounding spaces."""
    return unicodedata.normalize("NFC", name).strip()


def validate_item_name(name: object) -> str:
    """Return the item name normalised (normalize_item_name), or raise InvalidItemName.

    Control and format characters (Unicode categories Cc and Cf: line breaks, bidi overrides,
    zero-width characters) are refused: they hide or disguise what a name shows.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidItemName("An item needs a non-empty name.")
    name = normalize_item_name(name)
    hidden = next((char for char in name if unicodedata.category(char) in INVISIBLE_CATEGORIES), None)
    if hidden is not None:
        raise InvalidItemName(f"An item name may not hold control or format characters; it holds U+{ord(hidden):04X}.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidItemName(f"An item name has at most {MAX_NAME_LENGTH} characters, not {len(name)}.")
    return name
