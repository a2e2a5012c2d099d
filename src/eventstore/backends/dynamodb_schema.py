"""The DynamoDB backend's tables: their names, key schemas and indexes, and creating them.

Five tables, all on-demand (PAY_PER_REQUEST), named TABLE_PREFIX + kind unless OPTIONS["TABLES"]
names one explicitly:

- events: one item per event, key AggregateUuid (S) + Version (N), and at Version 0 each stream's
  index tip (how far the indexer has given the stream's events positions).
- streams: one head item per stream, key AggregateUuid (S); its DynamoDB stream (NEW_IMAGE) is what the
  indexer follows: one record per append, describing it whole. The GSIs `recent` (Recent: 16 listing
  shards) and `recent_by_type_shard` (TypeShard: 16 shards per aggregate type) list heads by RecentKey,
  newest first; list_streams merges the shards.
- event_uuids: one guard item per event uuid, key EventUuid (S): an event is never stored twice.
- log: the store's global order, key Page (N) + Position (N): one index item per indexed range of a
  stream's versions, and the log head (the last position, the stream counts, the indexer's lease and
  its checkpoints in the change stream).
- snapshots: key AggregateUuid (S) + Version (N).

Tables created before layout 2 (one constant listing partition, no change stream, no tips) are moved
to it by `python manage.py migrate_dynamodb_layout`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

DEFAULT_TABLE_PREFIX = "eventstore_"
TABLE_KINDS = ("events", "streams", "event_uuids", "log", "snapshots")
RECENT_INDEX = "recent"
RECENT_BY_TYPE_INDEX = "recent_by_type_shard"
#: The by-type listing index of layout 1 (one partition per type), dropped by migrate_dynamodb_layout.
OLD_RECENT_BY_TYPE_INDEX = "recent_by_type"
STREAM_SPECIFICATION = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}

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
    "TypeShard": "S",
}
KEYS = {
    "events": ("AggregateUuid", "Version"),
    "streams": ("AggregateUuid", None),
    "event_uuids": ("EventUuid", None),
    "log": ("Page", "Position"),
    "snapshots": ("AggregateUuid", "Version"),
}
STREAM_INDEXES = {RECENT_INDEX: ("Recent", "RecentKey"), RECENT_BY_TYPE_INDEX: ("TypeShard", "RecentKey")}


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
        definition["GlobalSecondaryIndexes"] = [stream_index_definition(index) for index in STREAM_INDEXES]
        attributes |= {key for keys in STREAM_INDEXES.values() for key in keys}
        definition["StreamSpecification"] = STREAM_SPECIFICATION
    definition["AttributeDefinitions"] = [
        {"AttributeName": attribute, "AttributeType": KEY_TYPES[attribute]} for attribute in sorted(attributes)
    ]
    return definition


def stream_index_definition(index: str) -> dict[str, Any]:
    """Return the definition of one of the streams table's listing GSIs."""
    return {
        "IndexName": index,
        "KeySchema": _key_schema(*STREAM_INDEXES[index]),
        "Projection": {"ProjectionType": "ALL"},
    }


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


def recreate_table(client: Any, names: dict[str, str], kind: str) -> None:
    """Delete one table and create it again, empty (for tests: a new table also has a new change stream)."""
    name = names[kind]
    client.delete_table(TableName=name)
    client.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    client.create_table(**table_definition(kind, name))
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


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
