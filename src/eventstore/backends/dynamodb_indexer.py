"""The DynamoDB backend's indexer: it gives appended events their global positions, beside the write path.

An append writes only its own stream's items, so nothing orders appends to different streams. The
indexer does, after the fact, as Equinox's DynamoStore indexer does: it follows the DynamoDB stream of
the streams table (one record per append: the head's new image, so one record describes an append
whole), and for every stream whose head is above its index tip it writes, in one transaction,

- index items: positions P+1..P+k hold versions tip+1..head of a stream, at most a log page an item
  (dynamodb_log looks for the item holding a position in its page and the one before);
- the stream's tip moved from its indexed version to the head's (refused if anyone moved it first);
- the log head moved from P to the new last position (refused if anyone moved it), with the stream
  counts and, in a step's last transaction, the indexer's checkpoints in the change stream, which is
  then also conditioned on holding the lease. The order depends on the other conditions only.

So positions are dense and appear in order, each version is indexed once whoever tries, and a crash
between two transactions leaves the checkpoint before the records not yet indexed: the next indexer
reads them again and finds their streams' tips already there, or indexes them. One indexer at a time
follows the change stream, holding the lease on the log head; another takes it over once it has not
been renewed for LEASE_SECONDS.

The change stream keeps records for 24 hours, and an indexer stopped longer (or a checkpoint lost)
leaves a gap: the reconciliation pass reads every stream head and indexes those above their tips. It
runs when there are no checkpoints (the first run, or they were deleted), when a checkpoint was trimmed
away or its shard vanished before it was read to its end (SHARD_END), when the lease was last held over
RETENTION_MARGIN ago, and on demand (`index_events --reconcile`). The order among streams is the order
the indexer meets them: it agrees with each stream's versions, not with wall-clock time across streams.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError

from ..exceptions import BackendUnavailable, EventStoreError, IndexerLeaseLost
from . import dynamodb_items as items
from .dynamodb_items import MAX_TRANSACTION_ITEMS, Item, S
from .dynamodb_writes import LOG_HEAD_KEY, index_item_put, log_head_write, tip_write

if TYPE_CHECKING:
    from .dynamodb import DynamoDBBackend

logger = logging.getLogger("eventstore.indexer")

#: Streams indexed per transaction when each is less than a log page behind: two items each (an index item and
#: the tip) beside the log head.
STREAMS_PER_TRANSACTION = (MAX_TRANSACTION_ITEMS - 1) // 2
MAX_BATCH_GET = 100
RECORDS_PER_READ = 1000
LEASE_SECONDS = 30.0
#: How long a listing of the change stream's shards is used before asking again (shards split every few hours).
SHARDS_SECONDS = 10.0
#: The checkpoint of a shard read from its oldest record before any record was there.
FROM_OLDEST = "TRIM_HORIZON"
#: The checkpoint of a closed shard read to its end: once the stream stops listing it, nothing was lost.
SHARD_END = "SHARD_END"
#: The change stream keeps records 24 hours: an indexer taking over a lease last held longer ago than this
#: may have missed records in any shard, so it reconciles first.
RETENTION_MARGIN = 23 * 3600.0
#: Tries of one indexing transaction that lost a race (another indexer, an append assigning its own positions).
ATTEMPTS = 50


@dataclass(frozen=True, slots=True)
class Head:
    """A stream's head as the indexer needs it: which stream, of what type, up to which version."""

    aggregate_uuid: UUID
    aggregate_type: str
    version: int


@dataclass
class Pass:
    """What one indexing step did."""

    events: int = 0
    streams: int = 0
    records: int = 0
    reconciled: bool = False
    checkpoints: dict[str, str] = field(default_factory=dict)


