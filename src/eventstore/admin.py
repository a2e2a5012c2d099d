"""The event store in the admin: events and snapshots to read (never to edit), and the stream browser.

The event and snapshot lists read the Django backend's tables; the stream pages (stream_admin.py)
read through the backend interface, so they work on every backend.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .admin_base import ImmutableAdmin
from .events import registry
from .following_admin import ProjectionAdmin, SubscriptionAdmin
from .history import pretty_json
from .models import EventRecord, ParkedEvent, ProjectionCheckpoint, Snapshot, Stream, SubscriptionState
from .stream_admin import StreamAdmin, stream_url
from .subscription_admin import ParkedEventAdmin


class AggregateTypeFilter(admin.SimpleListFilter):
    """Filter by aggregate type, listing the types from the stream heads (never scanning events)."""

    title = "aggregate type"
    parameter_name = "aggregate_type"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        types = Stream.objects.order_by("aggregate_type").values_list("aggregate_type", flat=True).distinct()
        return [(name, name) for name in types]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(aggregate_type=self.value()) if self.value() else queryset


class EventNameFilter(admin.SimpleListFilter):
    """Filter by event name, listing the registered event names (never scanning events)."""

    title = "event name"
    parameter_name = "name"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(name, name) for name in registry.names()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(name=self.value()) if self.value() else queryset


def _stream_link(aggregate_uuid: UUID, version: int | None = None, text: str | None = None) -> SafeString:
    if text is None:
        return format_html('<a class="es-uuid" href="{}">{}</a>', stream_url(aggregate_uuid, version), aggregate_uuid)
    return format_html('<a href="{}">{}</a>', stream_url(aggregate_uuid, version), text)


def _json_block(value: Any) -> SafeString:
    return format_html('<pre class="eventstore-json">{}</pre>', pretty_json(value))


@admin.register(EventRecord)
class EventRecordAdmin(ImmutableAdmin):
    """Every event in the store, by global position: read-only, searchable, linked to its stream."""

    list_display = ("id", "stream", "aggregate_type", "version", "name", "recorded_at")
    list_display_links = ("id",)
    list_filter = (AggregateTypeFilter, EventNameFilter, "recorded_at")
    search_fields = ("aggregate_uuid",)  # Searching is get_search_results's; this shows the box.
    search_help_text = "Search by stream (aggregate) uuid, event uuid, correlation id, causation id or actor."
    # Counting a million events for "N total" would cost more than drawing the page.
    show_full_result_count = False
    list_per_page = 50
    # Newest first: what happened last is what support staff ask about.
    ordering = ("-id",)
    fieldsets = (
        ("Event", {"fields": ("id", "name", "schema_version", "event_uuid", "recorded_at")}),
        ("Stream", {"fields": ("stream", "aggregate_type", "version", "state_at_version")}),
        ("Payload", {"fields": ("data_json", "metadata_json")}),
    )
    readonly_fields = (
        "id",
        "name",
        "schema_version",
        "event_uuid",
        "recorded_at",
        "stream",
        "aggregate_type",
        "version",
        "state_at_version",
        "data_json",
        "metadata_json",
    )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """Match the term exactly: uuids against streams and events, any text against metadata ids."""
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q(metadata__correlation_id=term) | Q(metadata__causation_id=term) | Q(metadata__actor=term)
        try:
            uuid = UUID(term)
        except ValueError:
            pass
        else:
            match |= Q(aggregate_uuid=uuid) | Q(event_uuid=uuid)
        return queryset.filter(match), False

    @admin.display(description="stream", ordering="aggregate_uuid")
    def stream(self, obj: EventRecord) -> SafeString:
        return _stream_link(obj.aggregate_uuid)

    @admin.display(description="state at this version")
    def state_at_version(self, obj: EventRecord) -> SafeString:
        return _stream_link(
            obj.aggregate_uuid, obj.version, f"See the {obj.aggregate_type} as of version {obj.version}"
        )

    @admin.display(description="data")
    def data_json(self, obj: EventRecord) -> SafeString:
        return _json_block(obj.data)

    @admin.display(description="metadata")
    def metadata_json(self, obj: EventRecord) -> SafeString:
        return _json_block(obj.metadata)


@admin.register(Snapshot)
class SnapshotAdmin(ImmutableAdmin):
    """Saved states of aggregates: read-only, linked to their stream at their version."""

    list_display = ("__str__", "stream", "aggregate_type", "version", "schema_version", "created_at")
    list_filter = (AggregateTypeFilter, "created_at")
    search_fields = ("aggregate_uuid",)
    search_help_text = "Search by stream (aggregate) uuid."
    list_per_page = 50
    fields = ("stream", "aggregate_type", "version", "schema_version", "created_at", "state_json")
    readonly_fields = fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """Match a full stream uuid; anything else matches nothing."""
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(aggregate_uuid=UUID(term)), False
        except ValueError:
            return queryset.none(), False

    @admin.display(description="stream", ordering="aggregate_uuid")
    def stream(self, obj: Snapshot) -> SafeString:
        return _stream_link(obj.aggregate_uuid, obj.version)

    @admin.display(description="state")
    def state_json(self, obj: Snapshot) -> SafeString:
        return _json_block(obj.state)


admin.site.register(Stream, StreamAdmin)
admin.site.register(ParkedEvent, ParkedEventAdmin)
admin.site.register(SubscriptionState, SubscriptionAdmin)
admin.site.register(ProjectionCheckpoint, ProjectionAdmin)
