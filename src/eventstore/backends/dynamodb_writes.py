"""The DynamoDB backend's append transaction: its items, checked against DynamoDB's limits first.

One append of n events writes 2n + 3 items: n events, n event-uuid guards, the stream head, one
commit item in the log and the log head (the global sequence).
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

MAX_EVENTS_PER_APPEND = (MAX_TRANSACTION_ITEMS - 3) // 2
LOG_HEAD_KEY: Item = {"Page": N(-1), "Position": N(0)}
LOG_PAGE_SIZE = 1000  # positions per log partition; fixed for a table's life
RECENT_PARTITION = "streams"
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
    log_page_size: int,
    stored: list[StoredEvent],
    payloads: list[tuple[str, str]],
    expected_version: int,
    last_seen: int,
    closes_stream: bool,
) -> dict[str, Any]:
    """Return the TransactWriteItems request of an append, checked against DynamoDB's limits."""
    first, last = stored[0], stored[-1]
    event_items = [items.event_item(event, *payload) for event, payload in zip(stored, payloads, strict=True)]
    check_sizes(stored, event_items)
    transact: list[dict[str, Any]] = [
        put(tables["events"], item, "attribute_not_exists(Version)") for item in event_items
    ]
    transact += [put(tables["event_uuids"], items.guard_item(e), "attribute_not_exists(EventUuid)") for e in stored]
    transact.append(head_write(tables["streams"], first, last, expected_version, closes_stream))
    commit = {
        "Page": N(first.position // log_page_size),
        "Position": N(first.position),
        "AggregateUuid": S(first.aggregate_uuid),
        "FromVersion": N(first.version),
        "Count": N(len(stored)),
    }
    transact.append(put(tables["log"], commit, "attribute_not_exists(#p)", {"#p": "Position"}))
    transact.append(
        log_head_write(tables["log"], last.position, last_seen, first.aggregate_type, expected_version == 0)
    )
    return {"TransactItems": transact, "ClientRequestToken": str(uuid.uuid4())}


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
        head: Item = {
            "AggregateUuid": S(first.aggregate_uuid),
            "AggregateType": S(first.aggregate_type),
            "StreamVersion": N(last.version),
            "Closed": {"BOOL": closes_stream},
            "CreatedAt": S(items.timestamp(first.recorded_at)),
            "UpdatedAt": S(updated_at),
            "Recent": S(RECENT_PARTITION),
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


def log_head_write(table: str, new_position: int, last_seen: int, aggregate_type: str, new_stream: bool) -> dict:
    """Return the write moving the global sequence from the last position seen (and counting a new stream)."""
    values: dict[str, Any] = {":last": N(new_position)}
    names = {"#last": "LastPosition"}
    expression = "SET #last = :last"
    if new_stream:
        expression += " ADD Streams :one, #type :one"
        values[":one"] = N(1)
        names["#type"] = TYPE_COUNT_PREFIX + aggregate_type
    if last_seen:
        condition = "#last = :seen"
        values[":seen"] = N(last_seen)
    else:
        condition = "attribute_not_exists(#last)"
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