class Indexer:
    """Assign positions to appended events: follow the change stream (holding the lease) or reconcile."""

    def __init__(
        self,
        backend: DynamoDBBackend,
        *,
        owner: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.owner = owner or f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.tables = backend.tables
        self._iterators: dict[str, str | None] = {}  # shard id -> next iterator (None: closed shard read to its end)
        self._checkpoints: dict[str, str] | None = None  # as last saved (None: not read yet)
        self._stream_arn: str | None = None
        self._renewed: float | None = None  # when this indexer last took or renewed the lease (its clock)
        self._stale = False  # the lease was taken from an indexer last alive over RETENTION_MARGIN ago
        self._shard_list: tuple[float, list[dict[str, Any]]] | None = None  # (when listed, shards)

    @cached_property
    def streams_client(self) -> Any:
        """Return the DynamoDB Streams client (its endpoint: AWS_ENDPOINT_URL_DYNAMODB_STREAMS, else DynamoDB's)."""
        endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB_STREAMS") or os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
        return self.backend.session_client("dynamodbstreams", endpoint)

    # The lease

    def acquire(self) -> bool:
        """Take or renew the lease on the log head; return False while another indexer holds it."""
        now = self.clock()
        if self._renewed is not None and now - self._renewed < self.lease_seconds / 3:
            return True  # renewed lately; every index write is conditioned on holding it anyway
        try:
            answer = self.backend.client.update_item(
                TableName=self.tables["log"],
                Key=LOG_HEAD_KEY,
                UpdateExpression="SET LeaseOwner = :me, LeaseUntil = :until",
                ConditionExpression="attribute_not_exists(LeaseOwner) OR LeaseOwner = :me OR LeaseUntil < :now",
                ExpressionAttributeValues={
                    ":me": S(self.owner),
                    ":until": {"N": repr(now + self.lease_seconds)},
                    ":now": {"N": repr(now)},
                },
                ReturnValues="UPDATED_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                self.forget()
                return False
            raise self.backend._error(exc, "Taking the indexer's lease") from exc
        except BotoCoreError as exc:
            raise self.backend._error(exc, "Taking the indexer's lease") from exc
        if self._renewed is None:
            # Taken (not renewed): an indexer last alive over RETENTION_MARGIN ago may have let records expire.
            before = answer.get("Attributes", {})
            last_alive = float(before["LeaseUntil"]["N"]) if "LeaseUntil" in before else None
            self._stale = last_alive is not None and now - last_alive > RETENTION_MARGIN
        self._renewed = now
        return True

    def release(self) -> None:
        """Give the lease up at once (on a clean stop), so that another indexer need not wait for it to expire."""
        try:
            self.backend.client.update_item(
                TableName=self.tables["log"],
                Key=LOG_HEAD_KEY,
                # LeaseUntil stays, saying when an indexer was last alive (see acquire).
                UpdateExpression="REMOVE LeaseOwner SET LeaseUntil = :now",
                ConditionExpression="LeaseOwner = :me",
                ExpressionAttributeValues={":me": S(self.owner), ":now": {"N": repr(self.clock())}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise self.backend._error(exc, "Releasing the indexer's lease") from exc
        self.forget()

    def forget(self) -> None:
        """Drop what this indexer read ahead: after a lost lease or a failed step, resume from the saved checkpoints."""
        self._iterators.clear()
        self._checkpoints = None
        self._shard_list = None
        self._renewed = None

    # One step

    def step(self) -> Pass:
        """Index what the change stream holds after the checkpoints (reconciling first when they are unusable).

        Raise IndexerLeaseLost when another indexer holds the lease.
        """
        if not self.acquire():
            raise IndexerLeaseLost(f"Indexer {self.owner}: another indexer holds the lease on the DynamoDB log head.")
        done = Pass()
        try:
            checkpoints = self._saved_checkpoints()
            shards = self._shards()
            if shards and not checkpoints:
                # Nothing to resume from: the first run, or the checkpoints were lost. Reconcile, then read
                # every shard from its oldest record (already-indexed ones are skipped by their tips). Shards
                # that vanished with records unread are a gap too: _read says so.
                self._reconcile_into(
                    done, "no checkpoint in the change stream" if checkpoints or self._ever_ran() else ""
                )
            elif self._stale:
                self._reconcile_into(done, "the last indexer stopped over 23 hours ago (the stream keeps 24)")
            self._stale = False
            heads, checkpoints, records, trimmed = self._read(shards, checkpoints)
            if trimmed and not done.reconciled:
                self._reconcile_into(done, "the change stream was trimmed past the checkpoint")
            done.records = records
            indexed, streams = self.index(heads, checkpoints=checkpoints)
            done.events += indexed
            done.streams += streams
            done.checkpoints = checkpoints
            self._checkpoints = checkpoints
        except BaseException:
            self.forget()
            raise
        return done

    def _saved_checkpoints(self) -> dict[str, str]:
        if self._checkpoints is None:
            head = self.backend._log_head("Checkpoints")
            saved = head.get("Checkpoints", {}).get("M", {})
            self._checkpoints = {shard: value["S"] for shard, value in saved.items()}
            self._iterators.clear()
        return self._checkpoints

    def _shards(self) -> list[dict[str, Any]]:
        """Return the change stream's shards, parents before their children (listed afresh every SHARDS_SECONDS)."""
        now = self.clock()
        if self._shard_list is not None and now - self._shard_list[0] < SHARDS_SECONDS:
            return self._shard_list[1]
        shards = self._list_shards()
        self._shard_list = (now, shards)
        return shards

    def _list_shards(self) -> list[dict[str, Any]]:
        arn = self._arn()
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamArn": arn}
        while True:
            description = self._streams_call("describe_stream", "Describing the change stream", **kwargs)
            page = description["StreamDescription"]
            shards.extend(page.get("Shards", []))
            if not page.get("LastEvaluatedShardId"):
                break
            kwargs["ExclusiveStartShardId"] = page["LastEvaluatedShardId"]
        known = {shard["ShardId"] for shard in shards}
        ordered: list[dict[str, Any]] = []
        placed: set[str] = set()

        def place(shard: dict[str, Any]) -> None:
            if shard["ShardId"] in placed:
                return
            parent = shard.get("ParentShardId")
            if parent in known and parent not in placed:
                place(next(s for s in shards if s["ShardId"] == parent))
            placed.add(shard["ShardId"])
            ordered.append(shard)

        for shard in shards:
            place(shard)
        return ordered

    def _arn(self) -> str:
        if self._stream_arn is None:
            table = self.backend._call(
                "describe_table", "Describing the streams table", TableName=self.tables["streams"]
            )["Table"]
            arn = table.get("LatestStreamArn")
            if not arn or not table.get("StreamSpecification", {}).get("StreamEnabled"):
                raise NoChangeStream(
                    f"The DynamoDB table {self.tables['streams']} has no change stream, so the indexer cannot follow "
                    "the appends: it predates layout 2. Run `python manage.py migrate_dynamodb_layout`."
                )
            self._stream_arn = arn
        return self._stream_arn

    def _read(
        self, shards: list[dict[str, Any]], saved: dict[str, str]
    ) -> tuple[dict[UUID, Head], dict[str, str], int, bool]:
        """Read one page of records from each shard; return the heads they show, the checkpoints after them,
        how many records there were, and whether a checkpoint had been trimmed away (a gap)."""
        current = {shard["ShardId"] for shard in shards}
        # Checkpoints of shards the stream no longer lists (trimmed after 24 hours) are dropped; unless the shard
        # had been read to its end, records were lost with it.
        checkpoints = {shard: sequence for shard, sequence in saved.items() if shard in current}
        trimmed = any(shard not in current and sequence != SHARD_END for shard, sequence in saved.items())
        heads: dict[UUID, Head] = {}
        records = 0
        for shard in shards:
            shard_id = shard["ShardId"]
            if checkpoints.get(shard_id) == SHARD_END or (
                shard_id in self._iterators and self._iterators[shard_id] is None
            ):
                continue  # a closed shard read to its end
            iterator = self._iterators.get(shard_id)
            if iterator is None:
                iterator, was_trimmed = self._iterator(shard_id, checkpoints.get(shard_id))
                trimmed = trimmed or was_trimmed
            try:
                page = self._streams_call(
                    "get_records", f"Reading shard {shard_id}", ShardIterator=iterator, Limit=RECORDS_PER_READ
                )
            except _StreamError as exc:
                if exc.code not in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                    raise
                # The iterator expired (15 minutes) or its records were trimmed: start again from the checkpoint.
                trimmed = trimmed or exc.code == "TrimmedDataAccessException"
                self._iterators.pop(shard_id, None)
                iterator, was_trimmed = self._iterator(shard_id, checkpoints.get(shard_id))
                trimmed = trimmed or was_trimmed
                page = self._streams_call(
                    "get_records", f"Reading shard {shard_id}", ShardIterator=iterator, Limit=RECORDS_PER_READ
                )
            if shard_id not in checkpoints:
                # Read from the shard's oldest record: remembered as such until a record gives a sequence number.
                checkpoints[shard_id] = FROM_OLDEST
            for record in page.get("Records", []):
                records += 1
                head = _head_of(record)
                if head is not None:
                    known = heads.get(head.aggregate_uuid)
                    if known is None or head.version > known.version:
                        heads[head.aggregate_uuid] = head
                checkpoints[shard_id] = record["dynamodb"]["SequenceNumber"]
            self._iterators[shard_id] = page.get("NextShardIterator")
            if self._iterators[shard_id] is None:
                checkpoints[shard_id] = SHARD_END
                self._shard_list = None  # a shard closed: its children are to be listed
        return heads, checkpoints, records, trimmed

    def _iterator(self, shard_id: str, sequence: str | None) -> tuple[str, bool]:
        """Return an iterator after the checkpoint (from the oldest record without one), and whether it was trimmed."""
        arn = self._arn()
        if sequence is not None and sequence != FROM_OLDEST:
            try:
                answer = self._streams_call(
                    "get_shard_iterator",
                    f"Resuming shard {shard_id}",
                    StreamArn=arn,
                    ShardId=shard_id,
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                    SequenceNumber=sequence,
                )
                return answer["ShardIterator"], False
            except _StreamError as exc:
                if exc.code != "TrimmedDataAccessException":
                    raise
                logger.warning("Shard %s was trimmed past the indexer's checkpoint: reconciling.", shard_id)
                trimmed = True
        else:
            trimmed = False
        answer = self._streams_call(
            "get_shard_iterator",
            f"Reading shard {shard_id}",
            StreamArn=arn,
            ShardId=shard_id,
            ShardIteratorType="TRIM_HORIZON",
        )
        return answer["ShardIterator"], trimmed

    def _streams_call(self, operation: str, doing: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self.streams_client, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                raise _StreamError(code) from exc
            if code == "ResourceNotFoundException":
                self._stream_arn = None  # the stream was disabled and enabled again: look it up afresh
                self.forget()
            raise self.backend._error(exc, doing) from exc
        except BotoCoreError as exc:
            raise self.backend._error(exc, doing) from exc

    # Reconciliation

    def reconcile(self) -> tuple[int, int]:
        """Index every stream whose head is above its tip (a gap in the change stream); return (events, streams)."""
        events = streams = 0
        for heads in _chunks(self.backend.all_heads(), MAX_BATCH_GET):
            indexed, among = self.index({head.aggregate_uuid: head for head in heads})
            events += indexed
            streams += among
        return events, streams

    def _reconcile_into(self, done: Pass, gap: str) -> None:
        """Reconcile as part of a step; a gap (not the first run) that hid appends is worth a warning."""
        events, streams = self.reconcile()
        done.events += events
        done.streams += streams
        done.reconciled = True
        if events and gap:
            logger.warning(
                "Indexer %s: %s; reconciling every stream head indexed %d event(s) of %d stream(s) it had not shown.",
                self.owner,
                gap,
                events,
                streams,
            )
        elif events:
            logger.info("Indexer %s: first run; indexed %d event(s) of %d stream(s).", self.owner, events, streams)

    def _ever_ran(self) -> bool:
        """Return whether an indexer has written positions before (the log head holds a last position)."""
        return self.backend.last_position() > 0

    def pending(self) -> int:
        """Return how many appended events have no position yet (reads every stream head: for checks and tests)."""
        return sum(head.version for head in self.backend.all_heads()) - self.backend.last_position()

    # Writing the index

    def index(self, heads: dict[UUID, Head], *, checkpoints: dict[str, str] | None = None) -> tuple[int, int]:
        """Give positions to the versions of these heads above their tips; save `checkpoints` with the last write.

        Return (events indexed, streams brought up to their heads). Raise IndexerLeaseLost when another indexer
        holds the lease (only the write that saves checkpoints asks for it: the order never depends on it).
        """
        events = streams = 0
        remaining = dict(heads)
        if not remaining and (checkpoints is None or checkpoints == self._checkpoints):
            return 0, 0  # nothing new: no read, no write
        races = 0
        tips: dict[UUID, int] | None = None
        last: int | None = None
        while True:
            if tips is None:  # read once, then known from this indexer's own writes until a race
                tips = self._tips(list(remaining))
            remaining = {u: head for u, head in remaining.items() if head.version > tips.get(u, 0)}
            plan = self._plan(list(remaining.values()), tips)
            final = len(plan) == len(remaining) and all(end == head.version for head, _, end in plan)
            saving = checkpoints if final else None
            if not plan and (saving is None or saving == self._checkpoints):
                return events, streams  # nothing to index and no checkpoint to move
            try:
                last = self._write(plan, self.backend.last_position() if last is None else last, saving)
            except _Raced:
                # Another writer moved the log head or a tip meanwhile: read them again and index what is left.
                tips = last = None
                races += 1
                if races >= ATTEMPTS:
                    first = next(iter(remaining), None)
                    raise BackendUnavailable(
                        f"Indexing {len(remaining)} stream(s) (first {first}): other writers kept moving the log "
                        f"head ({ATTEMPTS} attempts); nothing more was indexed."
                    ) from None
                if races > 2:
                    time.sleep(min(0.2, 0.005 * 2**races))
                continue
            for head, start, end in plan:
                events += end - start
                tips[head.aggregate_uuid] = end
                if end == head.version:
                    del remaining[head.aggregate_uuid]
                    streams += 1
            if final:
                return events, streams

    def _plan(self, due: list[Head], tips: dict[UUID, int]) -> list[tuple[Head, int, int]]:
        """Return what one transaction indexes: (head, from its tip, up to version), within 100 items.

        An index item covers at most a log page of positions (read_all looks for the item holding a position
        in its page and the one before), so a stream far behind its tip takes several, and, beyond what one
        transaction holds, several transactions.
        """
        page = self.backend.log_page_size
        budget = MAX_TRANSACTION_ITEMS - 1  # the log head
        plan: list[tuple[Head, int, int]] = []
        for head in due:
            start = tips.get(head.aggregate_uuid, 0)
            pieces = min(-(-(head.version - start) // page), budget - 1)  # and the tip
            if pieces < 1:
                break
            plan.append((head, start, min(head.version, start + pieces * page)))
            budget -= 1 + pieces
        return plan

    def _tips(self, uuids: list[UUID]) -> dict[UUID, int]:
        found: dict[UUID, int] = {}
        for chunk in _chunks(uuids, MAX_BATCH_GET):
            request: dict[str, Any] = {
                self.tables["events"]: {"Keys": [items.tip_key(u) for u in chunk], "ConsistentRead": True}
            }
            while request:
                answer = self.backend._call("batch_get_item", "Reading index tips", RequestItems=request)
                for item in answer["Responses"].get(self.tables["events"], []):
                    found[UUID(item["AggregateUuid"]["S"])] = items.indexed_version(item)
                request = answer.get("UnprocessedKeys") or {}
        return found

    def _write(self, plan: list[tuple[Head, int, int]], last: int, checkpoints: dict[str, str] | None) -> int:
        """Index what the plan says after position `last` in one transaction; return the new last position."""
        transact: list[dict[str, Any]] = []
        position = last
        page = self.backend.log_page_size
        new_streams: dict[str, int] = {}
        for head, start, end in plan:
            for first in range(start, end, page):
                count = min(page, end - first)
                transact.append(
                    index_item_put(self.tables["log"], page, position + 1, head.aggregate_uuid, first + 1, count)
                )
                position += count
            transact.append(tip_write(self.tables["events"], head.aggregate_uuid, head.aggregate_type, start, end))
            if start == 0:
                new_streams[head.aggregate_type] = new_streams.get(head.aggregate_type, 0) + 1
        owner = self.owner if checkpoints is not None else None
        transact.append(
            log_head_write(self.tables["log"], position, last, new_streams, lease_owner=owner, checkpoints=checkpoints)
        )
        try:
            self.backend.client.transact_write_items(TransactItems=transact, ClientRequestToken=str(uuid.uuid4()))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise self.backend._error(exc, f"Indexing positions {last + 1}-{position}") from exc
            reasons = exc.response.get("CancellationReasons") or []
            head_reason = reasons[-1] if reasons else {}
            holder = head_reason.get("Item", {}).get("LeaseOwner", {}).get("S")
            if owner and head_reason.get("Code") == "ConditionalCheckFailed" and holder != owner:
                self.forget()
                raise IndexerLeaseLost(f"Indexer {owner} lost the lease on the DynamoDB log head.") from exc
            raise _Raced from exc
        except BotoCoreError as exc:
            raise self.backend._error(exc, f"Indexing positions {last + 1}-{position}") from exc
        return position

    # Running

    def run(
        self,
        *,
        stop: Callable[[], bool] = lambda: False,
        poll_seconds: float = 0.2,
        until_caught_up: bool = False,
        on_step: Callable[[Pass], None] | None = None,
    ) -> int:
        """Index until `stop()` (or, with `until_caught_up`, until a step finds nothing); return the events indexed.

        While another indexer holds the lease this one waits, trying again every poll, and takes over once
        that lease expires.
        """
        total = 0
        try:
            while not stop():
                try:
                    done = self.step()
                except IndexerLeaseLost:
                    if until_caught_up:
                        raise
                    time.sleep(min(poll_seconds * 5, self.lease_seconds / 3))
                    continue
                except EventStoreError as exc:
                    if until_caught_up or isinstance(exc, NoChangeStream):
                        raise
                    # DynamoDB out of reach for a moment: nothing was indexed past the saved checkpoint.
                    logger.error("Indexer %s: %s; trying again.", self.owner, exc)
                    time.sleep(min(poll_seconds * 10, self.lease_seconds / 3))
                    continue
                total += done.events
                if on_step is not None:
                    on_step(done)
                if until_caught_up and not done.records and not done.events:
                    break
                if not done.records:
                    time.sleep(poll_seconds)
        finally:
            self.release()
        return total


class NoChangeStream(EventStoreError):
    """The streams table has no change stream (tables of layout 1): there is nothing the indexer can follow."""


class _Raced(Exception):
    """An indexing transaction was cancelled by a concurrent write: read again and retry."""


class _StreamError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _head_of(record: dict[str, Any]) -> Head | None:
    """Return the head a change record shows, or None for a record that shows none (a removal, a key-only image)."""
    image: Item = record.get("dynamodb", {}).get("NewImage") or {}
    if record.get("eventName") == "REMOVE" or "StreamVersion" not in image or "AggregateType" not in image:
        return None  # moto also sends a key-only INSERT before the image of an item an update creates
    return Head(UUID(image["AggregateUuid"]["S"]), image["AggregateType"]["S"], int(image["StreamVersion"]["N"]))


def _chunks(values: Any, size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for value in values:
        chunk.append(value)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
