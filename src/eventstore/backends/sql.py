"""The Django backend's hot SQL, per database: appends in as few statements as the guarantees allow,
reads that turn rows straight into records (no model instances, each JSON column decoded once).

Values are stored exactly as the ORM stores them (UUIDs as 32 hex digits and times as naive UTC
text on SQLite, native types on PostgreSQL, JSON as `json.dumps` text), so the ORM, the admin and
these statements read and write the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any
from uuid import UUID, SafeUUID

from django.db.backends.base.base import BaseDatabaseWrapper

from ..models import EventRecord, Snapshot, Stream
from .base import NewEvent, SnapshotRecord, StoredEvent

# Any constant will do; it names the one lock that orders all appends on PostgreSQL.
APPEND_LOCK_KEY = 0x6576_656E_7473

EVENTS = EventRecord._meta.db_table
STREAMS = Stream._meta.db_table
SNAPSHOTS = Snapshot._meta.db_table
INSERTED_COLUMNS = (
    "event_uuid, aggregate_uuid, aggregate_type, version, name, schema_version, data, metadata, recorded_at"
)
#: Columns of a stream read: the stream's uuid is known, so it is not fetched.
STREAM_COLUMNS = "id, event_uuid, aggregate_type, version, name, schema_version, data, metadata, recorded_at"
ALL_COLUMNS = (
    "id, event_uuid, aggregate_uuid, aggregate_type, version, name, schema_version, data, metadata, recorded_at"
)
SNAPSHOT_COLUMNS = "aggregate_type, version, state, schema_version, created_at"
#: Highest version a stream read can ask for (PositiveIntegerField's range).
MAX_VERSION = 2**31 - 1

Row = tuple[Any, ...]
_loads = json.loads
_dumps = json.dumps
_new_object = object.__new__
_set_attribute = object.__setattr__  # UUID forbids attribute assignment; it sets its own the same way
_UNKNOWN_SAFETY = SafeUUID.unknown


def uuid_from_hex(value: str) -> UUID:
    """Return UUID(value) for 32 hex digits as Django stores them, at half UUID()'s cost (it validates
    and normalises any spelling; these come from our own column, one or two per event read)."""
    parsed = _new_object(UUID)
    _set_attribute(parsed, "int", int(value, 16))
    _set_attribute(parsed, "is_safe", _UNKNOWN_SAFETY)
    return parsed


def decode_metadata(text: str) -> dict[str, Any]:
    """Return the decoded metadata; most events carry none, and "{}" needs no parser."""
    return {} if text == "{}" else _loads(text)


class Dialect:
    """Statements and value formats of one database; every method takes a Django cursor."""

    stream_columns = STREAM_COLUMNS
    all_columns = ALL_COLUMNS

    #: Placeholders of each inserted column, in INSERTED_COLUMNS order.
    row_placeholders = "(%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    json_placeholder = "%s"
    #: Most events one INSERT carries (the database's bound-parameter limit).
    rows_per_insert = 1000

    def uuid(self, value: UUID) -> Any:
        return value

    def time(self, value: datetime) -> Any:
        return value

    def event_rows(
        self,
        aggregate_uuid: UUID,
        aggregate_type: str,
        expected_version: int,
        events: Sequence[NewEvent],
        now: datetime,
    ) -> list[Row]:
        """Return the parameters of each event's row, JSON encoded (raising on what is not JSON)."""
        stream = self.uuid(aggregate_uuid)
        recorded = self.time(now)
        return [
            (
                self.uuid(event.event_uuid),
                stream,
                aggregate_type,
                version,
                event.name,
                event.schema_version,
                _dumps(event.data),
                "{}" if not event.metadata else _dumps(event.metadata),
                recorded if event.recorded_at is None else self.time(event.recorded_at),
            )
            for version, event in enumerate(events, start=expected_version + 1)
        ]

    def append(
        self,
        cursor: Any,
        aggregate_uuid: UUID,
        aggregate_type: str,
        expected_version: int,
        rows: list[Row],
        now: datetime,
        closes_stream: bool,
    ) -> dict[int, int] | None:
        """Move the head and insert the rows; return {version: position} of the rows inserted.

        Return None, having written nothing, when the head is not at `expected_version`. Rows
        that clash with a stored event are skipped (absent from the result), not raised on.
        """
        raise NotImplementedError

    def insert_events(self, cursor: Any, rows: list[Row]) -> dict[int, int]:
        """Insert rows (skipping clashes) in as few statements as the parameter limit allows."""
        positions: dict[int, int] = {}
        for start in range(0, len(rows), self.rows_per_insert):
            chunk = rows[start : start + self.rows_per_insert]
            cursor.execute(
                f"INSERT INTO {EVENTS} ({INSERTED_COLUMNS}) VALUES "
                + ", ".join([self.row_placeholders] * len(chunk))
                + " ON CONFLICT DO NOTHING RETURNING id, version",
                [value for row in chunk for value in row],
            )
            positions.update((version, position) for position, version in cursor.fetchall())
        return positions

    def stored_event_uuids(self, cursor: Any, event_uuids: list[UUID]) -> list[UUID]:
        """Return which of these event uuids are already stored."""
        cursor.execute(
            f"SELECT event_uuid FROM {EVENTS} WHERE event_uuid IN ({', '.join(['%s'] * len(event_uuids))})",
            [self.uuid(value) for value in event_uuids],
        )
        return [self.read_uuid(value) for (value,) in cursor.fetchall()]

    def read_uuid(self, value: Any) -> UUID:
        return value

    def read_time(self, value: Any) -> datetime:
        return value

    def stream_uuid_reader(self) -> Callable[[Any], UUID]:
        """Return read_uuid for the stream uuids of one read_all batch."""
        return self.read_uuid

    def read_stream(
        self, cursor: Any, aggregate_uuid: UUID, from_version: int, to_version: int, limit: int
    ) -> list[StoredEvent]:
        cursor.execute(
            f"SELECT {self.stream_columns} FROM {EVENTS} WHERE aggregate_uuid = %s AND version >= %s AND version <= %s"
            " ORDER BY version LIMIT %s",
            [self.uuid(aggregate_uuid), from_version, min(to_version, MAX_VERSION), limit],
        )
        read_uuid, read_time = self.read_uuid, self.read_time
        return [
            StoredEvent(
                position,
                read_uuid(event_uuid),
                aggregate_uuid,
                aggregate_type,
                version,
                name,
                schema_version,
                _loads(data),
                decode_metadata(metadata),
                read_time(recorded_at),
            )
            for position, event_uuid, aggregate_type, version, name, schema_version, data, metadata, recorded_at in (
                cursor.fetchall()
            )
        ]

    def read_all(self, cursor: Any, after_position: int, limit: int) -> list[StoredEvent]:
        cursor.execute(
            f"SELECT {self.all_columns} FROM {EVENTS} WHERE id > %s ORDER BY id LIMIT %s", [after_position, limit]
        )
        read_uuid, read_time, read_stream_uuid = self.read_uuid, self.read_time, self.stream_uuid_reader()
        return [
            StoredEvent(
                position,
                read_uuid(event_uuid),
                read_stream_uuid(aggregate_uuid),
                aggregate_type,
                version,
                name,
                schema_version,
                _loads(data),
                decode_metadata(metadata),
                read_time(recorded_at),
            )
            for position, event_uuid, aggregate_uuid, aggregate_type, version, name, schema_version, data, metadata, (
                recorded_at
            ) in cursor.fetchall()
        ]

    def last_position(self, cursor: Any) -> int:
        cursor.execute(f"SELECT MAX(id) FROM {EVENTS}")
        return cursor.fetchone()[0] or 0

    def get_version(self, cursor: Any, aggregate_uuid: UUID) -> int:
        cursor.execute(f"SELECT version FROM {STREAMS} WHERE aggregate_uuid = %s", [self.uuid(aggregate_uuid)])
        row = cursor.fetchone()
        return row[0] if row else 0

    # Snapshots

    def save_snapshot(self, cursor: Any, snapshot: SnapshotRecord, created_at: datetime) -> None:
        """Insert the snapshot, or replace the one at the same (aggregate, version)."""
        cursor.execute(
            f"INSERT INTO {SNAPSHOTS} (aggregate_uuid, aggregate_type, version, state, schema_version, created_at)"
            f" VALUES (%s, %s, %s, {self.json_placeholder}, %s, %s)"
            " ON CONFLICT (aggregate_uuid, version) DO UPDATE SET aggregate_type = excluded.aggregate_type,"
            " state = excluded.state, schema_version = excluded.schema_version, created_at = excluded.created_at",
            [
                self.uuid(snapshot.aggregate_uuid),
                snapshot.aggregate_type,
                snapshot.version,
                _dumps(snapshot.state),
                snapshot.schema_version,
                self.time(created_at),
            ],
        )

    def get_snapshot(self, cursor: Any, aggregate_uuid: UUID, max_version: int | None) -> SnapshotRecord | None:
        cursor.execute(
            f"SELECT {SNAPSHOT_COLUMNS} FROM {SNAPSHOTS} WHERE aggregate_uuid = %s AND version <= %s"
            " ORDER BY version DESC LIMIT 1",
            [self.uuid(aggregate_uuid), MAX_VERSION if max_version is None else min(max_version, MAX_VERSION)],
        )
        rows = cursor.fetchall()
        return self._snapshot(aggregate_uuid, rows[0]) if rows else None

    def list_snapshots(self, cursor: Any, aggregate_uuid: UUID, limit: int | None) -> list[SnapshotRecord]:
        cursor.execute(
            f"SELECT {SNAPSHOT_COLUMNS} FROM {SNAPSHOTS} WHERE aggregate_uuid = %s ORDER BY version DESC"
            + ("" if limit is None else " LIMIT %s"),
            [self.uuid(aggregate_uuid)] + ([] if limit is None else [limit]),
        )
        return [self._snapshot(aggregate_uuid, row) for row in cursor.fetchall()]

    def _snapshot(self, aggregate_uuid: UUID, row: Row) -> SnapshotRecord:
        aggregate_type, version, state, schema_version, created_at = row
        return SnapshotRecord(
            aggregate_uuid, aggregate_type, version, _loads(state), schema_version, self.read_time(created_at)
        )


