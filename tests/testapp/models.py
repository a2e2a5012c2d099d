"""The test domain's read model (AccountSummary, kept by the account_summary projection) and Delivered rows."""

from __future__ import annotations

import os

from django.db import models
from django.utils import timezone

from eventstore.subscriptions import Delivery


class AccountSummary(models.Model):
    OPEN = "open"
    CLOSED = "closed"
    STATUSES = [(OPEN, "open"), (CLOSED, "closed")]

    uuid = models.UUIDField(primary_key=True)
    owner = models.CharField(max_length=100, default="")
    status = models.CharField(max_length=10, choices=STATUSES, default=OPEN)
    balances = models.JSONField(default=dict, help_text="Balance by currency.")
    transactions = models.PositiveIntegerField(default=0, help_text="Deposits and withdrawals.")
    version = models.PositiveIntegerField()
    opened_at = models.DateTimeField()
    updated_at = models.DateTimeField(help_text="When the last event was recorded.")

    class Meta:
        verbose_name_plural = "account summaries"
        ordering = ["-updated_at", "-uuid"]

    def __str__(self) -> str:
        return f"account {self.uuid} v{self.version} ({self.status})"


class Delivered(models.Model):
    """One event a test subscription's handler received: by which worker process, at which attempt."""

    subscription = models.CharField(max_length=100)
    position = models.BigIntegerField()
    aggregate_uuid = models.UUIDField()
    version = models.PositiveIntegerField()
    event_name = models.CharField(max_length=100)
    attempt = models.PositiveIntegerField(default=1)
    worker = models.IntegerField(help_text="The process id of the worker.")
    delivered_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["subscription", "position"], name="testapp_delivered_sub_pos")]

    def __str__(self) -> str:
        return f"{self.subscription}: {self.event_name} at {self.position} (worker {self.worker})"

    @classmethod
    def record(cls, delivery: Delivery) -> Delivered:
        """Record a delivery to a test subscription, by this process."""
        return cls.objects.create(
            subscription=delivery.subscription,
            position=delivery.position,
            aggregate_uuid=delivery.aggregate_uuid,
            version=delivery.version,
            event_name=delivery.event_name,
            attempt=delivery.attempt,
            worker=os.getpid(),
            delivered_at=timezone.now(),
        )
