"""A subscription's row in the Django database: its checkpoint, its lease, pausing and stopping.

The lease is taken and renewed by one conditional UPDATE (free, expired, or already ours → ours),
atomic on SQLite and PostgreSQL alike, so one worker at a time delivers to a subscription whatever
the event backend. Every checkpoint write is conditioned on still holding the lease: a worker that
lost it (paused too long, cut off) cannot move a checkpoint another worker now owns.
Times are the workers' clocks: hosts running workers keep them synchronised (NTP), well within a lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from .backends.base import EventStoreBackend
from .exceptions import LeaseLost
from .models import SubscriptionState
from .subscriptions import Subscription


def ensure_state(subscription: Subscription, backend: EventStoreBackend) -> SubscriptionState:
    """Return the subscription's row, created at its start (the beginning, or the head for start="now")."""
    state = SubscriptionState.objects.filter(name=subscription.name).first()
    if state is not None:
        return state
    position = backend.last_position() if subscription.start == "now" else 0
    state, _ = SubscriptionState.objects.get_or_create(name=subscription.name, defaults={"position": position})
    return state


def acquire(name: str, owner: str, lease_seconds: float) -> SubscriptionState | None:
    """Take or renew the lease for `owner`; return the row as it is then, or None when another worker holds it."""
    now = timezone.now()
    taken = (
        SubscriptionState.objects.filter(name=name)
        .filter(Q(lease_owner=owner) | Q(lease_owner="") | Q(lease_expires_at__lt=now) | Q(lease_expires_at=None))
        .update(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds), heartbeat_at=now)
    )
    return SubscriptionState.objects.filter(name=name).first() if taken else None


def renew(name: str, owner: str, lease_seconds: float) -> None:
    """Extend the lease `owner` holds; raise LeaseLost when it holds it no more."""
    now = timezone.now()
    renewed = SubscriptionState.objects.filter(name=name, lease_owner=owner).update(
        lease_expires_at=now + timedelta(seconds=lease_seconds), heartbeat_at=now
    )
    if not renewed:
        raise LeaseLost(name, owner)


def save_position(name: str, owner: str, position: int, recorded_at: datetime | None) -> None:
    """Move the checkpoint, if `owner` still holds the lease; raise LeaseLost (in a transaction: rolling back)."""
    saved = SubscriptionState.objects.filter(name=name, lease_owner=owner).update(
        position=position, position_recorded_at=recorded_at, updated_at=timezone.now()
    )
    if not saved:
        raise LeaseLost(name, owner)


def release(name: str, owner: str) -> None:
    """Give the lease up, so that another worker may take it at once (nothing happens if `owner` lost it)."""
    SubscriptionState.objects.filter(name=name, lease_owner=owner).update(
        lease_owner="", lease_expires_at=None, updated_at=timezone.now()
    )


def record_error(name: str, error: str) -> None:
    """Remember a subscription's last error (it names stream, version and event; never the payload)."""
    SubscriptionState.objects.filter(name=name).update(
        last_error=error, last_error_at=timezone.now(), updated_at=timezone.now()
    )


def stop(name: str, owner: str, position: int, error: str) -> None:
    """Stop the subscription just before a failing event: no worker delivers to it until it is resumed."""
    saved = SubscriptionState.objects.filter(name=name, lease_owner=owner).update(
        position=position,
        status=SubscriptionState.STOPPED,
        last_error=error,
        last_error_at=timezone.now(),
        updated_at=timezone.now(),
    )
    if not saved:
        raise LeaseLost(name, owner)


def pause(name: str) -> bool:
    """Pause a subscription: workers leave it alone (one delivering finishes its event). Return whether it exists."""
    return bool(SubscriptionState.objects.filter(name=name).update(paused=True, updated_at=timezone.now()))


def resume(name: str) -> bool:
    """Let workers deliver to a paused or stopped subscription again, from its checkpoint. Return whether it exists."""
    return bool(
        SubscriptionState.objects.filter(name=name).update(
            paused=False, status=SubscriptionState.ACTIVE, updated_at=timezone.now()
        )
    )


@dataclass(frozen=True)
class Lag:
    """How far a subscription is behind the head of the store.

    `events` counts the positions between the checkpoint and the head: exact where positions are dense
    (DynamoDB), an upper bound where a rolled-back append left a gap (a database sequence).
    """

    events: int
    seconds: float


def lag(position: int, backend: EventStoreBackend) -> Lag:
    """Return the events after `position` and how long the oldest of them has waited (0 when caught up)."""
    head = backend.last_position()
    if head <= position:
        return Lag(0, 0.0)
    oldest = next(iter(backend.read_all(position, batch_size=1)), None)
    waited = (timezone.now() - oldest.recorded_at).total_seconds() if oldest is not None else 0.0
    return Lag(head - position, max(waited, 0.0))
