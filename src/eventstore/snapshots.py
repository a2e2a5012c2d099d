"""Snapshot policies, and turning aggregates into snapshot records and back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from django.utils import timezone

from .aggregates import Aggregate
from .backends.base import SnapshotRecord

A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True)
class EveryNEvents:
    """Take a snapshot each time a save crosses a multiple of `interval` versions."""

    interval: int

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise ValueError("A snapshot interval must be at least 1.")

    def is_due(self, old_version: int, new_version: int) -> bool:
        return new_version // self.interval > old_version // self.interval


def snapshot_of(aggregate: Aggregate) -> SnapshotRecord:
    """Return a snapshot record of the aggregate's saved state."""
    if aggregate.changes:
        raise ValueError(f"{aggregate!r} has unsaved changes; snapshot it after saving.")
    return SnapshotRecord(
        aggregate_uuid=aggregate.uuid,
        aggregate_type=aggregate.aggregate_type,
        version=aggregate.version,
        state=aggregate.get_state(),
        schema_version=aggregate.state_schema_version,
        created_at=timezone.now(),
    )


def is_usable(record: SnapshotRecord, aggregate_class: type[Aggregate]) -> bool:
    """Return whether the snapshot was written for this aggregate's current state shape."""
    return (
        record.aggregate_type == aggregate_class.aggregate_type
        and record.schema_version == aggregate_class.state_schema_version
    )


def restore(record: SnapshotRecord, aggregate_class: type[A]) -> A:
    """Return the aggregate as the snapshot saved it."""
    return aggregate_class.from_state(record.aggregate_uuid, record.version, record.state)
