"""The stream browser in the admin: a list of streams and a stream's page with time travel and blame.

Both pages read through the event store backend interface (never the ORM), so they work unchanged
on every backend. Only "take a snapshot now" writes, and it writes a snapshot, never an event.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from .backends.base import EventStoreBackend, StoredEvent, StreamInfo, StreamPage
from .exceptions import EventStoreError
from .history import StreamHistory, VersionState, state_at
from .registry import repositories
from .store import get_backend


def stream_url(aggregate_uuid: UUID, version: int | None = None) -> str:
    """Return the admin page of a stream, at `version` when given."""
    url = reverse("admin:eventstore_stream_detail", args=[aggregate_uuid])
    return f"{url}?{urlencode({'version': version})}" if version is not None else url


class StreamAdmin(admin.ModelAdmin):
    """Streams listed and shown through the backend; seen by staff who may view events."""

    list_per_page = 50
    history_per_page = 50
    snapshots_shown = 10
    #: Blame replays at most this many events (plus a snapshot interval) unless asked for all.
    blame_window = 200
    stream_list_template = "admin/eventstore/stream/stream_list.html"
    stream_template = "admin/eventstore/stream/stream.html"

    user_messages = {
        "not_a_uuid": "“{query}” is not a stream uuid: search takes a whole uuid, such as {example}.",
        "bad_cursor": "That page link is damaged or out of date; here is the first page.",
        "no_stream": "There is no stream {uuid}: it has no events.",
        "bad_version": "Stream {uuid} has no version “{version}”: pick a version from 1 to {current}.",
        "no_repository": (
            "No repository is registered for aggregate type {type}, so its state cannot be rebuilt here. "
            "Register one with eventstore.register() in your app's repositories.py."
        ),
        "snapshot_taken": "Took a snapshot of {type} {uuid} at version {version}.",
        "snapshot_closed": "{type} {uuid} is closed: closed streams are not snapshotted.",
    }

    # Permissions: the stream pages show events, so they follow the event's view permission.

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        user = request.user
        return user.has_perm("eventstore.view_eventrecord") or user.has_perm("eventstore.change_eventrecord")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_snapshot_permission(self, request: HttpRequest) -> bool:
        """Return whether the user may take snapshots (the snapshot model's add permission)."""
        return self.has_view_permission(request) and request.user.has_perm("eventstore.add_snapshot")

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path("", view(self.stream_list_view), name="{}_{}_changelist".format(*info)),
            path("<uuid:aggregate_uuid>/", view(self.stream_view), name="{}_{}_detail".format(*info)),
            path("<uuid:aggregate_uuid>/snapshot/", view(self.take_snapshot_view), name="{}_{}_snapshot".format(*info)),
        ]

    # The list of streams

    def stream_list_view(self, request: HttpRequest) -> HttpResponse:
        """List streams newest change first, a cursor page at a time, filtered by type or found by uuid."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        backend = get_backend()
        aggregate_type = request.GET.get("type") or None
        query = request.GET.get("q", "").strip()
        error = None
        if query:
            streams, error = self._search(backend, query, aggregate_type)
            page, total = StreamPage(streams, None), len(streams)
        else:
            try:
                page = backend.list_streams(
                    aggregate_type=aggregate_type, limit=self.list_per_page, cursor=request.GET.get("cursor") or None
                )
            except ValueError:
                error = self.user_messages["bad_cursor"]
                page = backend.list_streams(aggregate_type=aggregate_type, limit=self.list_per_page)
            total = backend.count_streams(aggregate_type=aggregate_type)
        filters = {"type": aggregate_type} if aggregate_type else {}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Streams",
            "streams": [(stream, stream_url(stream.aggregate_uuid)) for stream in page.streams],
            "total": total,
            "query": query,
            "error": error,
            "aggregate_type": aggregate_type,
            "type_choices": [
                (name, "?" + urlencode({"type": name}), name == aggregate_type) for name in backend.aggregate_types()
            ],
            "is_first_page": not request.GET.get("cursor") or error is not None,
            "first_page_url": "?" + urlencode(filters),
            "next_page_url": "?" + urlencode({**filters, "cursor": page.next_cursor}) if page.next_cursor else None,
        }
        return TemplateResponse(request, self.stream_list_template, context, status=400 if error else 200)

    def _search(
        self, backend: EventStoreBackend, query: str, aggregate_type: str | None
    ) -> tuple[list[StreamInfo], str | None]:
        try:
            uuid = UUID(query)
        except ValueError:
            return [], self.user_messages["not_a_uuid"].format(
                query=query, example="0b0e8f7e-3f1d-4c7a-9a55-2f0c3a4b5d6e"
            )
        stream = backend.get_stream(uuid)
        if stream is None or (aggregate_type and stream.aggregate_type != aggregate_type):
            return [], None
        return [stream], None

    # A stream's page

    def stream_view(self, request: HttpRequest, aggregate_uuid: UUID) -> HttpResponse:
        """Show a stream: its state at a version with blame and diff, its history, its snapshots."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        backend = get_backend()
        stream = backend.get_stream(aggregate_uuid)
        if stream is None:
            messages.warning(request, self.user_messages["no_stream"].format(uuid=aggregate_uuid))
            return HttpResponseRedirect(reverse("admin:eventstore_stream_changelist"))
        version, error = self._requested_version(request, stream)
        repository = repositories.repository_for(stream.aggregate_type)
        version_state: VersionState | None = None
        state_error = None
        if repository is None:
            state_error = self.user_messages["no_repository"].format(type=stream.aggregate_type)
        else:
            full_blame = request.GET.get("blame") == "full"
            try:
                version_state = state_at(
                    repository, aggregate_uuid, version, blame_window=None if full_blame else self.blame_window
                )
            except (EventStoreError, NotImplementedError) as exc:
                state_error = f"The state at version {version} cannot be shown: {exc}"
        history = StreamHistory(backend, aggregate_uuid, stream.version)
        paginator = Paginator(history, self.history_per_page)
        page = paginator.get_page(request.GET.get("page") or history.page_of(version, self.history_per_page))
        # One more than shown tells whether there are older ones without reading every snapshot's state.
        snapshots = backend.list_snapshots(aggregate_uuid, limit=self.snapshots_shown + 1)
        events_in_admin = backend.events_in_django_models
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{stream.aggregate_type} {stream.aggregate_uuid}",
            "stream": stream,
            "version": version,
            "error": error,
            "state": version_state,
            "state_error": state_error,
            "event": version_state.event if version_state else _event_at(backend, aggregate_uuid, version),
            "tombstone": _event_at(backend, aggregate_uuid, stream.version) if stream.closed else None,
            "history_page": page,
            "history_page_range": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
            "snapshots": snapshots[: self.snapshots_shown],
            "more_snapshots": len(snapshots) > self.snapshots_shown,
            "can_snapshot": repository is not None and not stream.closed and self.has_snapshot_permission(request),
            "stream_url": stream_url(aggregate_uuid),
            "events_url": _changelist_url("eventrecord", aggregate_uuid) if events_in_admin else None,
            "snapshots_url": _changelist_url("snapshot", aggregate_uuid) if events_in_admin else None,
            "events_in_admin": events_in_admin,
            "blame_window": self.blame_window,
        }
        return TemplateResponse(request, self.stream_template, context, status=400 if error else 200)

    def _requested_version(self, request: HttpRequest, stream: StreamInfo) -> tuple[int, str | None]:
        raw = request.GET.get("version", "").strip()
        if not raw:
            return stream.version, None
        try:
            version = int(raw)
        except ValueError:
            version = 0
        if 1 <= version <= stream.version:
            return version, None
        return stream.version, self.user_messages["bad_version"].format(
            uuid=stream.aggregate_uuid, version=raw, current=stream.version
        )

    # Commands

    def take_snapshot_view(self, request: HttpRequest, aggregate_uuid: UUID) -> HttpResponse:
        """Save a snapshot of the stream's current state (POST only), then go back to its page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_snapshot_permission(request):
            raise PermissionDenied
        stream = get_backend().get_stream(aggregate_uuid)
        if stream is None:
            messages.warning(request, self.user_messages["no_stream"].format(uuid=aggregate_uuid))
            return HttpResponseRedirect(reverse("admin:eventstore_stream_changelist"))
        repository = repositories.repository_for(stream.aggregate_type)
        if repository is None:
            messages.error(request, self.user_messages["no_repository"].format(type=stream.aggregate_type))
            return HttpResponseRedirect(stream_url(aggregate_uuid))
        names: dict[str, Any] = {"type": stream.aggregate_type, "uuid": aggregate_uuid}
        try:
            version = repository.take_snapshot(aggregate_uuid)
        except (EventStoreError, NotImplementedError) as exc:
            messages.error(request, f"No snapshot of {stream.aggregate_type} {aggregate_uuid} was taken: {exc}")
        else:
            if version is None:
                messages.warning(request, self.user_messages["snapshot_closed"].format(**names))
            else:
                messages.success(request, self.user_messages["snapshot_taken"].format(version=version, **names))
        return HttpResponseRedirect(stream_url(aggregate_uuid))


def _event_at(backend: EventStoreBackend, aggregate_uuid: UUID, version: int) -> StoredEvent | None:
    return next(iter(backend.read_stream(aggregate_uuid, from_version=version, to_version=version)), None)


def _changelist_url(model_name: str, aggregate_uuid: UUID) -> str:
    return reverse(f"admin:eventstore_{model_name}_changelist") + "?" + urlencode({"q": str(aggregate_uuid)})
