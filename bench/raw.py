"""The limit: the raw driver (sqlite3 / psycopg 3 / boto3) doing the event store's work, no framework.

It writes to and reads from the same tables (same indexes, same column formats) as the Django
backend. Per single-event save it does exactly: BEGIN; insert the stream head (first event) or
UPDATE it from the expected version (checking the row count); INSERT the event; COMMIT. A batch is
the same with the events inserted by one executemany. It takes no advisory lock: ordering
positions by commit is a guarantee of the store, and its cost is part of what is measured.

On DynamoDB (RawDynamoDB) it is the least work boto3 can do for the same per-stream guarantee, in its
own table (AggregateUuid + Version): a save is one PutItem conditioned on attribute_not_exists(Version),
a batch one TransactWriteItems. It keeps no global order, no stream head and no event-uuid guard,
which the project's backend writes in every append: that is the price of its ordered read_all.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

INSERT_HEAD = (
    "INSERT INTO eventstore_stream (aggregate_uuid, aggregate_type, version, closed, created_at, updated_at)"
    " VALUES ({p}, {p}, {p}, {p}, {p}, {p})"
)
UPDATE_HEAD = (
    "UPDATE eventstore_stream SET version = {p}, updated_at = {p}, closed = {p}"
    " WHERE aggregate_uuid = {p} AND version = {p}"
)
INSERT_EVENT = (
    "INSERT INTO eventstore_event (event_uuid, aggregate_uuid, aggregate_type, version, name, schema_version,"
    " data, metadata, recorded_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
)
EVENT_COLUMNS = (
    "id, event_uuid, aggregate_uuid, aggregate_type, version, name, schema_version, data, metadata, recorded_at"
)
SELECT_STREAM = f"SELECT {EVENT_COLUMNS} FROM eventstore_event WHERE aggregate_uuid = {{p}} ORDER BY version"
SELECT_ALL = f"SELECT {EVENT_COLUMNS} FROM eventstore_event ORDER BY id"


class RawStore:
    """Base of the two drivers: the same statements, each driver's own parameter style and types."""

    placeholder = "?"

    def __init__(self) -> None:
        p = self.placeholder
        self.insert_head = INSERT_HEAD.format(p=p)
        self.update_head = UPDATE_HEAD.format(p=p)
        self.insert_event = INSERT_EVENT.format(p=p)
        self.select_stream = SELECT_STREAM.format(p=p)

    def uuid_param(self, value: uuid.UUID) -> Any:
        raise NotImplementedError

    def json_param(self, value: dict[str, Any]) -> Any:
        raise NotImplementedError

    def time_param(self, value: datetime) -> Any:
        raise NotImplementedError

    def begin(self) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def append(self, aggregate_uuid: uuid.UUID, expected_version: int, payloads: list[dict[str, Any]]) -> None:
        """Append cart events as one transaction, moving the stream head first.

        Version 1 is a CartOpened, the rest ItemAdded: the rows are real cart streams, which
        the cart read model's rebuild (W6) reads along with the project's own.
        """
        now = self.time_param(datetime.now(UTC))
        agg = self.uuid_param(aggregate_uuid)
        new_version = expected_version + len(payloads)
        cur = self.cursor
        self.begin()
        if expected_version == 0:
            cur.execute(self.insert_head, (agg, "ShoppingCart", new_version, False, now, now))
        else:
            cur.execute(self.update_head, (new_version, now, False, agg, expected_version))
            if cur.rowcount != 1:
                raise RuntimeError(f"stream {aggregate_uuid} is not at version {expected_version}")
        opened = {"shopping_cart_uuid": str(aggregate_uuid)}
        rows = [
            (
                self.uuid_param(uuid.uuid4()),
                agg,
                "ShoppingCart",
                version,
                "CartOpened" if version == 1 else "ItemAdded",
                1 if version == 1 else 2,
                self.json_param(opened if version == 1 else payload),
                self.json_param({}),
                now,
            )
            for version, payload in enumerate(payloads, start=expected_version + 1)
        ]
        if len(rows) == 1:
            cur.execute(self.insert_event, rows[0])
        else:
            cur.executemany(self.insert_event, rows)
        self.commit()

    def load(self, aggregate_uuid: uuid.UUID) -> list[tuple[Any, ...]]:
        """Return a stream's rows in version order, their data and metadata JSON-decoded."""
        raise NotImplementedError

    def read_all(self, batch_size: int = 1000) -> Iterator[tuple[Any, ...]]:
        """Yield every event row in position order through a server-side cursor, JSON decoded."""
        raise NotImplementedError

    def close(self) -> None:
        self.connection.close()


