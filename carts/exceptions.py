"""Business rules a cart command can break. Each carries a machine-readable code."""


class CartRuleViolation(ValueError):
    """A command broke one of the cart's rules; nothing was recorded."""

    code = "cart_rule_violation"


class InvalidItemName(CartRuleViolation):
    """The item name is empty, too long, or holds control or format characters (Unicode Cc, Cf)."""

    code = "invalid_item_name"


class InvalidQuantity(CartRuleViolation):
    """The quantity is not a positive whole number within the limit."""

    code = "invalid_quantity"


class ItemNotInCart(CartRuleViolation):
    """The item to remove is not in the cart."""

    code = "item_not_in_cart"


class TooManyItems(CartRuleViolation):
    """The cart already holds the most distinct items allowed."""

    code = "too_many_items"
