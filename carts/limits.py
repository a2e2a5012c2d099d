"""How much one user may accumulate: open carts. Kept responses expire on their own (carts.idempotency)."""

from __future__ import annotations

from django.conf import settings

from .access import Actor, owner_id
from .http import RuleViolated
from .models import CartSummary

DEFAULT_MAX_OPEN_CARTS = 100  # settings.CARTS_MAX_OPEN_PER_USER overrides it; 0 or None: no limit


def max_open_carts() -> int | None:
    """Return the most carts one user may have open at once, or None for no limit."""
    return getattr(settings, "CARTS_MAX_OPEN_PER_USER", DEFAULT_MAX_OPEN_CARTS) or None


def check_may_open_cart(user: Actor) -> None:
    """Refuse (422 too_many_open_carts) a user who already has the most open carts allowed.

    Counted in the cart list's read model, so the limit is soft: opens racing each other each see the
    count before the others, and may go over by as many as raced. It bounds growth; it is not a quota.
    """
    limit = max_open_carts()
    if limit is None:
        return
    open_carts = CartSummary.objects.filter(owner_id=owner_id(user), status=CartSummary.OPEN).count()
    if open_carts >= limit:
        raise RuleViolated(
            f"You already have {open_carts} open carts, the most allowed ({limit}); close one to open another.",
            code="too_many_open_carts",
            limit=limit,
        )
