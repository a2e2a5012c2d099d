"""The DynamoDB backend: the event store on DynamoDB, through boto3.

Settings: an alias of EVENTSTORE["BACKENDS"] with BACKEND "eventstore.backends.dynamodb.DynamoDBBackend";
boto3 reads its own environment (AWS_DEFAULT_REGION, credentials, AWS_ENDPOINT_URL_DYNAMODB for a local
endpoint, AWS_ENDPOINT_URL_DYNAMODB_STREAMS for the indexer's, defaulting to it); OPTIONS TABLE_PREFIX
(default "eventstore_") and TABLES name the tables; GLOBAL_ORDER says who assigns positions (below).
Needs the `dynamodb` extra (boto3): the system check eventstore.E002 says so when it is missing.
`python manage.py create_dynamodb_tables` creates the tables, `index_events` runs the indexer,
`migrate_dynamodb_layout` moves tables of layout 1, `copy_events` moves a store in or out.

Tables (see dynamodb_schema): events (AggregateUuid + Version, and each stream's index tip at Version 0),
streams (one head per stream, with a change stream), event_uuids (one guard per event uuid), log (the
global order) and snapshots.

Append is one TransactWriteItems call of the stream's own items, all or nothing: each event's Put
conditioned on attribute_not_exists(Version); a guard Put per event uuid (attribute_not_exists), so a
stored event is never stored again (DuplicateEventError); and the stream head moved from the expected
version (ConcurrencyError otherwise, the actual version read from ReturnValuesOnConditionCheckFailure=
ALL_OLD). That is 2n + 1 items. Appends to different streams share no item, so they never wait for each
other, and one append costs the same whatever the number of writers.

Global order, GLOBAL_ORDER "indexer" (the default): DynamoDB has none, so the indexer
(dynamodb_indexer, `index_events`) builds it after the fact from the streams table's change stream,
writing dense positions into the log. append and read_stream return position 0 (not known yet);
read_all, last_position and the stream counts show an append once it is indexed, after the indexer's
delay; read models follow asynchronously. GLOBAL_ORDER "append": each append also assigns its own
positions in its transaction (the stream's tip, an index item and the log head: 2n + 4 items), so they
are known at once and read models can run inline, but every append contends on the log head: store-wide,
one append at a time. Either way an append carries at most 48 events, 400 KB per item and 4 MB in all,
checked before anything is sent (EventLimitError naming the stream and the event).

read_all reads the log head (a consistent GetItem), then the index items up to it (consistent Query,
one partition per 1,000 positions), then their events (consistent BatchGetItem): it never sees a later
position without the earlier ones.

Stream listing queries GSIs on the heads, each spread over 16 partitions (newest change first, merged
on read); GSIs are eventually consistent, so a change may take a moment to reach the listing. get_stream
reads the head consistently; count_streams and aggregate_types read counts kept on the log head by
whoever assigns positions.

Transient errors and throttling are retried by botocore (retry mode "standard" unless
AWS_RETRY_MODE says otherwise). When an append's answer is lost (a timeout, a dropped connection, a
5xx after the retries), the backend asks the event_uuids table whether the first event landed, and
if not sends the same request again with the same ClientRequestToken, which DynamoDB applies at
most once.
"""

from __future__ import annotations

import heapq
import json
import os
import random
import threading
import time
from collections.abc import Iterator, Sequence
from functools import cached_property
from itertools import islice
from typing import Any
from uuid import UUID

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, NoRegionError
from botocore.exceptions import ConnectionError as BotoConnectionError
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from ..exceptions import BackendUnavailable, ConcurrencyError, DuplicateEventError, EventLimitError, EventStoreError
from . import dynamodb_items as items
from .base import (
    EventStoreBackend,
    NewEvent,
    SnapshotRecord,
    StoredEvent,
    StreamInfo,
    StreamPage,
    decode_stream_cursor,
    encode_stream_cursor,
)
from .dynamodb_indexer import Head
from .dynamodb_items import LISTING_SHARDS, MAX_ITEM_BYTES, Item, N, S
from .dynamodb_log import GlobalLogReader
from .dynamodb_schema import (
    RECENT_BY_TYPE_INDEX,
    RECENT_INDEX,
    create_tables,
    empty_tables,
    recreate_table,
    table_names,
)
from .dynamodb_writes import (
    LOG_PAGE_SIZE,
    MAX_EVENTS_PER_APPEND,
    TYPE_COUNT_PREFIX,
    append_request,
    check_count,
)

