"""The DynamoDB indexer: appends share no item, and the global order is assigned beside them.

Everything runs against the real endpoint (DynamoDB Local or moto's server) and its change stream.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from eventstore.backends.base import EventStoreBackend, NewEvent
from eventstore.backends.dynamodb import DynamoDBBackend
from eventstore.backends.dynamodb_indexer import Indexer
from eventstore.backends.dynamodb_writes import LOG_HEAD_KEY
from eventstore.exceptions import IndexerLeaseLost
from eventstore.testing import BackendContract

from .indexing import assert_dense_and_whole, indexed_backend, settle


class TestIndexedDynamoDB(BackendContract):
    """The backend contract, with the indexer giving the positions."""

    @pytest.fixture
    def backend(self, db: None) -> Iterator[EventStoreBackend]:
        backend = indexed_backend()
        yield backend
        backend.close()

    def settle(self, backend: EventStoreBackend) -> None:
        assert isinstance(backend, DynamoDBBackend)
        settle(backend)


@pytest.fixture
def indexed(db: None) -> Iterator[DynamoDBBackend]:
    backend = indexed_backend()
    yield backend
    backend.close()


def append(backend: DynamoDBBackend, stream: uuid.UUID, version: int, count: int = 1) -> None:
    backend.append(stream, "Cart", version, [NewEvent("Added", {"n": version + i}) for i in range(count)])


def test_an_append_writes_only_its_own_streams_items_and_is_invisible_until_indexed(indexed) -> None:
    stream = uuid.uuid4()
    sent: list[dict] = []
    indexed.client.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems", lambda params, **_: sent.append(params)
    )

    stored = indexed.append(stream, "Cart", 0, [NewEvent("Added", {}), NewEvent("Added", {})])

    assert [event.position for event in stored] == [0, 0]
    (request,) = sent
    tables = {next(iter(item.values()))["TableName"] for item in request["TransactItems"]}
    assert tables == {indexed.tables["events"], indexed.tables["event_uuids"], indexed.tables["streams"]}
    assert len(request["TransactItems"]) == 2 * 2 + 1
    assert indexed.last_position() == 0 and list(indexed.read_all()) == []

    settle(indexed)

    assert [(e.position, e.version) for e in indexed.read_all()] == [(1, 1), (2, 2)]
    assert indexed.count_streams() == 1


def test_the_indexer_follows_appends_in_each_streams_order(indexed) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    indexer = Indexer(indexed, owner="one")
    append(indexed, a, 0, 2)
    append(indexed, b, 0)
    settle(indexed, indexer)
    append(indexed, a, 2)
    append(indexed, b, 1, 3)
    settle(indexed, indexer)

    assert_dense_and_whole(list(indexed.read_all()), {a: 3, b: 4})
    assert indexer.step().events == 0  # nothing left: records already indexed are skipped by their tips


def test_an_indexer_that_dies_between_transactions_is_resumed_with_no_hole_and_no_duplicate(
    indexed, monkeypatch
) -> None:
    streams = [uuid.uuid4() for _ in range(60)]  # more than one transaction's worth (49 streams)
    for stream in streams:
        append(indexed, stream, 0)
    first = Indexer(indexed, owner="first", lease_seconds=60)
    real_write = Indexer._write
    writes = 0

    def die_after_one_transaction(self, *args, **kwargs):
        nonlocal writes
        writes += 1
        if writes == 2:
            raise SystemExit("killed")  # the process dies here: the lease is not released
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Indexer, "_write", die_after_one_transaction)
    with pytest.raises(SystemExit):
        first.step()
    monkeypatch.setattr(Indexer, "_write", real_write)
    partly = indexed.last_position()
    assert 0 < partly < 60

    second = Indexer(indexed, owner="second")
    with pytest.raises(IndexerLeaseLost):  # the dead one's lease has not expired yet
        second.step()
    first_lease_expires(indexed)
    settle(indexed, second)

    assert_dense_and_whole(list(indexed.read_all()), dict.fromkeys(streams, 1))


def first_lease_expires(backend: DynamoDBBackend, seconds_ago: float = 1.0) -> None:
    backend.client.update_item(
        TableName=backend.tables["log"],
        Key=LOG_HEAD_KEY,
        UpdateExpression="SET LeaseUntil = :past",
        ExpressionAttributeValues={":past": {"N": repr(time.time() - seconds_ago)}},
    )


def test_an_indexer_that_lost_its_lease_writes_nothing_more(indexed) -> None:
    stream = uuid.uuid4()
    append(indexed, stream, 0)
    old = Indexer(indexed, owner="old")
    assert old.acquire()
    first_lease_expires(indexed)
    new = Indexer(indexed, owner="new")
    settle(indexed, new)
    append(indexed, stream, 1)

    with pytest.raises(IndexerLeaseLost):
        old.step()

    assert indexed.last_position() == 1
    settle(indexed, new)
    assert_dense_and_whole(list(indexed.read_all()), {stream: 2})


def test_reconciliation_indexes_what_the_change_stream_lost(indexed) -> None:
    seen, lost = uuid.uuid4(), uuid.uuid4()
    indexer = Indexer(indexed, owner="one")
    append(indexed, seen, 0)
    settle(indexed, indexer)
    append(indexed, lost, 0, 2)
    append(indexed, seen, 1)
    skip_the_change_stream_to_its_end(indexed, indexer)

    assert indexer.step().events == 0  # the records are gone: following the stream finds nothing
    assert indexer.pending() == 3

    assert indexer.reconcile() == (3, 2)  # events, streams
    assert indexer.pending() == 0
    assert_dense_and_whole(list(indexed.read_all()), {seen: 2, lost: 2})


def test_deleting_the_change_stream_position_makes_the_next_step_reconcile(indexed) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    indexer = Indexer(indexed, owner="one")
    append(indexed, a, 0)
    settle(indexed, indexer)
    append(indexed, b, 0, 2)
    skip_the_change_stream_to_its_end(indexed, indexer)
    indexed.client.update_item(TableName=indexed.tables["log"], Key=LOG_HEAD_KEY, UpdateExpression="REMOVE Checkpoints")
    indexer.forget()

    done = indexer.step()

    assert done.reconciled and done.events == 2
    assert_dense_and_whole(list(indexed.read_all()), {a: 1, b: 2})


def skip_the_change_stream_to_its_end(backend: DynamoDBBackend, indexer: Indexer) -> None:
    """Save checkpoints after every record there is, without indexing them: as if the records were trimmed.

    It reads until the records have shown every head at its version (a record may come a moment late).
    """
    heads = {head.aggregate_uuid: head.version for head in backend.all_heads()}
    seen: dict[object, int] = {}
    checkpoints = {}
    deadline = time.monotonic() + 10
    iterators = {
        shard["ShardId"]: indexer.streams_client.get_shard_iterator(
            StreamArn=indexer._arn(), ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for shard in indexer._shards()
    }
    while seen != heads:
        assert time.monotonic() < deadline, f"the change stream showed {seen}, not every head {heads}"
        for shard_id, iterator in list(iterators.items()):
            if iterator is None:
                continue
            page = indexer.streams_client.get_records(ShardIterator=iterator, Limit=1000)
            for record in page["Records"]:
                checkpoints[shard_id] = record["dynamodb"]["SequenceNumber"]
                image = record["dynamodb"].get("NewImage", {})
                if "StreamVersion" in image:
                    seen[uuid.UUID(image["AggregateUuid"]["S"])] = int(image["StreamVersion"]["N"])
            iterators[shard_id] = page.get("NextShardIterator")
    values = {":c": {"M": {shard: {"S": sequence} for shard, sequence in checkpoints.items()}}}
    backend.client.update_item(
        TableName=backend.tables["log"],
        Key=LOG_HEAD_KEY,
        UpdateExpression="SET Checkpoints = :c",
        ExpressionAttributeValues=values,
    )
    indexer.forget()


def test_writers_racing_beside_two_indexers_lose_nothing_and_repeat_nothing(indexed) -> None:
    writers, appends_each = 6, 8
    streams = [uuid.uuid4() for _ in range(writers)]
    stop = threading.Event()
    errors: list[BaseException] = []

    def write(stream: uuid.UUID) -> None:
        try:
            for version in range(appends_each):
                append(indexed, stream, version)
        except BaseException as exc:
            errors.append(exc)

    def index(owner: str) -> None:
        indexer = Indexer(indexed, owner=owner, lease_seconds=1.0)
        try:
            indexer.run(stop=stop.is_set, poll_seconds=0.01)
        except BaseException as exc:
            errors.append(exc)

    indexers = [threading.Thread(target=index, args=(f"indexer-{n}",)) for n in range(2)]
    threads = [threading.Thread(target=write, args=(stream,)) for stream in streams]
    for thread in indexers + threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    for thread in indexers:
        thread.join()

    assert errors == []
    settle(indexed)
    assert_dense_and_whole(list(indexed.read_all()), dict.fromkeys(streams, appends_each))


def test_a_stream_far_behind_its_tip_is_indexed_in_items_of_a_log_page_at_most(indexed) -> None:
    indexed.log_page_size = page = 50  # small log pages (the tables are empty), so 300 events cross six
    stream, other = uuid.uuid4(), uuid.uuid4()
    append(indexed, other, 0)
    for version in range(0, 288, 48):
        append(indexed, stream, version, 48)
    indexer = Indexer(indexed, owner="one")

    assert indexer.reconcile() == (289, 2)  # one stream 288 events behind, the other 1

    log = indexed.client.scan(TableName=indexed.tables["log"], ConsistentRead=True)["Items"]
    counts = [int(item["Count"]["N"]) for item in log if "Count" in item]
    assert sum(counts) == 289 and max(counts) <= page
    everything = list(indexed.read_all())
    assert_dense_and_whole(everything, {stream: 288, other: 1})
    for start in (0, 49, 50, 51, 120, 250, 288):  # from inside every kind of index item
        assert [event.position for event in indexed.read_all(start, batch_size=7)] == list(range(start + 1, 290))


def test_an_indexer_taking_over_a_lease_last_held_over_23_hours_ago_reconciles(indexed) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    old = Indexer(indexed, owner="old")
    append(indexed, a, 0)
    settle(indexed, old)
    old.release()
    append(indexed, b, 0, 2)
    skip_the_change_stream_to_its_end(indexed, old)  # b's records expired while no indexer ran...
    first_lease_expires(indexed, seconds_ago=24 * 3600)  # ...for a day

    done = Indexer(indexed, owner="new").step()

    assert done.reconciled and done.events == 2
    assert_dense_and_whole(list(indexed.read_all()), {a: 1, b: 2})
