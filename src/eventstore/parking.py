"""Parked events: what a subscription's handler failed on every attempt, set aside so that the rest go on.

A person then retries one (the subscription's worker delivers it again, to that subscription only)
or skips it; each action records who and when. Only the event's coordinates are kept, never its payload.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import F
from django.utils import timezone

from .backends.base import StoredEvent
from .models import ParkedEvent


def park(subscription: str, event: StoredEvent, *, error: str, attempts: int, first_failed_at: datetime) -> ParkedEvent:
    """Set an event aside for a subscription (again, if a crash had it delivered twice); return the row."""
    parked, _ = ParkedEvent.objects.update_or_create(
        subscription=subscription,
        position=event.position,
        defaults={
            "event_uuid": event.event_uuid,
            "aggregate_uuid": event.aggregate_uuid,
            "aggregate_type": event.aggregate_type,
            "version": event.version,
            "event_name": event.name,
            "status": ParkedEvent.PARKED,
            "error": error,
            "attempts": attempts,
            "last_failed_at": timezone.now(),
        },
        create_defaults={
            "event_uuid": event.event_uuid,
            "aggregate_uuid": event.aggregate_uuid,
            "aggregate_type": event.aggregate_type,
            "version": event.version,
            "event_name": event.name,
            "error": error,
            "attempts": attempts,
            "first_failed_at": first_failed_at,
            "last_failed_at": timezone.now(),
        },
    )
    return parked


def request_retry(parked: Iterable[ParkedEvent] | Iterable[int], *, by: str) -> int:
    """Ask the subscription's worker to deliver these parked events again; return how many were parked."""
    return ParkedEvent.objects.filter(pk__in=_pks(parked), status=ParkedEvent.PARKED).update(
        status=ParkedEvent.RETRY, retried_by=by, retried_at=timezone.now()
    )


def skip(parked: Iterable[ParkedEvent] | Iterable[int], *, by: str) -> int:
    """Give up delivering these parked events (those not being retried); return how many were skipped."""
    return ParkedEvent.objects.filter(pk__in=_pks(parked), status=ParkedEvent.PARKED).update(
        status=ParkedEvent.SKIPPED, skipped_by=by, skipped_at=timezone.now()
    )


def _pks(parked: Iterable[ParkedEvent] | Iterable[int]) -> list[int]:
    return [item.pk if isinstance(item, ParkedEvent) else item for item in parked]


def due_for_retry(subscription: str, limit: int) -> list[ParkedEvent]:
    """Return the subscription's events waiting to be delivered again, oldest position first."""
    return list(
        ParkedEvent.objects.filter(subscription=subscription, status=ParkedEvent.RETRY).order_by("position")[:limit]
    )


def delivered(parked: ParkedEvent) -> None:
    """Record that a retry succeeded."""
    ParkedEvent.objects.filter(pk=parked.pk).update(status=ParkedEvent.DELIVERED, delivered_at=timezone.now())


def failed_again(parked: ParkedEvent, *, error: str, attempts: int) -> None:
    """Park the event again after a retry failed every attempt."""
    ParkedEvent.objects.filter(pk=parked.pk).update(
        status=ParkedEvent.PARKED, error=error, attempts=F("attempts") + attempts, last_failed_at=timezone.now()
    )


def parked_count(subscription: str) -> int:
    """Return how many of the subscription's events are parked or waiting for a retry."""
    return ParkedEvent.objects.filter(
        subscription=subscription, status__in=[ParkedEvent.PARKED, ParkedEvent.RETRY]
    ).count()