class RawSQLite(RawStore):
    """sqlite3 with the settings' pragmas (WAL, synchronous=NORMAL) and BEGIN IMMEDIATE per write."""

    placeholder = "?"

    def __init__(self, path: str) -> None:
        super().__init__()
        self.connection = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.cursor = self.connection.cursor()

    def uuid_param(self, value: uuid.UUID) -> str:
        return value.hex  # Django keeps UUIDs in SQLite as 32 hex characters

    def json_param(self, value: dict[str, Any]) -> str:
        return json.dumps(value)

    def time_param(self, value: datetime) -> str:
        return value.replace(tzinfo=None).isoformat(" ")  # Django's SQLite datetime format

    def begin(self) -> None:
        self.cursor.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.cursor.execute("COMMIT")

    def load(self, aggregate_uuid: uuid.UUID) -> list[tuple[Any, ...]]:
        rows = self.connection.execute(self.select_stream, (aggregate_uuid.hex,)).fetchall()
        loads = json.loads
        return [(*row[:7], loads(row[7]), loads(row[8]), row[9]) for row in rows]

    def read_all(self, batch_size: int = 1000) -> Iterator[tuple[Any, ...]]:
        # sqlite3 steps the statement as rows are fetched: the cursor is the server-side cursor.
        cursor = self.connection.execute(SELECT_ALL)
        loads = json.loads
        while rows := cursor.fetchmany(batch_size):
            for row in rows:
                yield (*row[:7], loads(row[7]), loads(row[8]), row[9])


class RawPostgres(RawStore):
    """psycopg 3 (server-side binding, jsonb decoded by the driver); a transaction per write."""

    placeholder = "%s"

    def __init__(self, conninfo: str) -> None:
        import psycopg

        super().__init__()
        self.connection = psycopg.connect(conninfo)
        self.cursor = self.connection.cursor()

    def uuid_param(self, value: uuid.UUID) -> uuid.UUID:
        return value

    def json_param(self, value: dict[str, Any]) -> Any:
        from psycopg.types.json import Jsonb

        return Jsonb(value)

    def time_param(self, value: datetime) -> datetime:
        return value

    def begin(self) -> None:
        pass  # psycopg opens the transaction with the first statement

    def commit(self) -> None:
        self.connection.commit()

    def load(self, aggregate_uuid: uuid.UUID) -> list[tuple[Any, ...]]:
        with self.connection.cursor() as cursor:
            rows = cursor.execute(self.select_stream, (aggregate_uuid,)).fetchall()
        self.connection.commit()
        return rows

    def read_all(self, batch_size: int = 1000) -> Iterator[tuple[Any, ...]]:
        with self.connection.cursor(name="bench_read_all") as cursor:
            cursor.itersize = batch_size
            cursor.execute(SELECT_ALL)
            yield from cursor
        self.connection.commit()


