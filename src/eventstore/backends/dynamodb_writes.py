"""The DynamoDB backend's append transaction: its items, checked against DynamoDB's limits first.

One append of n events writes 2n + 1 items, all of its own stream: n events, n event-uuid guards and
the stream head. The indexer gives them positions later (dynamodb_indexer). With GLOBAL_ORDER "append"
the append also assigns its positions itself, in the same transaction: the stream's index tip, an index
item in the log and the log head (the global sequence) make 2n + 4 items, and every append contends on
the log head.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from ..exceptions import EventLimitError
from . import dynamodb_items as items
from .base import NewEvent, StoredEvent
from .dynamodb_items import MAX_ITEM_BYTES, MAX_TRANSACTION_BYTES, MAX_TRANSACTION_ITEMS, Item, N, S

# The same limit in both global-order modes, so that a store can switch between them (or be copied).
MAX_EVENTS_PER_APPEND = (MAX_TRANSACTION_ITEMS - 4) // 2
LOG_HEAD_KEY: Item = {"Page": N(-1), "Position": N(0)}
LOG_PAGE_SIZE = 1000  # positions per log partition; fixed for a table's life
TYPE_COUNT_PREFIX = "Streams:"


def check_count(aggregate_uuid: UUID, expected_version: int, events: Sequence[NewEvent]) -> None:
    """Refuse an append of more events than one transaction can carry."""
    limit = MAX_EVENTS_PER_APPEND
    if len(events) > limit:
        raise EventLimitError(
            aggregate_uuid,
            f"an append to DynamoDB carries at most {limit} events (one transaction of at most "
            f"{MAX_TRANSACTION_ITEMS} items); this one has {len(events)} (versions {expected_version + 1}-"
            f"{expected_version + len(events)}, first event {events[0].event_uuid} {events[0].name}). "
            "Nothing was written.",
        )


def append_request(
    tables: dict[str, str],
    stored: list[StoredEvent],
    payloads: list[tuple[str, str]],
    expected_version: int,
    closes_stream: bool,
    *,
    log_page_size: int | None = None,
    last_seen: int = 0,
) -> dict[str, Any]:
    """Return the TransactWriteItems request of an append, checked against DynamoDB's limits.

    With `log_page_size` (GLOBAL_ORDER "append") the events carry their positions, and the request indexes
    them: the stream's tip from the expected version, an index item, the log head from `last_seen`.
    """
    first, last = stored[0], stored[-1]
    assigning = log_page_size is not None
    event_items = [
        items.event_item(event, *payload, with_position=assigning)
        for event, payload in zip(stored, payloads, strict=True)
    ]
    check_sizes(stored, event_items)
    transact: list[dict[str, Any]] = [
        put(tables["events"], item, "attribute_not_exists(Version)") for item in event_items
    ]
    transact += [put(tables["event_uuids"], items.guard_item(e), "attribute_not_exists(EventUuid)") for e in stored]
    transact.append(head_write(tables["streams"], first, last, expected_version, closes_stream))
    if log_page_size is not None:
        transact.append(
            tip_write(tables["events"], first.aggregate_uuid, first.aggregate_type, expected_version, last.version)
        )
        transact.append(
            index_item_put(
                tables["log"], log_page_size, first.position, first.aggregate_uuid, first.version, len(stored)
            )
        )
        new_streams = {first.aggregate_type: 1} if expected_version == 0 else {}
        transact.append(log_head_write(tables["log"], last.position, last_seen, new_streams))
    return {"TransactItems": transact, "ClientRequestToken": str(uuid.uuid4())}


def tip_write(table: str, aggregate_uuid: UUID, aggregate_type: str, indexed: int, new: int) -> dict[str, Any]:
    """Return the write moving a stream's index tip from version `indexed` to `new` (creating it from 0)."""
    values: dict[str, Any] = {":new": N(new), ":type": S(aggregate_type)}
    if indexed:
        condition = "IndexedVersion = :indexed"
        values[":indexed"] = N(indexed)
    else:
        condition = "attribute_not_exists(IndexedVersion)"
    return {
        "Update": {
            "TableName": table,
            "Key": items.tip_key(aggregate_uuid),
            "UpdateExpression": "SET IndexedVersion = :new, AggregateType = :type",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def index_item_put(
    table: str, log_page_size: int, position: int, aggregate_uuid: UUID, from_version: int, count: int
) -> dict[str, Any]:
    """Return the Put of an index item: positions position.. hold versions from_version.. of one stream."""
    item = {
        "Page": N(position // log_page_size),
        "Position": N(position),
        "AggregateUuid": S(aggregate_uuid),
        "FromVersion": N(from_version),
        "Count": N(count),
    }
    return put(table, item, "attribute_not_exists(#p)", {"#p": "Position"})


def check_sizes(stored: list[StoredEvent], event_items: list[Item]) -> None:
    """Refuse events larger than an item, or together larger than a transaction."""
    total = 0
    for event, item in zip(stored, event_items, strict=True):
        size = items.item_size(item)
        total += size
        if size > MAX_ITEM_BYTES:
            raise EventLimitError(
                event.aggregate_uuid,
                f"event {event.event_uuid} ({event.name}, version {event.version}) is {size:,} bytes; "
                f"a DynamoDB item holds at most {MAX_ITEM_BYTES:,}. Nothing was written.",
            )
    if total > MAX_TRANSACTION_BYTES - 64 * 1024:  # room for the guards, head and log items
        raise EventLimitError(
            stored[0].aggregate_uuid,
            f"versions {stored[0].version}-{stored[-1].version} ({len(stored)} events from "
            f"{stored[0].event_uuid}) total {total:,} bytes; a DynamoDB transaction carries at most "
            f"{MAX_TRANSACTION_BYTES:,}. Append them in smaller batches. Nothing was written.",
        )


def put(table: str, item: Item, condition: str, names: dict[str, str] | None = None) -> dict[str, Any]:
    """Return a conditional Put that reports the conflicting item."""
    put = {
        "TableName": table,
        "Item": item,
        "ConditionExpression": condition,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    if names:
        put["ExpressionAttributeNames"] = names
    return {"Put": put}


def head_write(
    table: str, first: StoredEvent, last: StoredEvent, expected_version: int, closes_stream: bool
) -> dict[str, Any]:
    """Return the write moving the stream head from the expected version (creating it from 0)."""
    updated_at = items.timestamp(last.recorded_at)
    recent_key = items.recent_key(last.recorded_at, last.aggregate_uuid)
    if expected_version == 0:
        shard = items.listing_shard(first.aggregate_uuid)
        head: Item = {
            "AggregateUuid": S(first.aggregate_uuid),
            "AggregateType": S(first.aggregate_type),
            "StreamVersion": N(last.version),
            "Closed": {"BOOL": closes_stream},
            "CreatedAt": S(items.timestamp(first.recorded_at)),
            "UpdatedAt": S(updated_at),
            "Recent": S(items.recent_partition(shard)),
            "TypeShard": S(items.type_partition(first.aggregate_type, shard)),
            "RecentKey": S(recent_key),
        }
        return put(table, head, "attribute_not_exists(AggregateUuid)")
    return {
        "Update": {
            "TableName": table,
            "Key": {"AggregateUuid": S(first.aggregate_uuid)},
            "UpdateExpression": "SET StreamVersion = :new, UpdatedAt = :at, RecentKey = :key, Closed = :closed",
            "ConditionExpression": "StreamVersion = :expected",
            "ExpressionAttributeValues": {
                ":new": N(last.version),
                ":at": S(updated_at),
                ":key": S(recent_key),
                ":closed": {"BOOL": closes_stream},
                ":expected": N(expected_version),
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def log_head_write(
    table: str,
    new_position: int,
    last_seen: int,
    new_streams: dict[str, int],
    *,
    lease_owner: str | None = None,
    checkpoints: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Return the write moving the global sequence from the last position seen, counting new streams by type.

    The indexer also conditions it on holding the lease and saves its change-stream checkpoints with it.
    """
    values: dict[str, Any] = {":last": N(new_position)}
    names = {"#last": "LastPosition"}
    expression = "SET #last = :last"
    if checkpoints is not None:
        expression += ", Checkpoints = :checkpoints"
        values[":checkpoints"] = {"M": {shard: S(sequence) for shard, sequence in checkpoints.items()}}
    if new_streams:
        added = sum(new_streams.values())
        expression += " ADD Streams :added"
        values[":added"] = N(added)
        for index, (aggregate_type, count) in enumerate(sorted(new_streams.items())):
            expression += f", #type{index} :count{index}"
            names[f"#type{index}"] = TYPE_COUNT_PREFIX + aggregate_type
            values[f":count{index}"] = N(count)
    values[":seen"] = N(last_seen)
    # The indexer may save its checkpoints before the first position: the head then holds LastPosition 0.
    condition = "#last = :seen" if last_seen else "(attribute_not_exists(#last) OR #last = :seen)"
    if lease_owner is not None:
        condition += " AND LeaseOwner = :owner"
        values[":owner"] = S(lease_owner)
    return {
        "Update": {
            "TableName": table,
            "Key": LOG_HEAD_KEY,
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }
