"""Moving a DynamoDB store written by layout 1 to layout 2 (`python manage.py migrate_dynamodb_layout`).

Layout 1 gave every event its position in the append itself, so its log (the index items and the log head
with its stream counts) is already what layout 2 reads. What it lacks:

- the streams table's change stream (NEW_IMAGE), which the indexer follows;
- each stream's index tip (events table, Version 0): how far the stream is indexed. In layout 1 every
  append indexed its own events, so a migrated stream is indexed up to its head's StreamVersion;
- the sharded listing: heads carried Recent = "streams" (one GSI partition) and were listed by type on the
  GSI `recent_by_type` (AggregateType); layout 2 spreads them over LISTING_SHARDS partitions: Recent =
  "streams#<shard>" and TypeShard = "<type>#<shard>" on the GSI `recent_by_type_shard`.

Old event items keep their Position attribute and old guards theirs: layout 2 ignores them (read_all takes
positions from the index).

The order of the steps, and why it is safe:

1. Add the GSI `recent_by_type_shard` (if missing) and wait until it is ACTIVE. It holds only heads that
   carry TypeShard, so it starts empty and fills as step 2 goes; DynamoDB allows one GSI change per
   UpdateTable call, and none while the table is updating, hence the wait.
2. Move every head (a consistent Scan). A head without TypeShard is a layout-1 head: one transaction, per
   up to 50 heads, writes its tip (SET IndexedVersion = the head's StreamVersion, AggregateType; only where
   the tip is absent, attribute_not_exists(IndexedVersion)) and sets Recent and TypeShard on the head, on
   condition that the head is still at the version scanned and still lacks TypeShard. So a tip never says
   more than the head held when it was written, and head and tip move together: an interrupted run leaves
   every head either moved with its tip or untouched, and the next run carries on. A head that carries
   TypeShard was written by layout 2 (or moved by an earlier run) and is left alone: its tip, if any, is
   the indexer's business, and writing one would hide its events from the indexer.
3. Enable the change stream, only now: it is what lets the indexer run at all (without it `index_events`
   refuses to start), and an indexer's first step reconciles every head against its tip. Had the stream
   come first, an indexer started meanwhile would find old heads without tips and give all their events a
   second position. Enabling it last also spares the indexer one change record per moved head.
4. Delete the old GSI `recent_by_type`, once the new one is ACTIVE and every head is moved (until then the
   store can still be listed the old way).

Every step first looks whether it is needed, so running the migration again changes nothing. While it
runs, stop the writers, or run them with GLOBAL_ORDER "append": such an append indexes itself and is
refused (nothing written) on an old stream that has no tip yet, and a new stream it creates is a layout-2
head. A writer of layout 1, or one with GLOBAL_ORDER "indexer", would move heads behind the migration's
back (the second one without positions): it must not run until the migration is done. Afterwards start
`python manage.py index_events` (GLOBAL_ORDER "indexer").
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..exceptions import BackendUnavailable, EventStoreError
from . import dynamodb_items as items
from .dynamodb_items import MAX_TRANSACTION_ITEMS, Item, N, S
from .dynamodb_schema import (
    KEY_TYPES,
    OLD_RECENT_BY_TYPE_INDEX,
    RECENT_BY_TYPE_INDEX,
    STREAM_INDEXES,
    STREAM_SPECIFICATION,
    stream_index_definition,
)

if TYPE_CHECKING:
    from .dynamodb import DynamoDBBackend

#: Heads moved per transaction: two items each (the tip and the head).
HEADS_PER_TRANSACTION = MAX_TRANSACTION_ITEMS // 2
#: Tries of one head whose transaction was cancelled (it moved meanwhile, or a transaction conflict).
HEAD_ATTEMPTS = 10
CONDITION_FAILED = "ConditionalCheckFailed"

Progress = Callable[[str, bool], None]  # (line, final)


@dataclass
class Outcome:
    """What the migration did, or (dry run) would do."""

    dry_run: bool = False
    #: The table changes made (or due), one line each.
    changes: list[str] = field(default_factory=list)
    #: Heads seen, layout-1 heads moved (or to move), and of those the ones whose tip was there already.
    heads: int = 0
    moved: int = 0
    tips_kept: int = 0
    #: Whether layout-1 heads were found while the change stream was already enabled (a writer of layout 1?).
    late_heads: bool = False

    @property
    def nothing_to_do(self) -> bool:
        return not self.changes and not self.moved


@dataclass(frozen=True, slots=True)
class OldHead:
    """A layout-1 head to move: its stream, type and version when scanned."""

    aggregate_uuid: str
    aggregate_type: str
    version: int


class LayoutMigration:
    """Move one DynamoDB backend's tables from layout 1 to layout 2 (see the module docstring)."""

    def __init__(
        self,
        backend: DynamoDBBackend,
        *,
        say: Callable[[str], None] = lambda line: None,
        progress: Progress = lambda line, final: None,
        poll_seconds: float = 1.0,
    ) -> None:
        self.backend = backend
        self.client = backend.client
        self.tables = backend.tables
        self.streams_table = backend.tables["streams"]
        self.say = say
        self.progress = progress
        self.poll_seconds = poll_seconds

    def run(self, *, dry_run: bool = False) -> Outcome:
        """Migrate (or, with dry_run, only find out what migrating would do); return what was (to be) done."""
        outcome = Outcome(dry_run=dry_run)
        for kind in ("events", "log"):
            self._describe(self.tables[kind])  # a missing table: the one-line error says to create it
        table = self._wait_until_active(self._describe(self.streams_table))
        stream_enabled = bool(table.get("StreamSpecification", {}).get("StreamEnabled"))
        if (
            stream_enabled
            and table["StreamSpecification"].get("StreamViewType") != STREAM_SPECIFICATION["StreamViewType"]
        ):
            raise EventStoreError(
                f"The DynamoDB table {self.streams_table} has a change stream of view type "
                f"{table['StreamSpecification'].get('StreamViewType')}; the indexer needs NEW_IMAGE. Disable the "
                "stream (UpdateTable) and run the migration again."
            )

        if RECENT_BY_TYPE_INDEX not in _indexes(table):
            self._change(outcome, f"Add the index {RECENT_BY_TYPE_INDEX} to {self.streams_table}.")
            if not dry_run:
                self._add_index(table)

        self._move_heads(outcome, dry_run=dry_run)
        outcome.late_heads = stream_enabled and outcome.moved > 0

        if not stream_enabled:
            self._change(outcome, f"Enable the change stream (NEW_IMAGE) of {self.streams_table}.")
            if not dry_run:
                self._update_table(
                    "Enabling the change stream", TableName=self.streams_table, StreamSpecification=STREAM_SPECIFICATION
                )
                self._wait_until_active(self._describe(self.streams_table))

        table = self._describe(self.streams_table)
        if OLD_RECENT_BY_TYPE_INDEX in _indexes(table):
            self._change(outcome, f"Delete the old index {OLD_RECENT_BY_TYPE_INDEX} of {self.streams_table}.")
            if not dry_run:
                self._update_table(
                    f"Deleting the index {OLD_RECENT_BY_TYPE_INDEX}",
                    TableName=self.streams_table,
                    GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": OLD_RECENT_BY_TYPE_INDEX}}],
                )
                self._wait_until_active(self._describe(self.streams_table))
        return outcome

    def _change(self, outcome: Outcome, line: str) -> None:
        outcome.changes.append(line)
        self.say(("Would: " if outcome.dry_run else "") + line)

    # The index and the stream

    def _add_index(self, table: dict[str, Any]) -> None:
        definitions = {entry["AttributeName"]: entry["AttributeType"] for entry in table["AttributeDefinitions"]}
        for attribute in STREAM_INDEXES[RECENT_BY_TYPE_INDEX]:
            definitions[attribute] = KEY_TYPES[attribute]
        index = stream_index_definition(RECENT_BY_TYPE_INDEX)
        if table.get("BillingModeSummary", {}).get("BillingMode") != "PAY_PER_REQUEST":
            throughput = table.get("ProvisionedThroughput", {})
            index["ProvisionedThroughput"] = {
                "ReadCapacityUnits": throughput.get("ReadCapacityUnits") or 1,
                "WriteCapacityUnits": throughput.get("WriteCapacityUnits") or 1,
            }
        self._update_table(
            f"Adding the index {RECENT_BY_TYPE_INDEX}",
            TableName=self.streams_table,
            # The whole set: DynamoDB adds to the definitions, some emulators (moto) replace them.
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": kind} for name, kind in definitions.items()],
            GlobalSecondaryIndexUpdates=[{"Create": index}],
        )
        self._wait_until_active(self._describe(self.streams_table))

    def _wait_until_active(self, table: dict[str, Any]) -> dict[str, Any]:
        """Poll until the table and all its indexes are ACTIVE (an index being deleted: gone); return it."""
        started = time.monotonic()
        while True:
            busy = [
                f"index {index['IndexName']} {index.get('IndexStatus', '?')}"
                + (" (backfilling)" if index.get("Backfilling") else "")
                for index in table.get("GlobalSecondaryIndexes", [])
                if index.get("IndexStatus", "ACTIVE") != "ACTIVE"
            ]
            if table.get("TableStatus", "ACTIVE") != "ACTIVE":
                busy.insert(0, f"table {table.get('TableStatus')}")
            if not busy:
                return table
            waited = time.monotonic() - started
            self.progress(f"  Waiting for {self.streams_table}: {', '.join(busy)} ({waited:.0f}s)", False)
            time.sleep(self.poll_seconds)
            table = self._describe(self.streams_table)

    # The heads

    def _move_heads(self, outcome: Outcome, *, dry_run: bool) -> None:
        total = self.backend.count_streams()
        due: list[OldHead] = []
        for head in self._heads():
            if outcome.heads:  # the heads done so far (the last count is the final line's)
                self.progress(f"  {outcome.heads} of {max(total, outcome.heads)} streams", False)
            outcome.heads += 1
            if "TypeShard" not in head:
                old = OldHead(head["AggregateUuid"]["S"], head["AggregateType"]["S"], int(head["StreamVersion"]["N"]))
                if dry_run:
                    outcome.moved += 1
                else:
                    due.append(old)
                    if len(due) == HEADS_PER_TRANSACTION:
                        self._move(due, outcome)
                        due = []
        if due:
            self._move(due, outcome)
        if outcome.heads:
            self.progress(f"  {outcome.heads} of {outcome.heads} streams", True)
        verb = "Would move" if dry_run else "Moved"
        if outcome.moved:
            kept = f" ({outcome.tips_kept} had their index tip already)" if outcome.tips_kept else ""
            self.say(f"{verb} {outcome.moved} of {outcome.heads} stream head(s) to layout 2{kept}.")

    def _heads(self) -> Iterator[Item]:
        kwargs: dict[str, Any] = {
            "TableName": self.streams_table,
            "ProjectionExpression": "AggregateUuid, AggregateType, StreamVersion, TypeShard",
            "ConsistentRead": True,
        }
        while True:
            page = self.backend._call("scan", "Reading every stream head", **kwargs)
            yield from page["Items"]
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _move(self, heads: list[OldHead], outcome: Outcome) -> None:
        """Move these heads in one transaction; one by one if it is cancelled."""
        transact = [write for head in heads for write in self._writes(head)]
        if self._transact(transact, f"Moving {len(heads)} stream head(s)") is None:
            outcome.moved += len(heads)
            return
        for head in heads:
            self._move_one(head, outcome)

    def _move_one(self, head: OldHead, outcome: Outcome) -> None:
        with_tip = True
        for attempt in range(HEAD_ATTEMPTS):
            reasons = self._transact(
                self._writes(head, with_tip=with_tip), f"Moving the head of stream {head.aggregate_uuid}"
            )
            if reasons is None:
                outcome.moved += 1
                outcome.tips_kept += not with_tip
                return
            tip_failed = with_tip and reasons[0].get("Code") == CONDITION_FAILED
            head_failed = reasons[-1].get("Code") == CONDITION_FAILED
            if tip_failed:
                with_tip = False  # the tip is there already: keep it, move the head alone
            if head_failed:
                current = self._head(head.aggregate_uuid)
                if current is None or "TypeShard" in current:
                    return  # gone, or moved by someone else meanwhile
                # Still a layout-1 head, at another version (a writer is running): take its version now.
                head = OldHead(head.aggregate_uuid, head.aggregate_type, int(current["StreamVersion"]["N"]))
            if attempt:
                time.sleep(min(0.5, 0.01 * 2**attempt))
        raise BackendUnavailable(
            f"Moving the head of stream {head.aggregate_uuid} to layout 2: it kept changing ({HEAD_ATTEMPTS} "
            "attempts). Stop the writers (or run them with GLOBAL_ORDER 'append') and run the migration again."
        )

    def _writes(self, head: OldHead, *, with_tip: bool = True) -> list[dict[str, Any]]:
        shard = items.listing_shard(head.aggregate_uuid)
        writes: list[dict[str, Any]] = []
        if with_tip:
            writes.append(
                {
                    "Update": {
                        "TableName": self.tables["events"],
                        "Key": items.tip_key(head.aggregate_uuid),
                        "UpdateExpression": "SET IndexedVersion = :version, AggregateType = :type",
                        "ConditionExpression": "attribute_not_exists(IndexedVersion)",
                        "ExpressionAttributeValues": {":version": N(head.version), ":type": S(head.aggregate_type)},
                    }
                }
            )
        writes.append(
            {
                "Update": {
                    "TableName": self.streams_table,
                    "Key": {"AggregateUuid": S(head.aggregate_uuid)},
                    "UpdateExpression": "SET Recent = :recent, TypeShard = :shard",
                    "ConditionExpression": "StreamVersion = :version AND attribute_not_exists(TypeShard)",
                    "ExpressionAttributeValues": {
                        ":recent": S(items.recent_partition(shard)),
                        ":shard": S(items.type_partition(head.aggregate_type, shard)),
                        ":version": N(head.version),
                    },
                }
            }
        )
        return writes

    def _transact(self, transact: list[dict[str, Any]], doing: str) -> list[dict[str, Any]] | None:
        """Send a transaction; return None once applied, else its cancellation reasons (one per item)."""
        try:
            self.client.transact_write_items(TransactItems=transact, ClientRequestToken=str(uuid.uuid4()))
            return None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise self.backend._error(exc, doing) from exc
            reasons = exc.response.get("CancellationReasons") or []
            return reasons + [{}] * (len(transact) - len(reasons))
        except BotoCoreError as exc:
            raise self.backend._error(exc, doing) from exc

    def _head(self, aggregate_uuid: str) -> Item | None:
        answer = self.backend._call(
            "get_item",
            f"Reading the head of stream {aggregate_uuid}",
            TableName=self.streams_table,
            Key={"AggregateUuid": S(aggregate_uuid)},
            ConsistentRead=True,
        )
        return answer.get("Item")

    # Talking to DynamoDB

    def _describe(self, name: str) -> dict[str, Any]:
        return self.backend._call("describe_table", f"Describing the table {name}", TableName=name)["Table"]

    def _update_table(self, doing: str, **kwargs: Any) -> None:
        self.backend._call("update_table", f"{doing} ({self.streams_table})", **kwargs)


def _indexes(table: dict[str, Any]) -> set[str]:
    return {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