class SQLiteDialect(Dialect):
    """SQLite: one writer at a time (BEGIN IMMEDIATE), so positions follow commits without a lock."""

    # 9 columns per row within SQLite's historical limit of 999 bound parameters per statement.
    rows_per_insert = 999 // 9
    # Reading recorded_at as text with its zone lets datetime.fromisoformat (C) parse it, instead of
    # Django's converter and a replace(tzinfo=UTC) per row: a tenth of the cost on long reads.
    stream_columns = STREAM_COLUMNS.replace("recorded_at", "recorded_at || '+00:00'")
    all_columns = ALL_COLUMNS.replace("recorded_at", "recorded_at || '+00:00'")

    def uuid(self, value: UUID) -> str:
        return value.hex

    def time(self, value: datetime) -> str:
        # As the ORM stores it: naive UTC, str() of the datetime.
        return str(value.astimezone(UTC).replace(tzinfo=None))

    def read_uuid(self, value: str) -> UUID:
        return uuid_from_hex(value)

    def stream_uuid_reader(self) -> Callable[[Any], UUID]:
        # A batch holds runs of one stream's events: parse each stream's uuid once.
        parsed: dict[str, UUID] = {}
        return lambda value: parsed.get(value) or parsed.setdefault(value, uuid_from_hex(value))

    def read_time(self, value: datetime | str) -> datetime:
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        # Django's connection has sqlite3 parse "datetime" columns already (as naive UTC).
        return value.replace(tzinfo=UTC)

    def append(
        self,
        cursor: Any,
        aggregate_uuid: UUID,
        aggregate_type: str,
        expected_version: int,
        rows: list[Row],
        now: datetime,
        closes_stream: bool,
    ) -> dict[int, int] | None:
        new_version = expected_version + len(rows)
        stamp = self.time(now)
        if expected_version == 0:
            cursor.execute(
                f"INSERT INTO {STREAMS} (aggregate_uuid, aggregate_type, version, closed, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (aggregate_uuid) DO NOTHING",
                [aggregate_uuid.hex, aggregate_type, new_version, closes_stream, stamp, stamp],
            )
        else:
            cursor.execute(
                f"UPDATE {STREAMS} SET version = %s, updated_at = %s, closed = %s"
                " WHERE aggregate_uuid = %s AND version = %s",
                [new_version, stamp, closes_stream, aggregate_uuid.hex, expected_version],
            )
        if cursor.rowcount != 1:
            return None
        return self.insert_events(cursor, rows)


