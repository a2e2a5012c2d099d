"""The indexer over what the emulators do not model: shard splits and the change stream's 24-hour trim.

DynamoDB Local and moto serve one shard that never closes and never loses a record, so these tests give
the indexer a fake DynamoDB Streams client (shards, sequence numbers, TrimmedDataAccessException as the
service documents them) over the real tables: the heads, tips, log and events are DynamoDB's.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from eventstore.backends.base import NewEvent
from eventstore.backends.dynamodb import DynamoDBBackend
from eventstore.backends.dynamodb_indexer import Indexer

from .indexing import assert_dense_and_whole, indexed_backend


class FakeStreams:
    """A DynamoDB Streams client over scripted shards: {shard id: (parent id or None, closed?, records)}."""

    def __init__(self, shards: dict[str, tuple[str | None, bool, list[dict[str, Any]]]]) -> None:
        self.shards = shards
        self.trimmed_before: dict[str, int] = {}  # shard -> first sequence number still kept
        self.calls: list[str] = []

    def describe_stream(self, StreamArn: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("describe_stream")
        shards = []
        for shard_id, (parent, closed, records) in self.shards.items():
            shard: dict[str, Any] = {"ShardId": shard_id, "SequenceNumberRange": {"StartingSequenceNumber": "1"}}
            if parent:
                shard["ParentShardId"] = parent
            if closed:
                shard["SequenceNumberRange"]["EndingSequenceNumber"] = str(len(records))
            shards.append(shard)
        return {"StreamDescription": {"Shards": shards}}

    def get_shard_iterator(self, StreamArn: str, ShardId: str, ShardIteratorType: str, **kwargs: Any) -> dict:
        self.calls.append(f"get_shard_iterator {ShardId} {ShardIteratorType}")
        first_kept = self.trimmed_before.get(ShardId, 1)
        if ShardIteratorType == "TRIM_HORIZON":
            start = first_kept
        else:
            start = int(kwargs["SequenceNumber"]) + 1
            if start < first_kept:
                raise ClientError(
                    {"Error": {"Code": "TrimmedDataAccessException", "Message": "trimmed"}}, "GetShardIterator"
                )
        return {"ShardIterator": f"{ShardId}|{start}"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        shard_id, start = ShardIterator.split("|")
        self.calls.append(f"get_records {shard_id}")
        _, closed, records = self.shards[shard_id]
        page = records[int(start) - 1 : int(start) - 1 + Limit]
        answer: dict[str, Any] = {"Records": page}
        end = int(start) + len(page)
        if not (closed and end > len(records)):
            answer["NextShardIterator"] = f"{shard_id}|{end}"
        return answer


def record(backend: DynamoDBBackend, stream: uuid.UUID, sequence: int) -> dict[str, Any]:
    """Return the change record of the stream's head as it is now (its NEW_IMAGE), at a sequence number."""
    head = backend.client.get_item(
        TableName=backend.tables["streams"], Key={"AggregateUuid": {"S": str(stream)}}, ConsistentRead=True
    )["Item"]
    return {"eventName": "MODIFY", "dynamodb": {"NewImage": head, "SequenceNumber": str(sequence)}}


def append(backend: DynamoDBBackend, stream: uuid.UUID, version: int, count: int = 1) -> None:
    backend.append(stream, "Cart", version, [NewEvent("Added", {"n": version + i}) for i in range(count)])


@pytest.fixture
def indexed(db: None):
    backend = indexed_backend()
    yield backend
    backend.close()


def test_a_split_shard_is_followed_parent_first_without_reconciling(indexed) -> None:
    parent: list[dict[str, Any]] = []
    fake = FakeStreams({"parent": (None, False, parent)})
    indexer = Indexer(indexed, owner="one")
    indexer.__dict__["streams_client"] = fake
    indexer._stream_arn = "arn:fake"
    assert indexer.step().checkpoints == {"parent": "TRIM_HORIZON"}  # the first run: nothing there yet

    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    append(indexed, a, 0)
    append(indexed, b, 0)
    parent += [record(indexed, a, 1), record(indexed, b, 2)]
    append(indexed, a, 1, 2)
    append(indexed, c, 0)
    # The parent closes and splits; the children are listed before it: it must still be read first.
    fake.shards = {
        "child-r": ("parent", False, [record(indexed, c, 1)]),
        "child-l": ("parent", False, [record(indexed, a, 1)]),
        "parent": (None, True, parent),
    }
    indexer.forget()
    fake.calls.clear()

    done = indexer.step()

    assert not done.reconciled and done.events == 5
    assert [call.split()[1] for call in fake.calls if call.startswith("get_records")] == [
        "parent",
        "child-r",
        "child-l",
    ]
    assert done.checkpoints == {"parent": "SHARD_END", "child-r": "1", "child-l": "1"}
    assert indexer.pending() == 0
    assert_dense_and_whole(list(indexed.read_all()), {a: 3, b: 1, c: 1})


def test_a_checkpoint_trimmed_away_makes_the_indexer_reconcile(indexed) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    append(indexed, a, 0)
    records = [record(indexed, a, 1)]
    fake = FakeStreams({"shard": (None, False, records)})
    indexer = Indexer(indexed, owner="one")
    indexer.__dict__["streams_client"] = fake
    indexer._stream_arn = "arn:fake"
    indexer.step()
    assert indexed.last_position() == 1

    # The indexer stops; meanwhile b is appended, and 24 hours later its record is trimmed away.
    indexer.forget()
    append(indexed, b, 0, 2)
    records.append(record(indexed, b, 2))
    records.append(
        {"eventName": "MODIFY", "dynamodb": {"NewImage": records[0]["dynamodb"]["NewImage"], "SequenceNumber": "3"}}
    )
    fake.trimmed_before["shard"] = 3

    done = indexer.step()

    assert done.reconciled and done.events == 2
    assert "get_shard_iterator shard TRIM_HORIZON" in fake.calls
    assert_dense_and_whole(list(indexed.read_all()), {a: 1, b: 2})


def test_a_shard_read_to_its_end_may_vanish_and_its_child_is_followed(indexed) -> None:
    a = uuid.uuid4()
    append(indexed, a, 0)
    fake = FakeStreams({"old": (None, True, [record(indexed, a, 1)])})
    indexer = Indexer(indexed, owner="one")
    indexer.__dict__["streams_client"] = fake
    indexer._stream_arn = "arn:fake"
    assert indexer.step().checkpoints == {"old": "SHARD_END"}

    append(indexed, a, 1)
    fake.shards = {"new": ("old", False, [record(indexed, a, 1)])}  # the old shard was trimmed after 24 hours
    indexer.forget()
    done = indexer.step()

    assert not done.reconciled and done.events == 1
    assert done.checkpoints == {"new": "1"}
    assert_dense_and_whole(list(indexed.read_all()), {a: 2})


def test_a_shard_that_vanished_with_records_unread_makes_the_indexer_reconcile(indexed) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    append(indexed, a, 0)
    records = [record(indexed, a, 1)]
    fake = FakeStreams({"old": (None, False, records)})
    indexer = Indexer(indexed, owner="one")
    indexer.__dict__["streams_client"] = fake
    indexer._stream_arn = "arn:fake"
    indexer.step()

    # The indexer stops; b is appended in the old shard, which closes, splits and, a day later, is trimmed.
    append(indexed, b, 0)
    records.append(record(indexed, b, 2))
    fake.shards = {"new": ("old", False, [])}
    indexer.forget()
    done = indexer.step()

    assert done.reconciled and done.events == 1
    assert_dense_and_whole(list(indexed.read_all()), {a: 1, b: 1})
