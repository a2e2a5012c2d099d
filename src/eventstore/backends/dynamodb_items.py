"""Turning events, stream heads and snapshots into DynamoDB items and back, and sizing items.

Payloads (data, metadata, snapshot state) are stored as JSON strings, not as DynamoDB maps: they
round-trip exactly (no Decimal for numbers) and their size is known before anything is sent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from .base import SnapshotRecord, StoredEvent, StreamInfo

Item = dict[str, dict[str, Any]]

# DynamoDB's limits (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
MAX_ITEM_BYTES = 400 * 1024
MAX_TRANSACTION_ITEMS = 100
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024

# A fixed width keeps timestamps sortable as strings (isoformat drops zero microseconds).
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def timestamp(moment: datetime) -> str:
    """Return the moment as a sortable UTC string."""
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_timestamp(value: str) -> datetime:
    """Return the aware datetime a timestamp() string holds."""
    return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)


def S(value: object) -> dict[str, str]:
    """Return a DynamoDB string value."""
    return {"S": str(value)}


def N(value: int) -> dict[str, str]:
    """Return a DynamoDB number value."""
    return {"N": str(value)}


def item_size(item: Item) -> int:
    """Return an upper estimate of the item's size as DynamoDB counts it (names plus values)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if "S" in value:
            size += len(value["S"].encode())
        elif "N" in value:
            size += len(value["N"]) + 1
        else:
            size += 1
    return size


def event_item(event: StoredEvent, data: str, metadata: str) -> Item:
    """Return the events-table item of an event whose payloads are already JSON."""
    return {
        "AggregateUuid": S(event.aggregate_uuid),
        "Version": N(event.version),
        "Position": N(event.position),
        "EventUuid": S(event.event_uuid),
        "AggregateType": S(event.aggregate_type),
        "Name": S(event.name),
        "SchemaVersion": N(event.schema_version),
        "Data": S(data),
        "Metadata": S(metadata),
        "RecordedAt": S(timestamp(event.recorded_at)),
    }


def stored_event(item: Item) -> StoredEvent:
    """Return the event an events-table item holds."""
    return StoredEvent(
        position=int(item["Position"]["N"]),
        event_uuid=UUID(item["EventUuid"]["S"]),
        aggregate_uuid=UUID(item["AggregateUuid"]["S"]),
        aggregate_type=item["AggregateType"]["S"],
        version=int(item["Version"]["N"]),
        name=item["Name"]["S"],
        schema_version=int(item["SchemaVersion"]["N"]),
        data=json.loads(item["Data"]["S"]),
        metadata=json.loads(item["Metadata"]["S"]),
        recorded_at=parse_timestamp(item["RecordedAt"]["S"]),
    )


def guard_item(event: StoredEvent) -> Item:
    """Return the event_uuids-table item that reserves the event's uuid, saying where it went."""
    return {
        "EventUuid": S(event.event_uuid),
        "AggregateUuid": S(event.aggregate_uuid),
        "Version": N(event.version),
        "Position": N(event.position),
    }


def guard_matches(item: Item, event: StoredEvent) -> bool:
    """Return whether a guard item records exactly this event (the same append landed)."""
    return (
        item.get("AggregateUuid", {}).get("S") == str(event.aggregate_uuid)
        and item.get("Version", {}).get("N") == str(event.version)
        and item.get("Position", {}).get("N") == str(event.position)
    )


def recent_key(updated_at: datetime, aggregate_uuid: UUID | str) -> str:
    """Return the sort key listing heads newest first; the uuid breaks ties between equal times."""
    return f"{timestamp(updated_at)}|{aggregate_uuid}"


def stream_info(item: Item) -> StreamInfo:
    """Return the head a streams-table item holds."""
    return StreamInfo(
        aggregate_uuid=UUID(item["AggregateUuid"]["S"]),
        aggregate_type=item["AggregateType"]["S"],
        version=int(item["StreamVersion"]["N"]),
        created_at=parse_timestamp(item["CreatedAt"]["S"]),
        updated_at=parse_timestamp(item["UpdatedAt"]["S"]),
        closed=item.get("Closed", {}).get("BOOL", False),
    )


def snapshot_item(snapshot: SnapshotRecord, created_at: datetime) -> Item:
    """Return the snapshots-table item of a snapshot."""
    return {
        "AggregateUuid": S(snapshot.aggregate_uuid),
        "Version": N(snapshot.version),
        "AggregateType": S(snapshot.aggregate_type),
        "State": S(json.dumps(snapshot.state)),
        "SchemaVersion": N(snapshot.schema_version),
        "CreatedAt": S(timestamp(created_at)),
    }


def snapshot_record(item: Item) -> SnapshotRecord:
    """Return the snapshot a snapshots-table item holds."""
    return SnapshotRecord(
        aggregate_uuid=UUID(item["AggregateUuid"]["S"]),
        aggregate_type=item["AggregateType"]["S"],
        version=int(item["Version"]["N"]),
        state=json.loads(item["State"]["S"]),
        schema_version=int(item["SchemaVersion"]["N"]),
        created_at=parse_timestamp(item["CreatedAt"]["S"]),
    )
