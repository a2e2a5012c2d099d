"""Parked events in the admin: what subscriptions failed on, with the actions retry and skip.

Read-only otherwise. Retrying asks the subscription's worker to deliver the event again (to that
subscription only); skipping gives it up. Both need the permission `eventstore.resolve_parkedevent`
and record who and when, on the row and in the admin's history.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from . import parking
from .admin_base import ImmutableAdmin
from .models import ParkedEvent
from .stream_admin import stream_url


class ParkedEventAdmin(ImmutableAdmin):
    """Events subscriptions set aside after their last attempt; retry or skip them."""

    list_display = (
        "subscription",
        "position",
        "event_name",
        "stream",
        "version",
        "status",
        "attempts",
        "first_failed_at",
        "last_failed_at",
    )
    list_display_links = ("position",)
    list_filter = ("status", "subscription", "event_name")
    search_fields = ("aggregate_uuid",)
    search_help_text = "Search by stream (aggregate) uuid."
    list_per_page = 50
    ordering = ("subscription", "position")
    actions = ("retry", "skip")
    fieldsets = (
        ("Event", {"fields": ("subscription", "position", "event_name", "event_uuid", "stream", "aggregate_type")}),
        ("Failure", {"fields": ("status", "attempts", "first_failed_at", "last_failed_at", "error")}),
        ("Resolution", {"fields": ("retried_by", "retried_at", "delivered_at", "skipped_by", "skipped_at")}),
    )
    readonly_fields = (
        "subscription",
        "position",
        "event_name",
        "event_uuid",
        "stream",
        "aggregate_type",
        "status",
        "attempts",
        "first_failed_at",
        "last_failed_at",
        "error",
        "retried_by",
        "retried_at",
        "delivered_at",
        "skipped_by",
        "skipped_at",
    )

    RETRIED = "{count} parked event(s) will be delivered again by their subscription's worker."
    SKIPPED = "{count} parked event(s) skipped."
    NOT_PARKED = "{count} selected event(s) were not parked (already retried, delivered or skipped): left as they were."

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        """Return whether the user may retry or skip parked events."""
        return request.user.has_perm("eventstore.resolve_parkedevent")

    @admin.display(description="stream", ordering="aggregate_uuid")
    def stream(self, obj: ParkedEvent) -> SafeString:
        return format_html(
            '<a class="es-uuid" href="{}">{}</a>', stream_url(obj.aggregate_uuid, obj.version), obj.aggregate_uuid
        )

    @admin.action(permissions=["resolve"], description="Retry: deliver again to their subscription")
    def retry(self, request: HttpRequest, queryset: QuerySet[ParkedEvent]) -> None:
        self._resolve(request, queryset, parking.request_retry, "Asked for a retry.", self.RETRIED)

    @admin.action(permissions=["resolve"], description="Skip: never deliver them")
    def skip(self, request: HttpRequest, queryset: QuerySet[ParkedEvent]) -> None:
        self._resolve(request, queryset, parking.skip, "Skipped.", self.SKIPPED)

    def _resolve(
        self, request: HttpRequest, queryset: QuerySet[ParkedEvent], action: Any, history: str, done: str
    ) -> None:
        parked = list(queryset.filter(status=ParkedEvent.PARKED))
        count = action(parked, by=request.user.get_username())
        for obj in parked:
            self.log_change(request, obj, history)
        if count:
            self.message_user(request, done.format(count=count), messages.SUCCESS)
        if len(queryset) > count:
            self.message_user(request, self.NOT_PARKED.format(count=len(queryset) - count), messages.WARNING)
