"""The admin's view of what follows the store: subscriptions and projections, how far behind each one is.

Subscriptions: status (running, caught up, no worker, paused, stopped), the worker holding the lease and
its last heartbeat, checkpoint, events and seconds behind the head, last error and parked events; the
actions pause and resume need `eventstore.pause_subscription`. Projections: status (live, replaying,
stopped), checkpoint, lag and error, read-only (a stopped one is caught up by the workers, see
eventstore.repair, or by `replay_projections --resume`).

Lag is measured per row when the page is drawn: one read of the store's head and of the oldest event
not yet handled, for each of the (few) subscriptions and projections on the page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import DatabaseError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from . import parking, store
from . import subscription_state as state
from .admin_base import ImmutableAdmin
from .exceptions import EventStoreError
from .models import Checkpoint, SubscriptionState

UNKNOWN = "unknown: the event store cannot be reached"


def _lag(position: int) -> state.Lag | None:
    """Return how far `position` is behind the head, or None when the store cannot be reached.

    The page is most needed when something is wrong: a store out of reach must not take it down.
    """
    try:
        return state.lag(position, store.get_backend())
    except (EventStoreError, DatabaseError):
        return None


def _lag_of(obj: SubscriptionState | Checkpoint) -> state.Lag | None:
    """Return the row's lag, measured once per page drawn (the status and lag columns both need it)."""
    if not hasattr(obj, "_lag"):
        obj._lag = _lag(obj.position)  # type: ignore[union-attr]
    return obj._lag  # type: ignore[union-attr,no-any-return]


def _behind(obj: SubscriptionState | Checkpoint) -> str:
    lag = _lag_of(obj)
    if lag is None:
        return UNKNOWN
    if lag.events == 0:
        return "caught up"
    return f"{lag.events} event(s), {lag.seconds:.1f} s"


class SubscriptionAdmin(ImmutableAdmin):
    """Every subscription's checkpoint, lease and lag; pause and resume."""

    list_display = ("name", "state", "worker", "heartbeat", "checkpoint", "behind", "parked", "short_error")
    list_display_links = None
    ordering = ("name",)
    search_fields = ("=name",)  # a name as a whole
    actions = ("pause", "resume")

    def has_pause_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("eventstore.pause_subscription")

    @admin.display(description="status")
    def state(self, obj: SubscriptionState) -> str:
        if obj.paused:
            return "paused"
        if obj.status == SubscriptionState.STOPPED:
            return "stopped"
        if not self._leased(obj):
            return "no worker"
        lag = _lag_of(obj)
        return "running" if lag is None or lag.events else "caught up"

    @admin.display(description="worker")
    def worker(self, obj: SubscriptionState) -> str | None:
        return obj.lease_owner if self._leased(obj) else None  # the admin's empty value

    @admin.display(description="last heartbeat", ordering="heartbeat_at")
    def heartbeat(self, obj: SubscriptionState) -> Any:
        return obj.heartbeat_at

    @admin.display(description="checkpoint", ordering="position")
    def checkpoint(self, obj: SubscriptionState) -> int:
        return obj.position

    @admin.display(description="behind the head")
    def behind(self, obj: SubscriptionState) -> str:
        return _behind(obj)

    @admin.display(description="parked")
    def parked(self, obj: SubscriptionState) -> int:
        return parking.parked_count(obj.name)

    @admin.display(description="last error")
    def short_error(self, obj: SubscriptionState) -> str:
        return obj.last_error.splitlines()[0][:200] if obj.last_error else ""

    @admin.action(permissions=["pause"], description="Pause: workers leave them alone")
    def pause(self, request: HttpRequest, queryset: QuerySet[SubscriptionState]) -> None:
        names = [subscription.name for subscription in queryset]
        for name in names:
            state.pause(name)
        self._record(request, queryset, "Paused.")
        self.message_user(request, f"Paused: {', '.join(names)}.", messages.SUCCESS)

    @admin.action(permissions=["pause"], description="Resume: deliver from the checkpoint again")
    def resume(self, request: HttpRequest, queryset: QuerySet[SubscriptionState]) -> None:
        names = [subscription.name for subscription in queryset]
        for name in names:
            state.resume(name)
        self._record(request, queryset, "Resumed.")
        self.message_user(request, f"Resumed: {', '.join(names)}.", messages.SUCCESS)

    def _record(self, request: HttpRequest, queryset: QuerySet[SubscriptionState], message: str) -> None:
        for obj in queryset:
            self.log_change(request, obj, message)

    @staticmethod
    def _leased(obj: SubscriptionState) -> bool:
        return bool(obj.lease_owner) and obj.lease_expires_at is not None and obj.lease_expires_at > timezone.now()


class ProjectionAdmin(ImmutableAdmin):
    """Every projection's checkpoint, status and lag: read-only."""

    list_display = ("name", "status", "checkpoint", "behind", "short_error", "updated_at")
    list_display_links = None
    ordering = ("name",)
    search_fields = ("=name",)  # a name as a whole

    @admin.display(description="checkpoint", ordering="position")
    def checkpoint(self, obj: Checkpoint) -> int:
        return obj.position

    @admin.display(description="behind the head")
    def behind(self, obj: Checkpoint) -> str:
        return _behind(obj)

    @admin.display(description="error")
    def short_error(self, obj: Checkpoint) -> str:
        return obj.error.splitlines()[0][:200] if obj.error else ""
