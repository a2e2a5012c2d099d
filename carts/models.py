"""The carts read model and the responses kept for idempotent requests. Cart state lives in the event store."""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class CartSummary(models.Model):
    """One line per cart, kept by the cart_summary projection: what the cart list shows."""

    OPEN = "open"
    CLOSED = "closed"
    STATUSES = [(OPEN, "open"), (CLOSED, "closed")]

    uuid = models.UUIDField(primary_key=True)
    owner_id = models.CharField(
        max_length=255, blank=True, default="", help_text="The owner's user id, from CartOpened; empty when unknown."
    )
    status = models.CharField(max_length=10, choices=STATUSES, default=OPEN)
    items = models.JSONField(default=dict, help_text="Quantity by item name.")
    item_count = models.PositiveIntegerField(default=0, help_text="Distinct items.")
    total_quantity = models.PositiveIntegerField(default=0)
    version = models.PositiveIntegerField()
    opened_at = models.DateTimeField()
    updated_at = models.DateTimeField(help_text="When the last event was recorded.")

    class Meta:
        verbose_name_plural = "cart summaries"
        ordering = ["-updated_at", "-uuid"]
        indexes = [
            models.Index(fields=["-updated_at", "-uuid"], name="carts_summary_recent"),
            models.Index(fields=["status", "-updated_at", "-uuid"], name="carts_summary_status_recent"),
            # A user's own list, whole and by status: the API filters on the owner in the database.
            models.Index(fields=["owner_id", "-updated_at", "-uuid"], name="carts_summary_owner_recent"),
            models.Index(fields=["owner_id", "status", "-updated_at", "-uuid"], name="carts_summary_owner_status"),
        ]
        # Held by staff who serve customers: nobody acts on another's cart by being staff.
        permissions = [
            ("view_any_cart", "Can view any cart, whoever owns it"),
            ("change_any_cart", "Can change any cart, whoever owns it"),
        ]

    def __str__(self) -> str:
        return f"cart {self.uuid} v{self.version} ({self.status})"


class IdempotentResponse(models.Model):
    """The first response to a POST sent with an Idempotency-Key, replayed to its retries."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and body.")
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField(encoder=DjangoJSONEncoder)
    headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="carts_idempotency_user_key")]
        # purge_idempotency_keys finds the expired ones by age.
        indexes = [models.Index(fields=["created_at"], name="carts_idempotency_created")]

    def __str__(self) -> str:
        return f"{self.key} -> {self.status_code}"


class Receipt(models.Model):
    """The receipt of a closed cart, committed with the cart_receipts subscription's checkpoint: one per cart."""

    cart_uuid = models.UUIDField(primary_key=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    email = models.EmailField(blank=True, help_text="Where it was sent; empty when the owner has no address.")
    item_count = models.PositiveIntegerField()
    total_quantity = models.PositiveIntegerField()
    closed_at = models.DateTimeField(help_text="When the cart was closed (its CartClosed event).")
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sent_at"]

    def __str__(self) -> str:
        return f"receipt of cart {self.cart_uuid} to {self.email or '(no address)'}"