class SQLiteWithoutReturningDialect(SQLiteDialect):
    """SQLite before 3.35 has no RETURNING: positions are read back after the insert."""

    def insert_events(self, cursor: Any, rows: list[Row]) -> dict[int, int]:
        for start in range(0, len(rows), self.rows_per_insert):
            chunk = rows[start : start + self.rows_per_insert]
            cursor.execute(
                f"INSERT INTO {EVENTS} ({INSERTED_COLUMNS}) VALUES "
                + ", ".join([self.row_placeholders] * len(chunk))
                + " ON CONFLICT DO NOTHING",
                [value for row in chunk for value in row],
            )
        event_uuids = [row[0] for row in rows]
        cursor.execute(
            f"SELECT id, version FROM {EVENTS} WHERE event_uuid IN ({', '.join(['%s'] * len(event_uuids))})"
            " AND aggregate_uuid = %s",
            [*event_uuids, rows[0][1]],
        )
        return {version: position for position, version in cursor.fetchall()}


class PostgreSQLDialect(Dialect):
    """PostgreSQL: the advisory lock, the head move and the insert are one statement.

    The lock comes first by data dependency: the head CTE reads from the lock CTE, and the events
    are inserted only from the head CTE's row, so no position is drawn before the lock is held.
    A head that is not at the expected version yields no row: nothing is inserted. The statement
    reports the head's row count as a row with position 0 (positions start at 1).
    """

    row_placeholders = "(%s::uuid, %s::uuid, %s, %s::integer, %s, %s::smallint, %s::jsonb, %s::jsonb, %s::timestamptz)"
    json_placeholder = "%s::jsonb"
    rows_per_insert = 1000

    MOVE_HEAD = (
        f"UPDATE {STREAMS} SET version = %s::integer, updated_at = %s::timestamptz, closed = %s::boolean"
        " FROM lock WHERE aggregate_uuid = %s::uuid AND version = %s::integer RETURNING 1"
    )
    CREATE_HEAD = (
        f"INSERT INTO {STREAMS} (aggregate_uuid, aggregate_type, version, closed, created_at, updated_at)"
        " SELECT %s::uuid, %s, %s::integer, %s::boolean, %s::timestamptz, %s::timestamptz FROM lock"
        " ON CONFLICT (aggregate_uuid) DO NOTHING RETURNING 1"
    )

    def append(
        self,
        cursor: Any,
        aggregate_uuid: UUID,
        aggregate_type: str,
        expected_version: int,
        rows: list[Row],
        now: datetime,
        closes_stream: bool,
    ) -> dict[int, int] | None:
        new_version = expected_version + len(rows)
        if expected_version == 0:
            head, head_params = self.CREATE_HEAD, [aggregate_uuid, aggregate_type, new_version, closes_stream, now, now]
        else:
            head, head_params = self.MOVE_HEAD, [new_version, now, closes_stream, aggregate_uuid, expected_version]
        first = rows[: self.rows_per_insert]
        cursor.execute(
            "WITH lock AS MATERIALIZED (SELECT pg_advisory_xact_lock(%s)),"
            f" head AS ({head}),"
            f" inserted AS (INSERT INTO {EVENTS} ({INSERTED_COLUMNS}) SELECT v.* FROM head, (VALUES "
            + ", ".join([self.row_placeholders] * len(first))
            + f") AS v ({INSERTED_COLUMNS}) ON CONFLICT DO NOTHING RETURNING id, version)"
            " SELECT id, version FROM inserted UNION ALL SELECT 0, COUNT(*) FROM head",
            [APPEND_LOCK_KEY, *head_params, *(value for row in first for value in row)],
        )
        positions: dict[int, int] = {}
        moved = 0
        for position, version in cursor.fetchall():
            if position == 0:
                moved = version
            else:
                positions[version] = position
        if not moved:
            return None
        if len(rows) > len(first):
            positions.update(self.insert_events(cursor, rows[len(first) :]))
        return positions


def dialect_for(connection: BaseDatabaseWrapper) -> Dialect:
    """Return the dialect of a Django connection (SQLite or PostgreSQL)."""
    return _dialect(connection.vendor, bool(connection.features.can_return_rows_from_bulk_insert))


@cache
def _dialect(vendor: str, can_return_rows: bool) -> Dialect:
    if vendor == "postgresql":
        return PostgreSQLDialect()
    if vendor == "sqlite":
        return SQLiteDialect() if can_return_rows else SQLiteWithoutReturningDialect()
    raise NotImplementedError(f"The Django event store backend supports SQLite and PostgreSQL, not {vendor}.")
