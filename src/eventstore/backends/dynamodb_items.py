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


def event_item(event: StoredEvent, data: str, metadata: str, *, with_position: bool = False) -> Item:
    """Return the events-table item of an event whose payloads are already JSON.

    Its position is stored with it only when the append assigns it (GLOBAL_ORDER "append"); otherwise the
    index alone knows it.
    """
    item: Item = {
        "AggregateUuid": S(event.aggregate_uuid),
        "Version": N(event.version),
        "EventUuid": S(event.event_uuid),
        "AggregateType": S(event.aggregate_type),
        "Name": S(event.name),
        "SchemaVersion": N(event.schema_version),
        "Data": S(data),
        "Metadata": S(metadata),
        "RecordedAt": S(timestamp(event.recorded_at)),
    }
    if with_position:
        item["Position"] = N(event.position)
    return item


def stored_event(item: Item, position: int | None = None) -> StoredEvent:
    """Return the event an events-table item holds, at `position` when the caller knows it from the index.

    An event appended while the indexer assigns the global order carries no Position of its own: it is 0
    (not yet known) unless the caller read it through the index.
    """
    if position is None:
        position = int(item["Position"]["N"]) if "Position" in item else 0
    return StoredEvent(
        position=position,
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
    """Return the event_uuids-table item that reserves the event's uuid, saying where it went.

    With a position (GLOBAL_ORDER "append") the guard records it too, so that a new append of events that
    already landed elsewhere in the global order is told from a resend of the same request.
    """
    item: Item = {
        "EventUuid": S(event.event_uuid),
        "AggregateUuid": S(event.aggregate_uuid),
        "Version": N(event.version),
    }
    if event.position:
        item["Position"] = N(event.position)
    return item


def guard_matches(item: Item, event: StoredEvent) -> bool:
    """Return whether a guard item records this event at this very place (the same append landed).

    A stream holds one event per version, so a guard naming the same stream and version for the same
    uuid was written by an append of these events there; where positions are assigned at append, only
    one with the same positions is this very request (or a resend of it).
    """
    same_place = item.get("AggregateUuid", {}).get("S") == str(event.aggregate_uuid) and item.get("Version", {}).get(
        "N"
    ) == str(event.version)
    if not event.position:
        return same_place
    return same_place and item.get("Position", {}).get("N") == str(event.position)


# The stream listing's GSIs are spread over this many partitions per listing (fixed for a table's life): a
# constant partition key would make every append's head write land on one GSI partition.
LISTING_SHARDS = 16


def listing_shard(aggregate_uuid: UUID | str) -> int:
    """Return the listing partition a stream's head goes to (a stable function of its uuid)."""
    return int(str(aggregate_uuid).replace("-", "")[:8], 16) % LISTING_SHARDS


def recent_partition(shard: int) -> str:
    """Return the `recent` index's partition key of a listing shard."""
    return f"streams#{shard}"


def type_partition(aggregate_type: str, shard: int) -> str:
    """Return the `recent_by_type_shard` index's partition key of a type's listing shard."""
    return f"{aggregate_type}#{shard}"


def recent_key(updated_at: datetime, aggregate_uuid: UUID | str) -> str:
    """Return the sort key listing heads newest first; the uuid breaks ties between equal times."""
    return f"{timestamp(updated_at)}|{aggregate_uuid}"


# Each stream's index tip: an item at Version 0 in the stream's own partition of the events table (as
# Equinox keeps a stream's tip beside its events), written by whoever assigns the stream's positions. It
# says up to which version the stream's events have positions, so indexing a version twice is refused.
TIP_VERSION = 0


def tip_key(aggregate_uuid: UUID | str) -> Item:
    """Return the key of a stream's index tip."""
    return {"AggregateUuid": S(aggregate_uuid), "Version": N(TIP_VERSION)}


def indexed_version(tip: Item | None) -> int:
    """Return the version up to which a tip says the stream is indexed (0 with no tip)."""
    return int(tip["IndexedVersion"]["N"]) if tip and "IndexedVersion" in tip else 0


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
