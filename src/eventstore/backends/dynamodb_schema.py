"""The DynamoDB backend's tables: their names, key schemas and indexes, and creating them.

Five tables, all on-demand (PAY_PER_REQUEST), named TABLE_PREFIX + kind unless OPTIONS["TABLES"]
names one explicitly:

- events: one item per event, key AggregateUuid (S) + Version (N).
- streams: one head item per stream, key AggregateUuid (S); the GSIs `recent` (one constant
  partition) and `recent_by_type` (per aggregate type) list heads by RecentKey, newest first.
- event_uuids: one guard item per event uuid, key EventUuid (S): an event is never stored twice.
- log: the store's global order, key Page (N) + Position (N): one commit item per append and the
  log head (the global sequence and the stream counts).
- snapshots: key AggregateUuid (S) + Version (N).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

DEFAULT_TABLE_PREFIX = "eventstore_"
TABLE_KINDS = ("events", "streams", "event_uuids", "log", "snapshots")
RECENT_INDEX = "recent"
RECENT_BY_TYPE_INDEX = "recent_by_type"

# Attribute types of every key attribute, table and index alike.
KEY_TYPES = {
    "AggregateUuid": "S",
    "Version": "N",
    "EventUuid": "S",
    "Page": "N",
    "Position": "N",
    "Recent": "S",
    "RecentKey": "S",
    "AggregateType": "S",
}
KEYS = {
    "events": ("AggregateUuid", "Version"),
    "streams": ("AggregateUuid", None),
    "event_uuids": ("EventUuid", None),
    "log": ("Page", "Position"),
    "snapshots": ("AggregateUuid", "Version"),
}
STREAM_INDEXES = {RECENT_INDEX: ("Recent", "RecentKey"), RECENT_BY_TYPE_INDEX: ("AggregateType", "RecentKey")}


def table_names(options: dict[str, Any]) -> dict[str, str]:
    """Return each table kind's name from the backend OPTIONS (TABLE_PREFIX, TABLES)."""
    prefix = options.get("TABLE_PREFIX") or DEFAULT_TABLE_PREFIX
    explicit = options.get("TABLES", {})
    unknown = set(explicit) - set(TABLE_KINDS)
    if unknown:
        raise ImproperlyConfigured(
            f"EVENTSTORE OPTIONS TABLES names unknown tables {sorted(unknown)}; known: {', '.join(TABLE_KINDS)}."
        )
    return {kind: explicit.get(kind, f"{prefix}{kind}") for kind in TABLE_KINDS}


def _key_schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


def table_definition(kind: str, name: str) -> dict[str, Any]:
    """Return the create_table arguments of one table kind."""
    key_schema = _key_schema(*KEYS[kind])
    attributes = {entry["AttributeName"] for entry in key_schema}
    definition: dict[str, Any] = {"TableName": name, "KeySchema": key_schema, "BillingMode": "PAY_PER_REQUEST"}
    if kind == "streams":
        definition["GlobalSecondaryIndexes"] = [
            {"IndexName": index, "KeySchema": _key_schema(*keys), "Projection": {"ProjectionType": "ALL"}}
            for index, keys in STREAM_INDEXES.items()
        ]
        attributes |= {key for keys in STREAM_INDEXES.values() for key in keys}
    definition["AttributeDefinitions"] = [
        {"AttributeName": attribute, "AttributeType": KEY_TYPES[attribute]} for attribute in sorted(attributes)
    ]
    return definition


def create_tables(client: Any, names: dict[str, str], *, wait: bool = True) -> list[str]:
    """Create the tables that do not exist yet, wait until all are active; return the names created."""
    existing = set(_list_tables(client))
    created = []
    for kind, name in names.items():
        if name not in existing:
            try:
                client.create_table(**table_definition(kind, name))
            except client.exceptions.ResourceInUseException:
                pass  # Another process created it meanwhile: that is what we wanted.
            else:
                created.append(name)
    if wait:
        waiter = client.get_waiter("table_exists")
        for name in names.values():
            waiter.wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    return created


def _list_tables(client: Any) -> list[str]:
    names: list[str] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = client.list_tables(**kwargs)
        names.extend(page["TableNames"])
        if "LastEvaluatedTableName" not in page:
            return names
        kwargs["ExclusiveStartTableName"] = page["LastEvaluatedTableName"]


def empty_tables(client: Any, names: dict[str, str]) -> None:
    """Delete every item of the tables (for tests: much faster than recreating them)."""
    for kind, name in names.items():
        hash_key, range_key = KEYS[kind]
        key_names = [hash_key] + ([range_key] if range_key else [])
        kwargs: dict[str, Any] = {
            "TableName": name,
            "ProjectionExpression": ", ".join(f"#k{i}" for i in range(len(key_names))),
            "ExpressionAttributeNames": {f"#k{i}": key for i, key in enumerate(key_names)},
            "ConsistentRead": True,
        }
        while True:
            page = client.scan(**kwargs)
            keys = page["Items"]
            for start in range(0, len(keys), 25):
                requests = [{"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]]
                while requests:
                    answer = client.batch_write_item(RequestItems={name: requests})
                    requests = answer.get("UnprocessedItems", {}).get(name, [])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
