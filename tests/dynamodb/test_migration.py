"""migrate_dynamodb_layout: a store written by layout 1 (tests/dynamodb/old_layout.py) moved to layout 2.

Each test writes its store the old way, under tables of its own (deleted afterwards), then runs the command
and reads the store with today's backend, the indexer giving the positions of new appends.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from eventstore.backends import dynamodb_migration
from eventstore.backends.base import NewEvent, StoredEvent
from eventstore.backends.dynamodb import DynamoDBBackend
from eventstore.backends.dynamodb_indexer import Indexer
from eventstore.backends.dynamodb_items import tip_key
from eventstore.exceptions import EventStoreError
from eventstore.management.commands.migrate_dynamodb_layout import Command as Migrate

from .indexing import assert_dense_and_whole, settle
from .old_layout import OldStore, create_old_tables, delete_tables

ALIAS = "old_layout"
TYPES = ("Cart", "Order")


@pytest.fixture
def old(settings) -> Iterator[tuple[DynamoDBBackend, OldStore]]:
    """Return layout-1 tables of their own (a backend reading them in the indexer's mode, and the old writer)."""
    configured = settings.EVENTSTORE["BACKENDS"]["dynamodb"]
    options = {**configured["OPTIONS"], "TABLE_PREFIX": f"old{uuid.uuid4().hex[:6]}_", "GLOBAL_ORDER": "indexer"}
    backends = {**settings.EVENTSTORE["BACKENDS"], ALIAS: {**configured, "OPTIONS": options}}
    settings.EVENTSTORE = {**settings.EVENTSTORE, "BACKENDS": backends}
    backend = DynamoDBBackend(**options)
    create_old_tables(backend.client, backend.tables)
    try:
        yield backend, OldStore(backend.client, backend.tables)
    finally:
        delete_tables(backend.client, backend.tables)
        backend.close()


def fill(store: OldStore, streams: int, seed: int = 7) -> list[uuid.UUID]:
    """Append 1-4 batches of 1-3 events to each stream the old way, interleaved; close a few streams."""
    rng = random.Random(seed)
    uuids = [uuid.uuid4() for _ in range(streams)]
    batches = {stream: rng.randint(1, 4) for stream in uuids}
    while batches:
        stream = rng.choice(sorted(batches))
        batches[stream] -= 1
        events = [NewEvent("Added", {"n": n}, 1, {"by": "old"}) for n in range(rng.randint(1, 3))]
        closes = batches[stream] == 0 and uuids.index(stream) % 5 == 0
        store.append(stream, TYPES[uuids.index(stream) % 2], events, closes_stream=closes)
        if not batches[stream]:
            del batches[stream]
    return uuids


def migrate(*args: str) -> str:
    out = StringIO()
    call_command("migrate_dynamodb_layout", "--backend", ALIAS, *args, stdout=out, stderr=out)
    return out.getvalue()


def key(event: StoredEvent) -> tuple[Any, ...]:
    return (event.position, event.event_uuid, event.aggregate_uuid, event.version, event.data)


def listed(backend: DynamoDBBackend, limit: int, aggregate_type: str | None = None) -> list[uuid.UUID]:
    """Page through list_streams; return the streams in the order listed."""
    found: list[uuid.UUID] = []
    cursor = None
    while True:
        page = backend.list_streams(aggregate_type=aggregate_type, limit=limit, cursor=cursor)
        assert len(page.streams) <= limit
        found.extend(stream.aggregate_uuid for stream in page.streams)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def layout(backend: DynamoDBBackend) -> tuple[set[str], dict[str, Any]]:
    table = backend.client.describe_table(TableName=backend.tables["streams"])["Table"]
    indexes = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
    return indexes, table.get("StreamSpecification", {"StreamEnabled": False})


def everything(backend: DynamoDBBackend) -> dict[str, list[dict[str, Any]]]:
    """Return every item of every table, sorted (to compare a store before and after)."""
    found = {}
    for kind, name in backend.tables.items():
        scanned = backend.client.scan(TableName=name, ConsistentRead=True)["Items"]
        found[kind] = sorted(scanned, key=repr)
    return found


def test_a_layout_1_store_reads_and_grows_as_layout_2_after_the_migration(old, monkeypatch) -> None:
    backend, store = old
    monkeypatch.setattr(dynamodb_migration, "HEADS_PER_TRANSACTION", 7)  # several transactions of heads
    streams = fill(store, 23)
    written = list(store.written)
    assert layout(backend) == ({"recent", "recent_by_type"}, {"StreamEnabled": False})

    output = migrate()

    assert "Add the index recent_by_type_shard" in output
    assert "Moved 23 of 23 stream head(s)" in output
    assert "Enable the change stream" in output and "Delete the old index recent_by_type" in output
    assert "23 of 23 streams" in output
    indexes, stream = layout(backend)
    assert indexes == {"recent", "recent_by_type_shard"}
    assert stream == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}

    # Every old event once, at its old position; every stream indexed up to its head by its tip.
    assert [key(event) for event in backend.read_all()] == [key(event) for event in written]
    indexer = Indexer(backend, owner="test")
    assert indexer.pending() == 0
    for aggregate_uuid in streams:
        tip = backend.client.get_item(TableName=backend.tables["events"], Key=tip_key(aggregate_uuid))["Item"]
        assert int(tip["IndexedVersion"]["N"]) == store.versions[aggregate_uuid]
        assert [e.version for e in backend.read_stream(aggregate_uuid)] == list(
            range(1, store.versions[aggregate_uuid] + 1)
        )

    # Listing: every stream once, newest change first, with and without a type; the counts as they were.
    oldest_first = sorted(streams, key=lambda s: max(e.recorded_at for e in written if e.aggregate_uuid == s))
    assert listed(backend, 4) == oldest_first[::-1]
    for aggregate_type in TYPES:
        of_type = [s for s in oldest_first if _type(written, s) == aggregate_type]
        assert listed(backend, 3, aggregate_type) == of_type[::-1]
        assert backend.count_streams(aggregate_type=aggregate_type) == len(of_type)
    assert backend.count_streams() == 23
    assert backend.aggregate_types() == sorted(TYPES)
    closed = backend.get_stream(streams[0])
    assert closed is not None and closed.closed and closed.version == store.versions[streams[0]]

    # New appends, to an old stream and a new one, get the positions after the old ones from the indexer.
    newcomer = uuid.uuid4()
    backend.append(streams[1], TYPES[1], store.versions[streams[1]], [NewEvent("Added", {"n": n}) for n in range(2)])
    backend.append(newcomer, "Cart", 0, [NewEvent("Added", {"n": "first"})])
    settle(backend, indexer)
    everything_read = list(backend.read_all())
    assert [key(event) for event in everything_read[: len(written)]] == [key(event) for event in written]
    versions = {**store.versions, streams[1]: store.versions[streams[1]] + 2, newcomer: 1}
    assert_dense_and_whole(everything_read, versions)
    assert backend.count_streams() == 24 and backend.count_streams(aggregate_type="Cart") == 13
    assert listed(backend, 5)[:2] == [newcomer, streams[1]]
    assert listed(backend, 5, "Cart")[0] == newcomer

    # An appender assigning its own positions (GLOBAL_ORDER "append") finds each old stream's tip where it
    # expects it.
    appender = DynamoDBBackend(TABLE_PREFIX=backend.tables["events"].removesuffix("events"), GLOBAL_ORDER="append")
    try:
        (stored,) = appender.append(streams[2], TYPES[0], store.versions[streams[2]], [NewEvent("Added", {})])
    finally:
        appender.close()
    assert stored.position == len(everything_read) + 1
    assert indexer.step().events == 0  # its head's change record finds the stream indexed already
    assert_dense_and_whole(list(backend.read_all()), {**versions, streams[2]: store.versions[streams[2]] + 1})


