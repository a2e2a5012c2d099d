"""Running a command on a cart under HTTP's optimistic concurrency rules."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from eventstore.exceptions import ConcurrencyError, DuplicateEventError

from .domain import ShoppingCart
from .http import Conflict, PreconditionFailed
from .idempotency import is_retry_of_stored_write, mark_replayed
from .repository import carts

#: Attempts of a write without If-Match that keeps losing races, each against fresh state.
WRITE_ATTEMPTS = 5

Command = Callable[[ShoppingCart], object]


def run_command(cart_uuid: UUID, command: Command, *, if_match: set[int] | None) -> ShoppingCart:
    """Run `command` on the cart and save it; return the cart at its new version.

    With If-Match versions, write only if the cart is at one of them (else PreconditionFailed,
    nothing written). Without, retry lost races from fresh state and raise Conflict when all fail.
    A keyed retry whose events an earlier attempt stored returns the cart as it is now, marked replayed.
    """
    try:
        if if_match is None:
            try:
                return carts.update(cart_uuid, command, attempts=WRITE_ATTEMPTS)
            except ConcurrencyError as exc:
                raise Conflict(cart_uuid, exc.expected_version, exc.actual_version) from exc
        cart = carts.load(cart_uuid)
        if cart.version not in if_match:
            raise PreconditionFailed(cart_uuid, max(if_match, default=0), cart.version)
        command(cart)
        try:
            return carts.save(cart)
        except ConcurrencyError as exc:
            raise PreconditionFailed(cart_uuid, exc.expected_version, exc.actual_version) from exc
    except DuplicateEventError:
        if not is_retry_of_stored_write():
            raise
        mark_replayed()
        return current_state(cart_uuid)


def current_state(cart_uuid: UUID) -> ShoppingCart:
    """Return the cart at its latest version, closed or not."""
    return carts.load(cart_uuid, carts.get_version(cart_uuid))
