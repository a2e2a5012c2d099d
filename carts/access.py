"""Who may see and change which cart: owners their own carts, holders of the carts' permissions any.

A cart the user may not see is answered exactly as a missing one (404 `cart_not_found`, the same body),
whatever the request: its state, a past version, its history, a write, with or without If-Match. Being
staff grants nothing; the permissions do (a superuser holds every permission, as everywhere in Django):

- `carts.view_any_cart`: see any cart, including those whose owner is unknown (opened before carts
  had owners);
- `carts.change_any_cart`: change any cart, and so see it too, as the admin's change permission
  implies view.

A user who may see a cart but not change it is refused writes with 403 `cart_read_only`.
"""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

from eventstore import store
from eventstore.exceptions import AggregateClosed, VersionNotFound

from .domain import ShoppingCart
from .http import Forbidden, cart_not_found
from .repository import carts

VIEW_ANY = "carts.view_any_cart"
CHANGE_ANY = "carts.change_any_cart"


class Actor(Protocol):
    """The user a request runs as (a user model instance, or the anonymous user)."""

    @property
    def pk(self) -> Any: ...

    @property
    def is_authenticated(self) -> bool: ...

    def has_perm(self, perm: str, obj: Any = None) -> bool: ...


def owner_id(user: Actor) -> str:
    """Return the owner id a cart opened by `user` records: their primary key as text."""
    if not user.is_authenticated or user.pk is None:
        raise ValueError("Only an authenticated user can own a cart.")
    return str(user.pk)


def owns(user: Actor, cart: ShoppingCart) -> bool:
    """Return whether `user` opened the cart (never for a cart whose owner is unknown)."""
    return cart.owner is not None and user.is_authenticated and cart.owner == str(user.pk)


def sees_every_cart(user: Actor) -> bool:
    """Return whether `user` may see carts whoever owns them."""
    return user.has_perm(VIEW_ANY) or user.has_perm(CHANGE_ANY)


def may_view(user: Actor, cart: ShoppingCart) -> bool:
    return owns(user, cart) or sees_every_cart(user)


def may_change(user: Actor, cart: ShoppingCart) -> bool:
    return owns(user, cart) or user.has_perm(CHANGE_ANY)


def check_visible(user: Actor, cart: ShoppingCart) -> ShoppingCart:
    """Return the cart, or raise NotFound, as for a missing cart, when `user` may not see it."""
    if not may_view(user, cart):
        raise cart_not_found(cart.uuid)
    return cart


def check_changeable(user: Actor, cart: ShoppingCart) -> ShoppingCart:
    """Return the cart, or raise NotFound (may not see it) or Forbidden (may see, not change it)."""
    check_visible(user, cart)
    if not may_change(user, cart):
        raise Forbidden(
            f"You may see cart {cart.uuid} but not change it (that needs {CHANGE_ANY}); nothing was written.",
            code="cart_read_only",
        )
    return cart


def visible_cart(user: Actor, cart_uuid: UUID, version: int | None = None) -> ShoppingCart:
    """Return the cart, or its state as of `version`, if `user` may see it; else raise NotFound.

    A closed cart (410) and a version past the end (404 `version_not_found`) are told only to those
    who may see the cart.
    """
    try:
        cart = carts.load(cart_uuid, version)
    except AggregateClosed as exc:
        check_visible(user, closed_cart(exc))
        raise
    except VersionNotFound:
        check_visible(user, carts.load(cart_uuid, 1))  # the opening event names the owner
        raise
    return check_visible(user, cart)


def closed_cart(exc: AggregateClosed) -> ShoppingCart:
    """Return the closed cart an AggregateClosed carries (else its opening state, which names the owner)."""
    return exc.aggregate if isinstance(exc.aggregate, ShoppingCart) else carts.load(exc.aggregate_uuid, 1)


def visible_history(user: Actor, cart_uuid: UUID) -> int:
    """Return the version of the cart's stream if it is a cart `user` may see; else raise NotFound.

    Only shopping carts' streams: another aggregate's stream under this id is as missing as no stream.
    """
    stream = store.get_backend().get_stream(cart_uuid)
    if stream is None or stream.aggregate_type != ShoppingCart.aggregate_type:
        raise cart_not_found(cart_uuid)
    check_visible(user, carts.load(cart_uuid, 1))  # the opening event names the owner; a closed cart loads too
    return stream.version
