"""Running a command on a cart under HTTP's optimistic concurrency rules."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from eventstore.exceptions import AggregateClosed, ConcurrencyError, DuplicateEventError

from .access import Actor, check_changeable, check_visible, closed_cart
from .domain import ShoppingCart
from .http import Conflict, PreconditionFailed
from .idempotency import is_retry_of_stored_write, mark_replayed
from .repository import carts

#: Attempts of a write without If-Match that keeps losing races, each against fresh state.
WRITE_ATTEMPTS = 5

Command = Callable[[ShoppingCart], object]


def run_command(cart_uuid: UUID, command: Command, *, if_match: set[int] | None, user: Actor) -> ShoppingCart:
    """Run `command` on the cart as `user` and save it; return the cart at its new version.

    Every attempt checks the loaded state first: a cart `user` may not see is answered as missing
    (NotFound), one they may see but not change is refused (Forbidden); either way before the command
    runs, so nothing is appended and no precondition, rule or closed state gives the cart away.
    With If-Match versions, write only if the cart is at one of them (else PreconditionFailed,
    nothing written). Without, retry lost races from fresh state and raise Conflict when all fail.
    A keyed retry whose events an earlier attempt stored returns the cart as it is now, marked replayed.
    """

    def checked_command(cart: ShoppingCart) -> object:
        check_changeable(user, cart)
        return command(cart)

    try:
        if if_match is None:
            try:
                return carts.update(cart_uuid, checked_command, attempts=WRITE_ATTEMPTS)
            except ConcurrencyError as exc:
                raise Conflict(cart_uuid, exc.expected_version, exc.actual_version) from exc
        cart = check_changeable(user, carts.load(cart_uuid))
        if cart.version not in if_match:
            raise PreconditionFailed(cart_uuid, max(if_match, default=0), cart.version)
        command(cart)
        try:
            return carts.save(cart)
        except ConcurrencyError as exc:
            raise PreconditionFailed(cart_uuid, exc.expected_version, exc.actual_version) from exc
    except AggregateClosed as exc:
        check_visible(user, closed_cart(exc))  # 410 only for those who may see it
        raise
    except DuplicateEventError:
        if not is_retry_of_stored_write():
            raise
        mark_replayed()
        return check_visible(user, current_state(cart_uuid))


def current_state(cart_uuid: UUID) -> ShoppingCart:
    """Return the cart at its latest version, closed or not."""
    return carts.load(cart_uuid, carts.get_version(cart_uuid))
