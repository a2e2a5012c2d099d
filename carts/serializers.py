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
    uuid = serializers.UUIDField(required=False, help_text="Choose the cart's id; a new one is made if omitted.")


class AddItemSerializer(StrictSerializer):
    name = ItemNameField(max_length=MAX_NAME_LENGTH)
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY, default=1)


class ItemSerializer(serializers.Serializer):
    name = serializers.CharField()
    quantity = serializers.IntegerField()


class CartSerializer(serializers.Serializer):
    """A cart's state, rebuilt from its events."""

    uuid = serializers.UUIDField()
    version = serializers.IntegerField(help_text="Also sent as the ETag header.")
    status = serializers.ChoiceField(choices=["open", "closed"])
    items = serializers.SerializerMethodField()
    item_count = serializers.SerializerMethodField()
    total_quantity = serializers.SerializerMethodField()

    @extend_schema_field(ItemSerializer(many=True))
    def get_items(self, cart: ShoppingCart) -> list[dict[str, Any]]:
        # Sorted: item order must not depend on how the state was rebuilt (snapshot or events).
        return [{"name": name, "quantity": quantity} for name, quantity in sorted(cart.items.items())]

    def get_item_count(self, cart: ShoppingCart) -> int:
        return len(cart.items)

    def get_total_quantity(self, cart: ShoppingCart) -> int:
        return sum(cart.items.values())


class CartSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = CartSummary
        fields = ["uuid", "status", "item_count", "total_quantity", "version", "opened_at", "updated_at"]


class EventSerializer(serializers.Serializer):
    """One stored event of a cart's history, as recorded."""

    version = serializers.IntegerField()
    name = serializers.CharField()
    schema_version = serializers.IntegerField()
    data = serializers.DictField()
    metadata = serializers.DictField()
    recorded_at = serializers.DateTimeField()
    event_uuid = serializers.UUIDField()
    position = serializers.IntegerField(help_text="The event's place in the whole store.")


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable error code.")
    detail = serializers.CharField()


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
    version = serializers.IntegerField()
    name = serializers.CharField()


class VersionMismatchSerializer(ErrorSerializer):
    expected_version = serializers.IntegerField()
    actual_version = serializers.IntegerField()
    unseen_events = UnseenEventSerializer(many=True)
    unseen_events_truncated = serializers.BooleanField()


class GoneSerializer(ErrorSerializer):
    version = serializers.IntegerField(help_text="The version that closed the cart.")


class PageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class EventPageSerializer(PageSerializer):
    results = EventSerializer(many=True)


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField()


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
