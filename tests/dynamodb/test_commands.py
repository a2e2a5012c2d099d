"""create_dynamodb_tables, and copy_events between the Django backend (PostgreSQL in bin/test) and DynamoDB."""

from __future__ import annotations

import random
import re
import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from eventstore.backends.base import NewEvent, SnapshotRecord
from eventstore.backends.django import DjangoBackend
from eventstore.backends.dynamodb import DynamoDBBackend
from eventstore.management.commands.copy_events import Command as CopyEvents
from eventstore.management.commands.create_dynamodb_tables import Command as CreateTables
from eventstore.store import build_backend


def copy(*args: str) -> str:
    out = StringIO()
    call_command("copy_events", *args, stdout=out)
    return out.getvalue()


def fill(backend, streams: int, rounds: int, seed: int) -> list[uuid.UUID]:
    """Append `rounds` batches of 1-10 events to each of `streams` streams, interleaved; close a few."""
    rng = random.Random(seed)
    uuids = [uuid.uuid4() for _ in range(streams)]
    for round_ in range(rounds):
        for i, stream in enumerate(uuids):
            version = backend.get_version(stream)
            count = rng.randint(1, 10)
            events = [
                NewEvent("ItemAdded", {"name": f"item-{version + n}", "quantity": n + 1}, 2, {"actor": "ann"})
                for n in range(count)
            ]
            closes = round_ == rounds - 1 and i % 7 == 0
            backend.append(stream, "ShoppingCart" if i % 5 else "Order", version, events, closes_stream=closes)
    return uuids


def test_create_dynamodb_tables_creates_them_once_and_keeps_them(settings):
    prefix = f"cmdtest_{uuid.uuid4().hex[:8]}_"
    dynamodb = {**settings.EVENTSTORE["BACKENDS"]["dynamodb"], "OPTIONS": {"TABLE_PREFIX": prefix}}
    settings.EVENTSTORE = {**settings.EVENTSTORE, "BACKENDS": {**settings.EVENTSTORE["BACKENDS"], "dynamodb": dynamodb}}
    backend = build_backend("dynamodb")
    try:
        first, second = StringIO(), StringIO()
        call_command("create_dynamodb_tables", "--backend", "dynamodb", stdout=first)
        call_command("create_dynamodb_tables", "--backend", "dynamodb", stdout=second)

        names = sorted(backend.tables.values())
        assert all(CreateTables.CREATED.format(name=name) in first.getvalue() for name in names)
        assert all(CreateTables.EXISTED.format(name=name) in second.getvalue() for name in names)
        for name in names:
            table = backend.client.describe_table(TableName=name)["Table"]
            assert table["TableStatus"] == "ACTIVE"
            assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    finally:
        for name in backend.tables.values():
            backend.client.delete_table(TableName=name)


def test_copy_from_django_to_dynamodb_copies_thousands_of_events_and_verifies(ddb, dynamodb_local):
    source = build_backend("django")
    assert isinstance(source, DjangoBackend)
    # A few thousand events on DynamoDB Local. moto backs up every table it writes before each
    # transaction (a deep copy), so each append costs as much as the store is big: a fifth there.
    count = 110 if dynamodb_local else 25
    streams = fill(source, streams=count, rounds=5, seed=1)
    cart = streams[1]
    for version in (5, 10):
        source.save_snapshot(SnapshotRecord(cart, "ShoppingCart", version, {"at": version}, 1))
    total = sum(source.get_version(stream) for stream in streams)
    assert total >= 20 * count

    output = copy("--from", "django", "--to", "dynamodb", "--batch-size", "100")

    assert CopyEvents.DONE.format(streams=count, events=total) in output
    assert f"[{total}/{total}] events ({total} copied, 0 already there)" in output
    assert output.count("] events (") >= 5  # progress along the way
    originals, copies = list(source.read_all()), list(ddb.read_all())
    assert [e.position for e in copies] == list(range(1, total + 1))
    as_copied = [(e.event_uuid, e.aggregate_uuid, e.version, e.name, e.data, e.metadata, e.recorded_at) for e in copies]
    assert as_copied == [
        (e.event_uuid, e.aggregate_uuid, e.version, e.name, e.data, e.metadata, e.recorded_at) for e in originals
    ]
    for stream in streams:
        original, copied = source.get_stream(stream), ddb.get_stream(stream)
        assert (copied.version, copied.closed, copied.aggregate_type) == (
            original.version,
            original.closed,
            original.aggregate_type,
        )
    assert [s.state for s in ddb.list_snapshots(cart)] == [{"at": 10}, {"at": 5}]
    assert ddb.count_streams(aggregate_type="Order") == source.count_streams(aggregate_type="Order") == count // 5


