"""A store written the old way, for migrate_dynamodb_layout's tests: DynamoDB layout 1.

COPY OF THE OLD LAYOUT, for the tests only: the table definitions and the append transaction below are
those of the commit before layout 2 (src/eventstore/backends/dynamodb_schema.py and dynamodb_writes.py
there), cut down to what writing a store needs. Each append gave its events their positions itself: the
events and guards carry a Position, the head has Recent = "streams" (one listing partition) and no
TypeShard, and the same transaction wrote the commit (index) item and moved the log head with its stream
counts. The streams table had the GSIs `recent` (Recent) and `recent_by_type` (AggregateType), and no
change stream; no stream had an index tip.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventstore.backends import dynamodb_items as items
from eventstore.backends.base import NewEvent, StoredEvent
from eventstore.backends.dynamodb_items import Item, N, S
from eventstore.backends.dynamodb_writes import LOG_HEAD_KEY, LOG_PAGE_SIZE, TYPE_COUNT_PREFIX

OLD_RECENT_PARTITION = "streams"
OLD_KEY_TYPES = {
    "AggregateUuid": "S",
    "Version": "N",
    "EventUuid": "S",
    "Page": "N",
    "Position": "N",
    "Recent": "S",
    "RecentKey": "S",
    "AggregateType": "S",
}
OLD_KEYS = {
    "events": ("AggregateUuid", "Version"),
    "streams": ("AggregateUuid", None),
    "event_uuids": ("EventUuid", None),
    "log": ("Page", "Position"),
    "snapshots": ("AggregateUuid", "Version"),
}
OLD_STREAM_INDEXES = {"recent": ("Recent", "RecentKey"), "recent_by_type": ("AggregateType", "RecentKey")}


def _key_schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


def old_table_definition(kind: str, name: str) -> dict[str, Any]:
    """Return layout 1's create_table arguments of one table kind (no change stream on the streams table)."""
    key_schema = _key_schema(*OLD_KEYS[kind])
    attributes = {entry["AttributeName"] for entry in key_schema}
    definition: dict[str, Any] = {"TableName": name, "KeySchema": key_schema, "BillingMode": "PAY_PER_REQUEST"}
    if kind == "streams":
        definition["GlobalSecondaryIndexes"] = [
            {"IndexName": index, "KeySchema": _key_schema(*keys), "Projection": {"ProjectionType": "ALL"}}
            for index, keys in OLD_STREAM_INDEXES.items()
        ]
        attributes |= {key for keys in OLD_STREAM_INDEXES.values() for key in keys}
    definition["AttributeDefinitions"] = [
        {"AttributeName": attribute, "AttributeType": OLD_KEY_TYPES[attribute]} for attribute in sorted(attributes)
    ]
    return definition


def create_old_tables(client: Any, tables: dict[str, str]) -> None:
    for kind, name in tables.items():
        client.create_table(**old_table_definition(kind, name))
    waiter = client.get_waiter("table_exists")
    for name in tables.values():
        waiter.wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def delete_tables(client: Any, tables: dict[str, str]) -> None:
    for name in tables.values():
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):
            client.delete_table(TableName=name)


def old_event_item(event: StoredEvent, data: str, metadata: str) -> Item:
    """Layout 1's event item: with its Position."""
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
        "RecordedAt": S(items.timestamp(event.recorded_at)),
    }


def old_guard_item(event: StoredEvent) -> Item:
    """Layout 1's guard item: with the event's Position."""
    return {
        "EventUuid": S(event.event_uuid),
        "AggregateUuid": S(event.aggregate_uuid),
        "Version": N(event.version),
        "Position": N(event.position),
    }


def _put(table: str, item: Item, condition: str, names: dict[str, str] | None = None) -> dict[str, Any]:
    put: dict[str, Any] = {"TableName": table, "Item": item, "ConditionExpression": condition}
    if names:
        put["ExpressionAttributeNames"] = names
    return {"Put": put}


def old_head_write(
    table: str, first: StoredEvent, last: StoredEvent, expected_version: int, closes_stream: bool
) -> dict[str, Any]:
    """Layout 1's head write: Recent is the one constant partition, and there is no TypeShard."""
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
            "Recent": S(OLD_RECENT_PARTITION),
            "RecentKey": S(recent_key),
        }
        return _put(table, head, "attribute_not_exists(AggregateUuid)")
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
        }
    }


def old_log_head_write(table: str, new_position: int, last_seen: int, aggregate_type: str, new_stream: bool) -> dict:
    """Layout 1's log head write: the global sequence from the last position seen, counting a new stream."""
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
        }
    }


def old_append_request(
    tables: dict[str, str],
    log_page_size: int,
    stored: list[StoredEvent],
    payloads: list[tuple[str, str]],
    expected_version: int,
    last_seen: int,
    closes_stream: bool,
) -> dict[str, Any]:
    """Layout 1's append transaction: 2n + 3 items (events, guards, head, commit item, log head)."""
    first, last = stored[0], stored[-1]
    transact = [
        _put(tables["events"], old_event_item(event, *payload), "attribute_not_exists(Version)")
        for event, payload in zip(stored, payloads, strict=True)
    ]
    transact += [_put(tables["event_uuids"], old_guard_item(e), "attribute_not_exists(EventUuid)") for e in stored]
    transact.append(old_head_write(tables["streams"], first, last, expected_version, closes_stream))
    commit = {
        "Page": N(first.position // log_page_size),
        "Position": N(first.position),
        "AggregateUuid": S(first.aggregate_uuid),
        "FromVersion": N(first.version),
        "Count": N(len(stored)),
    }
    transact.append(_put(tables["log"], commit, "attribute_not_exists(#p)", {"#p": "Position"}))
    transact.append(
        old_log_head_write(tables["log"], last.position, last_seen, first.aggregate_type, expected_version == 0)
    )
    return {"TransactItems": transact, "ClientRequestToken": str(uuid.uuid4())}


@dataclass
class OldStore:
    """Appends written as layout 1 wrote them, one writer at a time (the tests write nothing concurrently)."""

    client: Any
    tables: dict[str, str]
    log_page_size: int = LOG_PAGE_SIZE
    last_position: int = 0
    versions: dict[UUID, int] = field(default_factory=dict)
    written: list[StoredEvent] = field(default_factory=list)
    clock: datetime = field(default_factory=lambda: datetime(2025, 1, 1, tzinfo=UTC))

    def append(
        self, aggregate_uuid: UUID, aggregate_type: str, events: list[NewEvent], *, closes_stream: bool = False
    ) -> list[StoredEvent]:
        expected = self.versions.get(aggregate_uuid, 0)
        self.clock += timedelta(seconds=1)  # distinct times: the listing order is known
        stored = [
            StoredEvent(
                position=self.last_position + offset,
                event_uuid=event.event_uuid,
                aggregate_uuid=aggregate_uuid,
                aggregate_type=aggregate_type,
                version=expected + offset,
                name=event.name,
                schema_version=event.schema_version,
                data=event.data,
                metadata=event.metadata,
                recorded_at=self.clock,
            )
            for offset, event in enumerate(events, start=1)
        ]
        payloads = [(json.dumps(event.data), json.dumps(event.metadata)) for event in events]
        request = old_append_request(
            self.tables, self.log_page_size, stored, payloads, expected, self.last_position, closes_stream
        )
        self.client.transact_write_items(**request)
        self.last_position = stored[-1].position
        self.versions[aggregate_uuid] = stored[-1].version
        self.written.extend(stored)
        return stored
