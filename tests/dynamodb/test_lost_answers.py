"""Appends whose answer never arrives: the backend finds out whether they landed instead of guessing.

Faults are injected into the real boto3 client through botocore's event hooks, against the real
endpoint: the request does (or does not) reach DynamoDB, and the answer is lost on the way back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

from eventstore.backends.base import NewEvent
from eventstore.exceptions import BackendUnavailable


@contextmanager
def fault(ddb, event_name: str, times: int) -> Iterator[list[int]]:
    """Raise a network error in TransactWriteItems' `event_name` hook for its first `times` calls."""
    calls = [0]

    def fail(**kwargs) -> None:
        calls[0] += 1
        if calls[0] <= times:
            if event_name.startswith("after-call"):
                raise ReadTimeoutError(endpoint_url="http://dynamodb.test")
            raise ConnectionClosedError(endpoint_url="http://dynamodb.test")

    hook = f"{event_name}.dynamodb.TransactWriteItems"
    ddb.client.meta.events.register(hook, fail)
    try:
        yield calls
    finally:
        ddb.client.meta.events.unregister(hook, fail)


def started(ddb) -> uuid.UUID:
    stream = uuid.uuid4()
    ddb.append(stream, "Counter", 0, [NewEvent("Started", {})])
    return stream


def test_an_append_whose_answer_was_lost_after_it_landed_counts_as_done_once(ddb):
    stream = started(ddb)
    events = [NewEvent("Ticked", {"n": n}) for n in range(3)]

    with fault(ddb, "after-call", times=1) as calls:  # DynamoDB committed, the answer never came back
        stored = ddb.append(stream, "Counter", 1, events)

    assert calls[0] == 1  # not sent again: the event uuids showed it had landed
    assert [e.event_uuid for e in stored] == [e.event_uuid for e in events]
    assert [e.version for e in ddb.read_stream(stream)] == [1, 2, 3, 4]
    assert [e.position for e in ddb.read_all()] == [1, 2, 3, 4]
    assert ddb.last_position() == 4


def test_an_append_that_never_reached_dynamodb_is_sent_again_and_lands_once(ddb):
    stream = started(ddb)
    # Every attempt botocore makes fails, then the backend's own resend goes through.
    attempts = ddb.client.meta.config.retries.get("total_max_attempts", 3)

    with fault(ddb, "before-send", times=attempts) as calls:
        stored = ddb.append(stream, "Counter", 1, [NewEvent("Ticked", {})])

    assert calls[0] == attempts + 1
    assert stored[0].version == 2
    assert [(e.version, e.position) for e in ddb.read_stream(stream)] == [(1, 1), (2, 2)]


def test_an_append_that_cannot_reach_dynamodb_says_so_and_writes_nothing(ddb):
    stream = started(ddb)
    event = NewEvent("Ticked", {})

    with fault(ddb, "before-send", times=1000), pytest.raises(BackendUnavailable) as caught:
        ddb.append(stream, "Counter", 1, [event])

    message = str(caught.value)
    assert str(stream) in message and "versions 2-2" in message and str(event.event_uuid) in message
    assert ddb.get_version(stream) == 1
    assert ddb.last_position() == 1