class RawDynamoDB:
    """A plain boto3 client on its own events table: key AggregateUuid (S) + Version (N), on demand.

    append: one PutItem conditioned on attribute_not_exists(Version) for a single event; for several,
    TransactWriteItems of the events' conditioned Puts, at most as many items per call as the
    project's backend sends (2 x 48 + 3). load: a consistent Query following LastEvaluatedKey;
    read_all: a paginated Scan (no global order). Data and metadata are JSON strings, decoded on read.
    """

    #: Items per TransactWriteItems call: the most the project's backend sends (48 events -> 99 items).
    items_per_call = 2 * 48 + 3

    def __init__(self, table: str, *, create: bool = True) -> None:
        import boto3

        self.table = table
        self.client = boto3.client("dynamodb")
        self.owner = create
        if create:
            self.client.create_table(
                TableName=table,
                KeySchema=[
                    {"AttributeName": "AggregateUuid", "KeyType": "HASH"},
                    {"AttributeName": "Version", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "AggregateUuid", "AttributeType": "S"},
                    {"AttributeName": "Version", "AttributeType": "N"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            self.client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1})

    def item(self, aggregate_uuid: str, version: int, payload: dict[str, Any], now: str) -> dict[str, Any]:
        data = {"shopping_cart_uuid": aggregate_uuid} if version == 1 else payload
        return {
            "AggregateUuid": {"S": aggregate_uuid},
            "Version": {"N": str(version)},
            "EventUuid": {"S": str(uuid.uuid4())},
            "AggregateType": {"S": "ShoppingCart"},
            "Name": {"S": "CartOpened" if version == 1 else "ItemAdded"},
            "SchemaVersion": {"N": "1" if version == 1 else "2"},
            "Data": {"S": json.dumps(data)},
            "Metadata": {"S": json.dumps({})},
            "RecordedAt": {"S": now},
        }

    def append(self, aggregate_uuid: uuid.UUID, expected_version: int, payloads: list[dict[str, Any]]) -> None:
        """Write the events at versions expected_version + 1...; fail if any of them exists already."""
        now = datetime.now(UTC).isoformat()
        agg = str(aggregate_uuid)
        items = [
            self.item(agg, version, payload, now)
            for version, payload in enumerate(payloads, start=expected_version + 1)
        ]
        condition = "attribute_not_exists(Version)"
        if len(items) == 1:
            self.client.put_item(TableName=self.table, Item=items[0], ConditionExpression=condition)
            return
        for start in range(0, len(items), self.items_per_call):
            chunk = items[start : start + self.items_per_call]
            self.client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": condition}} for item in chunk
                ]
            )

    def load(self, aggregate_uuid: uuid.UUID) -> list[tuple[Any, ...]]:
        """Return a stream's events in version order, data and metadata JSON-decoded."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "AggregateUuid = :u",
            "ExpressionAttributeValues": {":u": {"S": str(aggregate_uuid)}},
            "ConsistentRead": True,
        }
        rows: list[tuple[Any, ...]] = []
        while True:
            page = self.client.query(**kwargs)
            rows.extend(decode(item) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                return rows
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def read_all(self, batch_size: int = 1000) -> Iterator[tuple[Any, ...]]:
        """Yield every event of the table, page by page (a Scan: no global order)."""
        kwargs: dict[str, Any] = {"TableName": self.table, "Limit": batch_size}
        while True:
            page = self.client.scan(**kwargs)
            for item in page["Items"]:
                yield decode(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def update(self, aggregate_uuid: uuid.UUID, payload: dict[str, Any], attempts: int = 1000) -> int:
        """Read the stream's last version (consistent), put the next; retry on a lost race. Return attempts."""
        for attempt in range(1, attempts + 1):
            last = self.client.query(
                TableName=self.table,
                KeyConditionExpression="AggregateUuid = :u",
                ExpressionAttributeValues={":u": {"S": str(aggregate_uuid)}},
                ConsistentRead=True,
                ScanIndexForward=False,
                Limit=1,
                ProjectionExpression="Version",
            )["Items"]
            version = int(last[0]["Version"]["N"]) if last else 0
            try:
                self.append(aggregate_uuid, version, [payload])
            except self.client.exceptions.ConditionalCheckFailedException:
                continue
            return attempt
        raise RuntimeError(f"raw update of {aggregate_uuid} lost {attempts} races")

    def versions(self, aggregate_uuid: uuid.UUID) -> list[int]:
        return [row[4] for row in self.load(aggregate_uuid)]

    def close(self) -> None:
        if self.owner:
            self.client.delete_table(TableName=self.table)
            self.client.get_waiter("table_not_exists").wait(TableName=self.table, WaiterConfig={"Delay": 1})
        self.client.close()


def decode(item: dict[str, Any]) -> tuple[Any, ...]:
    """Return an event item as a row like the SQL ones (no position: the table has none)."""
    return (
        None,
        item["EventUuid"]["S"],
        item["AggregateUuid"]["S"],
        item["AggregateType"]["S"],
        int(item["Version"]["N"]),
        item["Name"]["S"],
        int(item["SchemaVersion"]["N"]),
        json.loads(item["Data"]["S"]),
        json.loads(item["Metadata"]["S"]),
        item["RecordedAt"]["S"],
    )


def raw_dynamodb_table() -> str:
    """The raw baseline's table: next to the project's tables, under the same per-run prefix."""
    return f"{os.environ['EVENTSTORE_DYNAMODB_TABLE_PREFIX']}raw_events"


def open_raw(vendor: str) -> RawStore | RawDynamoDB:
    """Return a raw store on the database Django is configured with (DynamoDB: a table of its own)."""
    from django.conf import settings

    if vendor == "dynamodb":
        return RawDynamoDB(raw_dynamodb_table())
    database = settings.DATABASES["default"]
    if vendor == "sqlite":
        return RawSQLite(str(database["NAME"]))
    conninfo = (
        f"host={database['HOST']} port={database['PORT'] or 5432} user={database['USER']} dbname={database['NAME']}"
    )
    return RawPostgres(conninfo)