def test_copy_resumes_skipping_what_the_target_already_holds(ddb):
    source = build_backend("django")
    streams = fill(source, streams=6, rounds=2, seed=2)
    copy("--from", "django", "--to", "dynamodb")
    before = sum(source.get_version(stream) for stream in streams)
    streams += fill(source, streams=2, rounds=1, seed=3)  # new streams, and more events on an old one
    source.append(streams[0], "Order", source.get_version(streams[0]), [NewEvent("ItemAdded", {"n": 1})])
    total = sum(source.get_version(stream) for stream in streams)

    output = copy("--from", "django", "--to", "dynamodb")

    assert f"({total - before} copied, {before} already there)" in output
    assert CopyEvents.DONE.format(streams=8, events=total) in output
    assert [e.event_uuid for e in ddb.read_all()] == [e.event_uuid for e in source.read_all()]


def test_copy_back_from_dynamodb_to_django(ddb):
    streams = fill(ddb, streams=5, rounds=2, seed=4)
    target = build_backend("django")

    output = copy("--from", "dynamodb", "--to", "django", "--no-snapshots")

    total = sum(ddb.get_version(stream) for stream in streams)
    assert CopyEvents.DONE.format(streams=5, events=total) in output
    assert [(e.event_uuid, e.recorded_at) for e in target.read_all()] == [
        (e.event_uuid, e.recorded_at) for e in ddb.read_all()
    ]


def test_copy_reports_a_target_stream_that_is_not_a_copy(ddb):
    source = build_backend("django")
    stream = fill(source, streams=1, rounds=1, seed=5)[0]
    ahead = source.get_version(stream) + 2
    ddb.append(stream, "ShoppingCart", 0, [NewEvent("ItemAdded", {"name": "x", "quantity": 1}) for _ in range(ahead)])

    with pytest.raises(CommandError) as caught:
        copy("--from", "django", "--to", "dynamodb")

    message = str(caught.value)
    assert message.startswith("Verification failed: 1 stream(s) differ")
    assert f"{stream} (source at version {ahead - 2}, target version {ahead})" in message


def test_copy_reports_a_target_with_streams_the_source_lacks(ddb):
    source = build_backend("django")
    fill(source, streams=1, rounds=1, seed=6)
    ddb.append(uuid.uuid4(), "ShoppingCart", 0, [NewEvent("ItemAdded", {"name": "x", "quantity": 1})])

    with pytest.raises(CommandError) as caught:
        copy("--from", "django", "--to", "dynamodb")

    assert str(caught.value) == CopyEvents.COUNT_MISMATCH.format(source=1, target=2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "django", "--to", "django"], "--from and --to name the same backend (django)"),
        (["--from", "default", "--to", "dynamodb"], "--from and --to name the same backend (default, dynamodb)"),
        (
            ["--from", "django", "--to", "cassandra"],
            "No event store backend is configured as 'cassandra'; configured: default, django, ",
        ),
        (["--from", "django", "--to", "dynamodb", "--batch-size", "0"], "--batch-size must be at least 1."),
    ],
)
def test_copy_refuses_bad_arguments_with_one_line(ddb, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        copy(*args)
    assert ddb.last_position() == 0


def test_the_dynamodb_backend_is_built_by_name(ddb):
    assert isinstance(build_backend("dynamodb"), DynamoDBBackend)
