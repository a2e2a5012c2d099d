"""Input validation and output shapes of the carts API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from .domain import MAX_NAME_LENGTH, MAX_QUANTITY, ShoppingCart, normalize_item_name
from .models import CartSummary

UNKNOWN_FIELD = ErrorDetail("Unknown field.", code="unknown_field")


class StrictIntegerField(serializers.IntegerField):
    """An integer that must be a JSON number without a fraction (no "3", no 3.5, no true)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A string that must be a JSON string (numbers are not turned into text)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ItemNameField(StrictCharField):
    """An item name, NFC-normalised before its length is checked.

    Control and format characters (NUL included) are the domain's to refuse, with 422
    invalid_item_name, so DRF's own NUL check is left out.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators = [v for v in super().validators if not isinstance(v, ProhibitNullCharactersValidator)]

    def to_internal_value(self, data: Any) -> str:
        return normalize_item_name(super().to_internal_value(data))


class StrictSerializer(serializers.Serializer):
    """Refuse fields the endpoint does not know, instead of silently ignoring them.

    Unknown fields are reported together with the other fields' errors, so one round trip tells all.
    """

    def to_internal_value(self, data: Any) -> Any:
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, Mapping) else []
        errors: dict[str, Any] = {str(name)[:100]: [UNKNOWN_FIELD] for name in unknown[:20]}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, dict):
                raise
            errors = {**exc.detail, **errors}
        if errors:
            raise serializers.ValidationError(errors)
        return value


class OpenCartSerializer(StrictSerializer):
    """A cart to open; unknown fields are refused (400 invalid, error code unknown_field)."""

    uuid = serializers.UUIDField(required=False, help_text="Choose the cart's id; a new one is made if omitted.")


class AddItemSerializer(StrictSerializer):
    """An item and a quantity to add; unknown fields are refused (400 invalid, error code unknown_field)."""

    name = ItemNameField(max_length=MAX_NAME_LENGTH)
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY, default=1)


class ItemSerializer(serializers.Serializer):
    name = serializers.CharField()
    quantity = serializers.IntegerField(min_value=1)


class CartSerializer(serializers.Serializer):
    """A cart's state, rebuilt from its events."""

    uuid = serializers.UUIDField()
    version = serializers.IntegerField(min_value=1, help_text="Also sent as the ETag header.")
    status = serializers.ChoiceField(choices=CartSummary.STATUSES)
    items = serializers.SerializerMethodField()
    item_count = serializers.SerializerMethodField()
    total_quantity = serializers.SerializerMethodField()

    @extend_schema_field(ItemSerializer(many=True, help_text="Sorted by name."))
    def get_items(self, cart: ShoppingCart) -> list[dict[str, Any]]:
        # Sorted: item order must not depend on how the state was rebuilt (snapshot or events).
        return [{"name": name, "quantity": quantity} for name, quantity in sorted(cart.items.items())]

    @extend_schema_field(serializers.IntegerField(min_value=0, help_text="Distinct items."))
    def get_item_count(self, cart: ShoppingCart) -> int:
        return len(cart.items)

    @extend_schema_field(serializers.IntegerField(min_value=0))
    def get_total_quantity(self, cart: ShoppingCart) -> int:
        return sum(cart.items.values())


class CartSummarySerializer(serializers.ModelSerializer):
    """A line of the cart list, from the CartSummary read model."""

    class Meta:
        model = CartSummary
        fields = ["uuid", "status", "item_count", "total_quantity", "version", "opened_at", "updated_at"]
        # Output only: read-only fields are required in the schema, as every line carries them all.
        read_only_fields = fields


class EventSerializer(serializers.Serializer):
    """One stored event of a cart's history, as recorded."""

    version = serializers.IntegerField(min_value=1)
    name = serializers.CharField()
    schema_version = serializers.IntegerField(min_value=1)
    data = serializers.DictField()
    metadata = serializers.DictField()
    recorded_at = serializers.DateTimeField()
    event_uuid = serializers.UUIDField()
    position = serializers.IntegerField(
        min_value=0,
        help_text="The event's place in the whole store; 0 while it has none yet (DynamoDB gives positions "
        "a moment after the write, through its indexer).",
    )


class ErrorSerializer(serializers.Serializer):
    """An error: a machine-readable code and a message for people."""

    code = serializers.CharField(help_text="Machine-readable error code; the response's description lists them.")
    detail = serializers.CharField()


def error_code(code: str) -> serializers.ChoiceField:
    """Return the `code` field of an error body that has one code: what a discriminator on `code` tells apart."""
    return serializers.ChoiceField(choices=[code], help_text="Machine-readable error code.")


class ValidationErrorSerializer(ErrorSerializer):
    """A 400: invalid input (code `invalid`, with messages and codes by field) or a bad header or parameter."""

    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Messages by field (code `invalid` only).",
    )
    error_codes = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Machine-readable codes by field (code `invalid` only).",
    )


class UnseenEventSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    name = serializers.CharField()


class VersionMismatchSerializer(ErrorSerializer):
    """If-Match named another version than the cart's; nothing was written."""

    code = error_code("version_mismatch")
    expected_version = serializers.IntegerField(
        min_value=0, help_text="The version the client wrote against (0: If-Match named no strong ETag)."
    )
    actual_version = serializers.IntegerField(min_value=1)
    unseen_events = UnseenEventSerializer(many=True, help_text="The events after expected_version, at most 100.")
    unseen_events_truncated = serializers.BooleanField()


class ConcurrentModificationSerializer(VersionMismatchSerializer):
    """Every retry of the write lost a race against other writers; nothing was written. Send it again."""

    code = error_code("concurrent_modification")


class KeyInProgressSerializer(ErrorSerializer):
    """A request with this Idempotency-Key is still running; retry after Retry-After seconds."""

    code = error_code("idempotency_key_in_progress")


class CartExistsSerializer(ErrorSerializer):
    """A cart with this uuid exists already."""

    code = error_code("cart_exists")


class TooManyOpenCartsSerializer(ErrorSerializer):
    """The user has the most open carts allowed; close one to open another."""

    code = error_code("too_many_open_carts")
    limit = serializers.IntegerField(min_value=1, help_text="The most carts one user may have open at once.")


class KeyReusedSerializer(ErrorSerializer):
    """This Idempotency-Key was first used for another request (method, path or body); nothing was written."""

    code = error_code("idempotency_key_reused")


class CartNotFoundSerializer(ErrorSerializer):
    """No such cart, or a cart of another user: answered alike."""

    code = error_code("cart_not_found")


class VersionNotFoundSerializer(ErrorSerializer):
    """The cart has no such version yet."""

    code = error_code("version_not_found")
    current_version = serializers.IntegerField(min_value=1)


class GoneSerializer(ErrorSerializer):
    """The cart is closed; its history stays readable."""

    code = error_code("cart_closed")
    version = serializers.IntegerField(min_value=1, help_text="The version that closed the cart.")
    events = serializers.URLField(help_text="The cart's history (GET).")


class PageSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=0)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class EventPageSerializer(PageSerializer):
    results = EventSerializer(many=True)


class TokenRequestSerializer(serializers.Serializer):
    """A username and password, as JSON."""

    username = serializers.CharField()
    password = serializers.CharField()


class TokenFormSerializer(TokenRequestSerializer):
    """A username and password, as a form: its own schema, so that a generated client can tell the two apart."""


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
