"""The limit: the raw driver (sqlite3 / psycopg 3) doing the event store's SQL work, no framework.

It writes to and reads from the same tables (same indexes, same column formats) as the Django
backend. Per single-event save it does exactly: BEGIN; insert the stream head (first event) or
UPDATE it from the expected version (checking the row count); INSERT the event; COMMIT. A batch is
the same with the events inserted by one executemany. It takes no advisory lock: ordering
positions by commit is a guarantee of the store, and its cost is part of what is measured.
"""

from __future__ import annotations

import json
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


def open_raw(vendor: str) -> RawStore:
    """Return a raw store on the database Django is configured with."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if vendor == "sqlite":
        return RawSQLite(str(database["NAME"]))
    conninfo = (
        f"host={database['HOST']} port={database['PORT'] or 5432} user={database['USER']} dbname={database['NAME']}"
    )
    return RawPostgres(conninfo)