def _type(written: list[StoredEvent], stream: uuid.UUID) -> str:
    return next(e.aggregate_type for e in written if e.aggregate_uuid == stream)


def test_running_it_again_changes_nothing_and_says_so(old) -> None:
    backend, store = old
    fill(store, 5)
    migrate()
    before = everything(backend)

    output = migrate()

    assert output.strip().splitlines()[-1] == Migrate.NOTHING.format(alias=ALIAS, heads=5)
    assert "Would" not in output and "Moved" not in output
    assert everything(backend) == before
    assert layout(backend) == (
        {"recent", "recent_by_type_shard"},
        {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )


def test_a_dry_run_says_what_it_would_do_and_changes_nothing(old) -> None:
    backend, store = old
    fill(store, 6)
    before, tables_before = everything(backend), layout(backend)

    output = migrate("--dry-run")

    assert "Would: Add the index recent_by_type_shard" in output
    assert "Would move 6 of 6 stream head(s)" in output
    assert "Would: Enable the change stream" in output and "Would: Delete the old index recent_by_type" in output
    assert output.strip().splitlines()[-1] == Migrate.DRY_RUN.format(changes=3, moved=6)
    assert everything(backend) == before
    assert layout(backend) == tables_before


def test_an_interrupted_migration_is_finished_by_the_next_run(old, monkeypatch) -> None:
    backend, store = old
    streams = fill(store, 12)
    written = list(store.written)
    monkeypatch.setattr(dynamodb_migration, "HEADS_PER_TRANSACTION", 5)
    real_move = dynamodb_migration.LayoutMigration._move
    moves = 0

    def stop_after_one_transaction(self, heads, outcome):
        nonlocal moves
        moves += 1
        if moves == 2:
            raise KeyboardInterrupt
        return real_move(self, heads, outcome)

    monkeypatch.setattr(dynamodb_migration.LayoutMigration, "_move", stop_after_one_transaction)
    with pytest.raises(KeyboardInterrupt):
        migrate()
    monkeypatch.setattr(dynamodb_migration.LayoutMigration, "_move", real_move)
    assert layout(backend)[1] == {"StreamEnabled": False}  # the change stream waits for every tip
    heads = backend.client.scan(TableName=backend.tables["streams"], ConsistentRead=True)["Items"]
    assert sum("TypeShard" in head for head in heads) == 5  # the first transaction's heads, with their tips
    # One head left behind already has its tip (as if written by hand): the next run keeps it.
    behind = next(uuid.UUID(head["AggregateUuid"]["S"]) for head in heads if "TypeShard" not in head)
    backend.client.put_item(
        TableName=backend.tables["events"],
        Item={
            **tip_key(behind),
            "IndexedVersion": {"N": str(store.versions[behind])},
            "AggregateType": {"S": _type(written, behind)},
        },
    )

    output = migrate()

    assert "Moved 7 of 12 stream head(s) to layout 2 (1 had their index tip already)." in output
    assert "Add the index" not in output  # added by the first run
    assert [key(event) for event in backend.read_all()] == [key(event) for event in written]
    assert Indexer(backend, owner="test").pending() == 0
    assert sorted(listed(backend, 5), key=str) == sorted(streams, key=str)
    assert "nothing to do" in migrate()


def test_a_head_that_moved_after_the_scan_gets_the_tip_of_its_new_version(old, monkeypatch) -> None:
    backend, store = old
    streams = fill(store, 4)
    moved = streams[2]
    real_heads = dynamodb_migration.LayoutMigration._heads

    def scanned_one_append_earlier(self):
        for head in real_heads(self):
            if head["AggregateUuid"]["S"] == str(moved):  # a writer of layout 1 appended after the scan read it
                head = {**head, "StreamVersion": {"N": str(store.versions[moved] - 1)}}
            yield head

    monkeypatch.setattr(dynamodb_migration.LayoutMigration, "_heads", scanned_one_append_earlier)
    assert store.versions[moved] > 1

    migrate()

    tip = backend.client.get_item(TableName=backend.tables["events"], Key=tip_key(moved))["Item"]
    assert int(tip["IndexedVersion"]["N"]) == store.versions[moved]
    assert Indexer(backend, owner="test").pending() == 0
    assert sorted(listed(backend, 10), key=str) == sorted(streams, key=str)


def test_old_heads_found_after_the_change_stream_was_enabled_are_moved_with_a_warning(old) -> None:
    backend, store = old
    fill(store, 2)
    migrate()
    late = uuid.uuid4()
    store.append(late, "Cart", [NewEvent("Added", {})])  # a writer of layout 1 that was not stopped

    output = migrate()

    assert Migrate.LATE_HEADS.format(moved=1) in output
    assert "Moved 1 of 3 stream head(s)" in output
    assert Indexer(backend, owner="test").pending() == 0
    assert late in listed(backend, 10)


def test_a_backend_that_is_not_dynamodb_is_refused_in_one_line(settings) -> None:
    with pytest.raises(CommandError) as refused:
        call_command("migrate_dynamodb_layout", "--backend", "django")

    assert str(refused.value) == Migrate.NOT_DYNAMODB.format(alias="django", backend="DjangoBackend")
    assert "\n" not in str(refused.value)


def test_tables_that_do_not_exist_are_refused_in_one_line(settings) -> None:
    configured = settings.EVENTSTORE["BACKENDS"]["dynamodb"]
    options = {**configured["OPTIONS"], "TABLE_PREFIX": f"none{uuid.uuid4().hex[:6]}_"}
    backends = {**settings.EVENTSTORE["BACKENDS"], ALIAS: {**configured, "OPTIONS": options}}
    settings.EVENTSTORE = {**settings.EVENTSTORE, "BACKENDS": backends}

    with pytest.raises(CommandError) as refused:
        migrate()

    assert "create_dynamodb_tables" in str(refused.value) and "\n" not in str(refused.value)


def test_an_indexed_append_to_tables_of_layout_1_is_refused_and_writes_nothing(old) -> None:
    backend, store = old
    (stream,) = fill(store, 1)
    version = backend.get_version(stream)

    with pytest.raises(EventStoreError, match=r"has no change stream.*migrate_dynamodb_layout.*Nothing was written"):
        backend.append(stream, "ShoppingCart", version, [NewEvent("ItemAdded", {"name": "late", "quantity": 1})])

    assert backend.get_version(stream) == version