POSITION_ATTEMPTS = 100  # races lost (for the log head, or for an item another transaction holds) before giving up
#: GLOBAL_ORDER values: the indexer assigns positions after the append (the default), or each append does.
INDEXER_ASSIGNS = "indexer"
APPEND_ASSIGNS = "append"
RESENDS_AFTER_LOST_ANSWER = 3
CONDITION_FAILED = "ConditionalCheckFailed"
RETRYABLE_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
LOST_ANSWER_ERRORS = (BotoConnectionError, HTTPClientError)

_session: boto3.session.Session | None = None
_session_lock = threading.Lock()
# (endpoint, table names) whose tables reset_for_tests has made sure of in this process.
_tables_seen: set[tuple[str, tuple[str, ...]]] = set()


class DynamoDBBackend(GlobalLogReader, EventStoreBackend):
    """Event streams in DynamoDB; options: TABLE_PREFIX, TABLES ({kind: name} overrides)."""

    max_events_per_append = MAX_EVENTS_PER_APPEND
    #: Positions per log partition: fixed for a table's life (tests use small ones on empty tables).
    log_page_size = LOG_PAGE_SIZE

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.tables = table_names(options)
        self.global_order = options.get("GLOBAL_ORDER") or INDEXER_ASSIGNS
        if self.global_order not in (INDEXER_ASSIGNS, APPEND_ASSIGNS):
            raise ImproperlyConfigured(
                f"The DynamoDB backend's OPTIONS GLOBAL_ORDER is {self.global_order!r}; it must be "
                f"{INDEXER_ASSIGNS!r} (the default) or {APPEND_ASSIGNS!r}."
            )
        self._position_hint: int | None = None  # the log head as this process last saw it
        self._change_stream_seen = False  # the streams table has its change stream (checked on the first append)

    @cached_property
    def client(self) -> Any:
        """Return the boto3 DynamoDB client, configured by boto3's own environment."""
        return self.session_client("dynamodb")

    def session_client(self, service: str, endpoint_url: str | None = None) -> Any:
        """Return a new boto3 client of this process's session (retry mode "standard" unless AWS_RETRY_MODE is set)."""
        global _session
        retries = {} if os.environ.get("AWS_RETRY_MODE") else {"retries": {"mode": "standard"}}
        try:
            # One session per process: it caches the service model, making new clients cheap.
            with _session_lock:
                _session = _session or boto3.session.Session()
                return _session.client(service, endpoint_url=endpoint_url, config=Config(**retries))
        except NoRegionError as exc:
            raise ImproperlyConfigured("The DynamoDB backend needs a region: set AWS_DEFAULT_REGION.") from exc

    def close(self) -> None:
        if "client" in self.__dict__:
            self.client.close()
            del self.__dict__["client"]

    def create_tables(self, *, wait: bool = True) -> list[str]:
        """Create the missing tables (on-demand) and wait until they are active; return those created."""
        try:
            return create_tables(self.client, self.tables, wait=wait)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "Creating the DynamoDB tables") from exc

    def reset_for_tests(self) -> None:
        """Create the tables if needed and empty them."""
        endpoint = (self.client.meta.endpoint_url, tuple(self.tables.values()))
        if endpoint not in _tables_seen:
            self.create_tables()
            _tables_seen.add(endpoint)
        empty_tables(self.client, self.tables)
        if not self.positions_on_append:
            # The change stream would still show the heads of earlier tests to the indexer: start a new one.
            recreate_table(self.client, self.tables, "streams")
        self._position_hint = None

    # Writing

    @property
    def positions_on_append(self) -> bool:  # type: ignore[override]
        return self.global_order == APPEND_ASSIGNS

    def append(
        self,
        aggregate_uuid: UUID,
        aggregate_type: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        closes_stream: bool = False,
    ) -> list[StoredEvent]:
        if not events:
            return []
        check_count(aggregate_uuid, expected_version, events)
        # Serialising first: a payload that is not JSON fails here, before anything is sent.
        payloads = [(json.dumps(event.data), json.dumps(event.metadata)) for event in events]
        now = timezone.now()
        assigning = self.positions_on_append
        if not assigning:
            self._check_change_stream(aggregate_uuid, expected_version)
        last_seen = 0
        if assigning:
            last_seen = self._position_hint if self._position_hint is not None else self.last_position()
        for attempt in range(1, POSITION_ATTEMPTS + 1):
            stored = [
                StoredEvent(
                    position=last_seen + offset if assigning else 0,
                    event_uuid=event.event_uuid,
                    aggregate_uuid=aggregate_uuid,
                    aggregate_type=aggregate_type,
                    version=expected_version + offset,
                    name=event.name,
                    schema_version=event.schema_version,
                    data=event.data,
                    metadata=event.metadata,
                    recorded_at=event.recorded_at or now,
                )
                for offset, event in enumerate(events, start=1)
            ]
            placement = {"log_page_size": self.log_page_size, "last_seen": last_seen} if assigning else {}
            request = append_request(self.tables, stored, payloads, expected_version, closes_stream, **placement)
            moved_to = self._send(request, stored, expected_version)
            if moved_to is None:
                if assigning:
                    self._position_hint = stored[-1].position
                return stored
            last_seen = moved_to
            if attempt > 2:  # Several writers keep colliding: spread them out a little.
                time.sleep(random.uniform(0, min(0.1, 0.002 * 2**attempt)))
        raise BackendUnavailable(
            f"Appending to stream {aggregate_uuid} at version {expected_version + 1}: other writers kept "
            f"{'taking the next global position' if assigning else 'holding its items'} ({POSITION_ATTEMPTS} "
            "attempts); nothing was written."
        )

    def _check_change_stream(self, aggregate_uuid: UUID, expected_version: int) -> None:
        """Refuse appends the indexer could never see: tables of layout 1 have no change stream (once a process).

        Appended there, events would get no position, and migrate_dynamodb_layout would then take them for
        indexed ones.
        """
        if self._change_stream_seen:
            return
        table = self._call("describe_table", f"Appending to stream {aggregate_uuid}", TableName=self.tables["streams"])[
            "Table"
        ]
        if not table.get("StreamSpecification", {}).get("StreamEnabled"):
            raise EventStoreError(
                f"Appending to stream {aggregate_uuid} at version {expected_version + 1}: the DynamoDB table "
                f"{self.tables['streams']} has no change stream, so the indexer would never give these events "
                "positions (tables of layout 1). Run `python manage.py migrate_dynamodb_layout`, or set "
                'GLOBAL_ORDER "append" until then. Nothing was written.'
            )
        self._change_stream_seen = True

    def _send(self, request: dict[str, Any], stored: list[StoredEvent], expected_version: int) -> int | None:
        """Send the append; return None once it landed, else the log head's position to retry from."""
        try:
            self.client.transact_write_items(**request)
            return None
        except ClientError as exc:
            if _is_cancellation(exc):
                return self._explain_cancellation(exc, stored, expected_version)
            if not _answer_lost(exc):
                raise self._error(exc, _appending(stored)) from exc
            lost: Exception = exc
        except LOST_ANSWER_ERRORS as exc:
            lost = exc
        return self._resolve_lost_answer(request, stored, expected_version, lost)

    def _resolve_lost_answer(
        self, request: dict[str, Any], stored: list[StoredEvent], expected_version: int, lost: Exception
    ) -> int | None:
        """Find out whether an append whose answer was lost landed; send it again (same token) if not."""
        for attempt in range(RESENDS_AFTER_LOST_ANSWER):
            try:
                if self._landed(stored[0]):
                    return None
                time.sleep(0.05 * 2**attempt)
                self.client.transact_write_items(**request)
                return None
            except ClientError as exc:
                if _is_cancellation(exc):
                    return self._explain_cancellation(exc, stored, expected_version)
                if not _answer_lost(exc):
                    raise self._error(exc, _appending(stored)) from exc
                lost = exc
            except LOST_ANSWER_ERRORS as exc:
                lost = exc
        raise BackendUnavailable(
            f"{_appending(stored)}: DynamoDB's answer was lost ({lost}) and it cannot be asked whether the "
            f"events landed. Retry the same append later: if event {stored[0].event_uuid} did land, the "
            "retry is refused as a duplicate (where positions come later, from the indexer, it is answered as "
            "landed: the same events at the same versions)."
        )

    def _landed(self, event: StoredEvent) -> bool:
        answer = self.client.get_item(
            TableName=self.tables["event_uuids"], Key={"EventUuid": S(event.event_uuid)}, ConsistentRead=True
        )
        return "Item" in answer and items.guard_matches(answer["Item"], event)

    def _explain_cancellation(self, exc: ClientError, stored: list[StoredEvent], expected_version: int) -> int | None:
        """Raise the error a cancelled append means, or return the log head's position to retry from."""
        reasons = exc.response.get("CancellationReasons") or []
        count = len(stored)
        aggregate_uuid = stored[0].aggregate_uuid

        def failed(index: int) -> bool:
            return index < len(reasons) and reasons[index].get("Code") == CONDITION_FAILED

        def old(index: int) -> Item:
            return (reasons[index].get("Item") or {}) if index < len(reasons) else {}

        duplicates = [(event, old(count + i)) for i, event in enumerate(stored) if failed(count + i)]
        if duplicates:
            if len(duplicates) == count and all(items.guard_matches(item, event) for event, item in duplicates):
                # Every guard records this very append (its positions were this attempt's alone): it had
                # landed and its answer was lost, and this is a resend (ours or botocore's retry).
                return None
            raise DuplicateEventError(aggregate_uuid, [event.event_uuid for event, _ in duplicates])
        head_at, tip_at, log_head_at = 2 * count, 2 * count + 1, 2 * count + 3  # the last two: GLOBAL_ORDER "append"
        if failed(head_at) or any(failed(i) for i in range(count)):
            head = old(head_at)
            actual = int(head["StreamVersion"]["N"]) if "StreamVersion" in head else self.get_version(aggregate_uuid)
            raise ConcurrencyError(aggregate_uuid, expected_version, actual)
        if failed(tip_at):
            raise EventStoreError(
                f"{_appending(stored)}: the stream's versions up to {expected_version} are not all indexed yet "
                f"(its index tip is at {items.indexed_version(old(tip_at))}), so this append cannot give its events "
                'the next positions (GLOBAL_ORDER "append"). Run `python manage.py index_events --until-caught-up` '
                "first (or `migrate_dynamodb_layout`, for tables created before layout 2). Nothing was written."
            )
        if failed(log_head_at):
            log_head = old(log_head_at)
            return int(log_head["LastPosition"]["N"]) if "LastPosition" in log_head else self.last_position()
        codes = [reason.get("Code") for reason in reasons]
        if RETRYABLE_REASONS.intersection(codes):
            return max(stored[0].position - 1, 0)
        raise EventStoreError(f"{_appending(stored)} was refused by DynamoDB: {exc}")

    # Reading

    def read_stream(
        self,
        aggregate_uuid: UUID,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        batch_size: int = 1000,
    ) -> Iterator[StoredEvent]:
        values = {":uuid": S(aggregate_uuid), ":from": N(max(from_version, 1))}
        condition = "AggregateUuid = :uuid AND Version >= :from"
        if to_version is not None:
            if to_version < from_version:
                return
            condition = "AggregateUuid = :uuid AND Version BETWEEN :from AND :to"
            values[":to"] = N(to_version)
        pages = self._query(
            f"Reading stream {aggregate_uuid}",
            TableName=self.tables["events"],
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ConsistentRead=True,
            Limit=max(batch_size, 1),
        )
        for item in pages:
            yield items.stored_event(item)

    # Streams

    def get_stream(self, aggregate_uuid: UUID) -> StreamInfo | None:
        answer = self._call(
            "get_item",
            f"Reading the head of stream {aggregate_uuid}",
            TableName=self.tables["streams"],
            Key={"AggregateUuid": S(aggregate_uuid)},
            ConsistentRead=True,
        )
        return items.stream_info(answer["Item"]) if "Item" in answer else None

    def list_streams(
        self, *, aggregate_type: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> StreamPage:
        # The heads are spread over LISTING_SHARDS partitions: take the newest limit + 1 of each and merge.
        after = None
        if cursor:
            updated_at, after_uuid = decode_stream_cursor(cursor)
            after = S(items.recent_key(updated_at, after_uuid))
        shards = [self._listing_shard(shard, aggregate_type, after, limit + 1) for shard in range(LISTING_SHARDS)]
        newest = heapq.merge(*shards, key=lambda item: item["RecentKey"]["S"], reverse=True)
        found = list(islice(newest, limit + 1))
        streams = [items.stream_info(item) for item in found[:limit]]
        return StreamPage(streams, encode_stream_cursor(streams[-1]) if len(found) > limit else None)

    def _listing_shard(
        self, shard: int, aggregate_type: str | None, after: dict[str, str] | None, limit: int
    ) -> list[Item]:
        """Return up to `limit` heads of one listing shard, newest first (after the cursor's key, if any)."""
        if aggregate_type:
            index, condition = RECENT_BY_TYPE_INDEX, "TypeShard = :p"
            values = {":p": S(items.type_partition(aggregate_type, shard))}
        else:
            index, condition, values = RECENT_INDEX, "Recent = :p", {":p": S(items.recent_partition(shard))}
        if after is not None:
            condition += " AND RecentKey < :after"
            values[":after"] = after
        pages = self._query(
            "Listing streams",
            TableName=self.tables["streams"],
            IndexName=index,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            Limit=limit,
        )
        return list(islice(pages, limit))

    def all_heads(self) -> Iterator[Head]:
        """Yield every stream's head (a consistent Scan of the streams table: for reconciliation and checks)."""
        kwargs: dict[str, Any] = {
            "TableName": self.tables["streams"],
            "ProjectionExpression": "AggregateUuid, AggregateType, StreamVersion",
            "ConsistentRead": True,
        }
        while True:
            page = self._call("scan", "Reading every stream head", **kwargs)
            for item in page["Items"]:
                yield Head(
                    UUID(item["AggregateUuid"]["S"]), item["AggregateType"]["S"], int(item["StreamVersion"]["N"])
                )
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def count_streams(self, *, aggregate_type: str | None = None) -> int:
        name = TYPE_COUNT_PREFIX + aggregate_type if aggregate_type else "Streams"
        head = self._log_head(name)
        return int(head[name]["N"]) if name in head else 0

    def aggregate_types(self) -> list[str]:
        head = self._log_head()
        return sorted(
            name.removeprefix(TYPE_COUNT_PREFIX)
            for name, value in head.items()
            if name.startswith(TYPE_COUNT_PREFIX) and int(value["N"]) > 0
        )

    # Snapshots

    def save_snapshot(self, snapshot: SnapshotRecord) -> None:
        item = items.snapshot_item(snapshot, snapshot.created_at or timezone.now())
        size = items.item_size(item)
        if size > MAX_ITEM_BYTES:
            raise EventLimitError(
                snapshot.aggregate_uuid,
                f"the snapshot at version {snapshot.version} is {size:,} bytes; a DynamoDB item holds at most "
                f"{MAX_ITEM_BYTES:,}. It was not saved; loading replays the events instead.",
            )
        self._call(
            "put_item",
            f"Saving the snapshot of stream {snapshot.aggregate_uuid} at version {snapshot.version}",
            TableName=self.tables["snapshots"],
            Item=item,
        )

    def get_snapshot(self, aggregate_uuid: UUID, *, max_version: int | None = None) -> SnapshotRecord | None:
        condition, values = "AggregateUuid = :uuid", {":uuid": S(aggregate_uuid)}
        if max_version is not None:
            condition += " AND Version <= :max"
            values[":max"] = N(max_version)
        found = self._call(
            "query",
            f"Reading the latest snapshot of stream {aggregate_uuid}",
            TableName=self.tables["snapshots"],
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )["Items"]
        return items.snapshot_record(found[0]) if found else None

    def list_snapshots(self, aggregate_uuid: UUID, *, limit: int | None = None) -> list[SnapshotRecord]:
        found = self._query(
            f"Listing the snapshots of stream {aggregate_uuid}",
            TableName=self.tables["snapshots"],
            KeyConditionExpression="AggregateUuid = :uuid",
            ExpressionAttributeValues={":uuid": S(aggregate_uuid)},
            ScanIndexForward=False,
            ConsistentRead=True,
            **({} if limit is None else {"Limit": limit}),
        )
        return [items.snapshot_record(item) for item in islice(found, limit)]

    # Talking to DynamoDB

    def _call(self, operation: str, doing: str, **kwargs: Any) -> dict[str, Any]:
        """Call a client operation, turning boto's errors into the event store's."""
        try:
            return getattr(self.client, operation)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, doing) from exc

    def _query(self, doing: str, **kwargs: Any) -> Iterator[Item]:
        """Yield every item a Query finds, following LastEvaluatedKey page after page."""
        while True:
            page = self._call("query", doing, **kwargs)
            yield from page["Items"]
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _error(self, exc: Exception, doing: str) -> EventStoreError:
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                return EventStoreError(
                    f"{doing}: a DynamoDB table is missing ({exc}); run `python manage.py create_dynamodb_tables`."
                )
            if not _answer_lost(exc) and "Throttl" not in code and "LimitExceeded" not in code:
                return EventStoreError(f"{doing}: DynamoDB refused the request: {exc}")
        return BackendUnavailable(f"{doing}: DynamoDB did not answer: {exc}")


def _is_cancellation(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "TransactionCanceledException"


def _answer_lost(exc: ClientError) -> bool:
    """Return whether the request may or may not have been applied (a server error)."""
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500


def _appending(stored: list[StoredEvent]) -> str:
    first, last = stored[0], stored[-1]
    return f"Appending to stream {first.aggregate_uuid} as versions {first.version}-{last.version}"
