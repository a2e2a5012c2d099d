"""What the DynamoDB backend's operations cost in capacity units, from the items they actually touch.

It measures the default mode, GLOBAL_ORDER "indexer": appends (2n + 1 items each), loads, a read_all
page, and the indexer's share: what one indexer step spends on appends to many streams, or to one, per
append (the tips it reads, the log head it reads, the index items, tips and log head it writes, its
lease, and its DynamoDB Streams GetRecords calls). Appends in GLOBAL_ORDER "append" (2n + 4 items, the
suite's configured mode) follow for comparison.

Run alone, it prints the README's cost table and writes it to var/capacity-costs-<endpoint>.md:

    EVENTSTORE_BACKEND=dynamodb AWS_ENDPOINT_URL_DYNAMODB=$(bin/dynamodb local) ... \\
        .venv/bin/pytest tests/dynamodb/test_capacity_costs.py -s

The units are computed by DynamoDB's size rules (tests/dynamodb/capacity.py) from the items fetched
back; on DynamoDB Local, which reports ConsumedCapacity, they must equal what it reports, table by
table and index by index (moto's reports are not DynamoDB's, so there the rules stand alone).
"""

from __future__ import annotations

import inspect
import itertools
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from eventstore.backends.base import NewEvent, SnapshotRecord
from eventstore.backends.dynamodb import DynamoDBBackend
from eventstore.backends.dynamodb_indexer import LEASE_SECONDS, SHARDS_SECONDS, STREAMS_PER_TRANSACTION, Indexer
from eventstore.backends.dynamodb_items import tip_key
from eventstore.backends.dynamodb_schema import STREAM_INDEXES
from eventstore.backends.dynamodb_writes import LOG_HEAD_KEY

from .capacity import CapacityMeter, Item, Measured, item_size
from .indexing import indexed_backend, settle

REPO = Path(__file__).resolve().parents[2]
LOAD_EVENTS = 1_000
SNAPSHOT_AT = LOAD_EVENTS - 10
READ_ALL_PAGE = 100  # read_all fetches the events of whole commits, 100 or a few more at a time
INDEXED_STREAMS = (1, 10, STREAMS_PER_TRANSACTION, 100)  # appends to that many streams, indexed in one step
CONCENTRATED = 10  # appends of one event to one stream, indexed in one step
# About what a request's add-item records: a ~60-byte payload and the request's context.
METADATA = {"correlation_id": str(uuid.uuid4()), "causation_id": str(uuid.uuid4()), "actor": "user:1"}


def item_added(n: int) -> NewEvent:
    data = {"name": f"sku-{n % 100:06d} organic cotton t-shirt, blue", "quantity": 1}
    return NewEvent("ItemAdded", data, 1, METADATA)


def cart_state(items: int) -> dict[str, object]:
    return {"items": {f"sku-{n:06d} organic cotton t-shirt, blue": 1 for n in range(items)}, "status": "open"}


def kb(item: Item | None, unit: int = 1024) -> int:
    """Return the units DynamoDB rounds an item to: started KB for a write (4 KB for a read), at least one."""
    return max(1, math.ceil(item_size(item) / unit))


@dataclass
class Row:
    label: str
    measured: Measured
    appends: int = 0  # for the indexer's rows: the appends it indexed, to give its units per append

    @property
    def get_records(self) -> int:
        return self.measured.operations["Streams GetRecords"]


class Table:
    """The measured operations, as rows of the cost table."""

    def __init__(self, tables: dict[str, str]) -> None:
        self.tables = tables
        self.meter: CapacityMeter | None = None
        self.rows: list[Row] = []

    def measure(self, label: str, run: Callable[[], object], appends: int = 0) -> Measured:
        assert self.meter is not None
        self.meter.take()  # forget what came before
        run()
        measured = self.meter.take()
        self.rows.append(Row(label, measured, appends))
        return measured

    def markdown(self, reported: bool) -> str:
        short = {name: kind for kind, name in self.tables.items()}
        lines = [
            "| operation | requests | items written | WCU | RCU | per append | where (table: units) |"
            + (" DynamoDB Local reported (a transaction: the sum of each table's distinct item figures) |" * reported),
            "|---|---|---|---|---|---|---|" + "---|" * reported,
        ]
        for row in self.rows:
            computed = row.measured.computed
            parts = {
                kind: ", ".join(f"{_short(short, table)} {value:g}" for table, value in units.items() if value)
                for kind, units in (("write", computed.write), ("read", computed.read))
            }
            where = (
                "; ".join(f"{kind} {part}" for kind, part in parts.items() if part)
                if all(parts.values())
                else (parts["write"] or parts["read"])
            )
            requests = ", ".join(f"{count} {operation}" for operation, count in sorted(row.measured.operations.items()))
            per = "-"
            if row.appends:
                per = (
                    f"{computed.wcu / row.appends:.3g} WCU, {computed.rcu / row.appends:.3g} RCU, "
                    f"{row.get_records / row.appends:.3g} GetRecords"
                )
            cells = [row.label, requests, str(row.measured.items_written), f"{computed.wcu:g}"]
            cells += [f"{computed.rcu:g}", per, where]
            if reported:
                units = row.measured.reported
                cells.append(f"{units.wcu:g} WCU, {units.rcu:g} RCU")
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _short(names: dict[str, str], table: str) -> str:
    base, _, index = table.partition("/")
    return names.get(base, base) + (f"/{index}" if index else "")


def get(client: Any, table: str, key: Item) -> Item:
    return client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]


def check_append(ddb: DynamoDBBackend, raw: Any, units: Measured, stream: uuid.UUID, n: int, *, new: bool) -> None:
    """Check an append of n events (GLOBAL_ORDER "indexer"): one transaction of its 2n + 1 items, 2 WCU per KB each."""
    tables = ddb.tables
    event = get(raw, tables["events"], {"AggregateUuid": {"S": str(stream)}, "Version": {"N": "1"}})
    guard = get(raw, tables["event_uuids"], {"EventUuid": event["EventUuid"]})
    head = get(raw, tables["streams"], {"AggregateUuid": {"S": str(stream)}})
    assert units.operations == {"TransactWriteItems": 1}
    assert units.items_written == 2 * n + 1
    (call,) = units.calls
    assert len(call.params["TransactItems"]) == 2 * n + 1
    # Each GSI of the head: a put for a new stream, a delete and a put when an append moves its key.
    gsi = 2 * kb(head) * (1 if new else 2)
    assert +units.computed.write == {
        tables["events"]: 2 * n * kb(event),
        tables["event_uuids"]: 2 * n * kb(guard),
        tables["streams"]: 2 * kb(head),
        **{f"{tables['streams']}/{index}": gsi for index in STREAM_INDEXES},
    }
    assert units.computed.rcu == 0


def test_capacity_units_follow_from_the_items_written_and_read(ddb, dynamodb_local):
    endpoint_url = ddb.client.meta.endpoint_url
    raw = boto3.session.Session().client("dynamodb", endpoint_url=endpoint_url)
    indexes = {ddb.tables["streams"]: STREAM_INDEXES}
    table = Table(ddb.tables)
    counter = itertools.count()

    def events(n: int) -> list[NewEvent]:
        return [item_added(next(counter)) for _ in range(n)]

    # GLOBAL_ORDER "indexer", the default: appends write their own stream's items; the indexer the rest.
    store = indexed_backend()
    # The indexer's clock stands still once it has started, so the measured steps are the ordinary ones: it renews
    # its lease and lists the shards every LEASE_SECONDS / 3 and SHARDS_SECONDS (10 s), not every step; the notes
    # below add those two calls' share.
    indexer = Indexer(store, owner="costs", clock=StillClock())
    table.meter = meter = CapacityMeter(store.client, raw, indexes, indexer.streams_client)
    meter.__enter__()
    tables = store.tables

    # A long stream, indexed as a running indexer follows it (a step per append: index items of 48 events).
    settle(store, indexer)  # the first step: nothing to reconcile, and the change stream's checkpoints saved
    long = uuid.uuid4()
    for start in range(0, LOAD_EVENTS, 48):
        count = min(48, LOAD_EVENTS - start)
        store.append(long, "ShoppingCart", start, [item_added(start + n) for n in range(count)])
        settle(store, indexer)

    # Appends to a stream that already has an event.
    stream = uuid.uuid4()
    store.append(stream, "ShoppingCart", 0, events(1))
    new_stream = uuid.uuid4()
    first = table.measure(
        "append of 1 event, new stream", lambda: store.append(new_stream, "ShoppingCart", 0, events(1))
    )
    check_append(store, raw, first, new_stream, 1, new=True)
    appends = {}
    for n in (1, 10, 48):
        version = store.get_version(stream)
        appends[n] = table.measure(
            f"append of {n} event{'s' * (n > 1)}",
            lambda n=n, version=version: store.append(stream, "ShoppingCart", version, events(n)),
        )
        check_append(store, raw, appends[n], stream, n, new=False)
    assert appends[1].computed.wcu < appends[10].computed.wcu < appends[48].computed.wcu

    def hundred(version: int) -> None:
        for n in (48, 48, 4):
            store.append(stream, "ShoppingCart", version, events(n))
            version += n

    version = store.get_version(stream)
    hundred_units = table.measure("100 events (3 appends: 48 + 48 + 4)", lambda: hundred(version))
    assert hundred_units.items_written == 2 * 100 + 3

    # Loading as the repository does: the latest snapshot (if any), then the events after it.
    def load() -> int:
        snapshot = store.get_snapshot(long)
        return len(list(store.read_stream(long, from_version=(snapshot.version if snapshot else 0) + 1)))

    unsnapshotted = table.measure(f"load of {LOAD_EVENTS:,} events, no snapshot", load)
    state = cart_state(100)
    store.save_snapshot(SnapshotRecord(long, "ShoppingCart", SNAPSHOT_AT, state, 1))
    snapshotted = table.measure(
        f"load of {LOAD_EVENTS:,} events, snapshot at {SNAPSHOT_AT} (a 100-item cart's state)", load
    )

    # read_all once the indexer has given every event its position.
    settle(store, indexer)

    def read_all_page() -> None:
        assert len(list(itertools.islice(store.read_all(0), READ_ALL_PAGE))) == READ_ALL_PAGE

    page = table.measure(f"read_all, its first {READ_ALL_PAGE} events", read_all_page)
    total = store.last_position()
    everything = table.measure(
        f"read_all of the whole store ({total:,} events)", lambda: sum(1 for _ in store.read_all(0))
    )

    # The indexer's share: one step after appends to K streams already indexed (their tips there), to K new
    # streams, to one stream; and a step with nothing to index.
    streams = [uuid.uuid4() for _ in range(max(INDEXED_STREAMS))]
    for each in streams:
        store.append(each, "ShoppingCart", 0, events(1))
    settle(store, indexer)
    shards = len(indexer._shards())

    def index(expected: int) -> Callable[[], None]:
        def run() -> None:
            indexed = indexer.step().events
            assert indexed == expected, f"one step indexed {indexed} of {expected} events"

        return run

    shares: list[tuple[Measured, int]] = []  # (units, streams indexed)
    for k in INDEXED_STREAMS:
        for each in streams[:k]:
            store.append(each, "ShoppingCart", store.get_version(each), events(1))
        label = f"indexer: one step after appends of 1 event to {k} stream{'s' * (k > 1)}"
        shares.append((table.measure(label, index(k), appends=k), k))
    fresh = [uuid.uuid4() for _ in range(STREAMS_PER_TRANSACTION)]
    for each in fresh:
        store.append(each, "ShoppingCart", 0, events(1))
    label = f"indexer: one step after {len(fresh)} new streams of 1 event"
    new_streams = table.measure(label, index(len(fresh)), appends=len(fresh))
    shares.append((new_streams, len(fresh)))
    for _ in range(CONCENTRATED):
        store.append(stream, "ShoppingCart", store.get_version(stream), events(1))
    label = f"indexer: one step after {CONCENTRATED} appends of 1 event to one stream"
    shares.append((table.measure(label, index(CONCENTRATED), appends=CONCENTRATED), 1))
    idle = table.measure("indexer: one step with nothing to index", index(0))
    shares.append((idle, 0))
    meter.__exit__()

    # Sizes of what was written, read after the measuring, for the checks and the table's notes.
    event_item = get(raw, tables["events"], {"AggregateUuid": {"S": str(long)}, "Version": {"N": "1"}})
    snapshot_item = get(
        raw, tables["snapshots"], {"AggregateUuid": {"S": str(long)}, "Version": {"N": str(SNAPSHOT_AT)}}
    )
    tip = get(raw, tables["events"], tip_key(streams[0]))
    log_head = get(raw, tables["log"], LOG_HEAD_KEY)
    index_item = last_index_item(raw, store)

    # Consistency: a load reads what it returns; read_all fetches events 100 at a time (a BatchGetItem rounds
    # each up to 4 KB), however many versions an index item holds, so a page of 100 reads 100 events.
    assert unsnapshotted.computed.rcu == -(-LOAD_EVENTS * item_size(event_item) // 4096)
    assert snapshotted.computed.rcu < unsnapshotted.computed.rcu / 10
    assert whole_commits(raw, store, READ_ALL_PAGE) > READ_ALL_PAGE  # the page ends inside an index item
    assert page.computed.read[tables["events"]] == READ_ALL_PAGE
    assert everything.computed.read[tables["events"]] == total

    # The indexer, per step: reads its shards (a GetRecords each); when they show appends, the log head, per 100
    # streams a BatchGetItem of their tips (a missing tip costs the minimum too), and per 49 streams one
    # transaction of an index item and the tip each, and the log head. A step with nothing new reads nothing else.
    for units, indexed in shares:
        transactions = math.ceil(indexed / STREAMS_PER_TRANSACTION)
        batches = math.ceil(indexed / 100)
        assert +units.operations == +Counter(
            {
                "GetItem": 1 if indexed else 0,
                "Streams GetRecords": shards,
                "BatchGetItem": batches,
                "TransactWriteItems": transactions,
            }
        )
        assert units.items_written == 2 * indexed + transactions
        for call in units.calls:
            if call.operation == "TransactWriteItems":
                assert len(call.params["TransactItems"]) <= 2 * STREAMS_PER_TRANSACTION + 1
        assert +units.computed.write == +Counter(
            {
                tables["events"]: 2 * indexed * kb(tip),
                tables["log"]: 2 * indexed * kb(index_item) + 2 * transactions * kb(log_head),
            }
        )
        assert +units.computed.read == +Counter(
            {tables["events"]: indexed * kb(tip, 4096), tables["log"]: kb(log_head, 4096) if indexed else 0}
        )
    assert new_streams.computed.read[tables["events"]] == len(fresh)  # no tips there yet: the minimum each

    # GLOBAL_ORDER "append" (the suite's configured backend), for comparison: an append assigns its positions.
    ddb.reset_for_tests()
    table.meter = meter = CapacityMeter(ddb.client, raw, indexes)
    meter.__enter__()
    ddb.append(stream, "ShoppingCart", 0, events(1))
    by_append: dict[int, Measured] = {}
    for n in (1, 10, 48):
        version = ddb.get_version(stream)
        by_append[n] = table.measure(
            f'GLOBAL_ORDER "append": append of {n} event{"s" * (n > 1)}',
            lambda n=n, version=version: ddb.append(stream, "ShoppingCart", version, events(n)),
        )
    meter.__exit__()
    positioned = get(raw, tables["events"], {"AggregateUuid": {"S": str(stream)}, "Version": {"N": "1"}})
    for n, units in by_append.items():
        assert units.operations == {"TransactWriteItems": 1}
        assert units.items_written == 2 * n + 4
        assert units.computed.rcu == 0
        assert units.computed.write[tables["events"]] == 2 * n * kb(positioned) + 2 * kb(tip)
        log_units = 2 * kb(last_index_item(raw, ddb)) + 2 * kb(get(raw, tables["log"], LOG_HEAD_KEY))
        assert units.computed.write[tables["log"]] == log_units
    raw.close()

    if dynamodb_local:
        # What it reports, call by call, table by table and index by index (a transaction's tables as it sums them).
        for row in table.rows:
            for call in row.measured.calls:
                if call.was_reported:
                    assert (+call.as_local_reports.write, +call.as_local_reports.read) == (
                        +call.reported.write,
                        +call.reported.read,
                    ), (row.label, call.operation)
    unreported = sorted(
        {
            call.operation
            for row in table.rows
            for call in row.measured.calls
            if not call.was_reported and not call.operation.startswith("Streams ")
        }
    )

    markdown = table.markdown(reported=dynamodb_local)
    share = shares[INDEXED_STREAMS.index(STREAMS_PER_TRANSACTION)][0].computed
    per_wcu, per_rcu = share.wcu / STREAMS_PER_TRANSACTION, share.rcu / STREAMS_PER_TRANSACTION
    notes = (
        f"\nItem sizes: an event {item_size(event_item)} bytes (its payload and metadata "
        f"{len(event_item['Data']['S']) + len(event_item['Metadata']['S'])}), the snapshot "
        f"{item_size(snapshot_item):,} bytes, a tip {item_size(tip)}, an index item {item_size(index_item)}, "
        f"the log head {item_size(log_head)} (with the indexer's lease and checkpoints). The change stream had "
        f"{shards} shard{'s' * (shards > 1)}; DynamoDB Streams bills one streams read request unit per GetRecords "
        "call (up to 1,000 records here).\n"
        f"So an append of 1 event to an existing stream costs {appends[1].computed.wcu:g} WCU, plus the indexer's "
        f"{per_wcu:.3g} WCU and {per_rcu:.3g} RCU when it indexes {STREAMS_PER_TRANSACTION} streams a step; "
        f'with GLOBAL_ORDER "append" {by_append[1].computed.wcu:g} WCU.'
    )
    poll = inspect.signature(Indexer.run).parameters["poll_seconds"].default
    renewals = 86400 / (LEASE_SECONDS / 3)
    notes += (
        f" An idle indexer polling every {poll:g} s makes {idle.operations['Streams GetRecords'] / poll * 86400:,.0f} "
        f"GetRecords calls a day and nothing else but its lease, renewed every {LEASE_SECONDS / 3:g} s "
        f"({renewals * kb(log_head):,.0f} WCU a day), and a DescribeStream every {SHARDS_SECONDS:g} s "
        f"({86400 / SHARDS_SECONDS:,.0f} a day)."
    )
    if dynamodb_local:
        notes += (
            " DynamoDB Local reported ConsumedCapacity for every DynamoDB call measured"
            if not unreported
            else f" DynamoDB Local reported no ConsumedCapacity for {', '.join(unreported)}"
        ) + (
            " (checked against the computed units call by call; for the keys a BatchGetItem finds no item for, "
            f"{new_streams.computed.read[tables['events']]:g} RCU here for the tips of new streams, it reports "
            "nothing, "
            "where DynamoDB bills a read of a missing item the minimum)."
        )
    endpoint = "dynamodb-local" if dynamodb_local else "moto"
    out = REPO / "var" / f"capacity-costs-{endpoint}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(markdown + "\n" + notes + "\n")
    print("\n" + markdown + notes)


class StillClock:
    """A clock that stands still: the time it first told, every time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def whole_commits(raw: Any, backend: DynamoDBBackend, page: int) -> int:
    """Return how many events the index items holding positions 1..page cover (on the log's first page)."""
    found = raw.query(
        TableName=backend.tables["log"],
        KeyConditionExpression="Page = :page",
        ExpressionAttributeValues={":page": {"N": "0"}},
        ConsistentRead=True,
    )["Items"]
    counts = [int(item["Count"]["N"]) for item in sorted(found, key=lambda item: int(item["Position"]["N"]))]
    covered = 0
    for count in counts:
        covered += count
        if covered >= page:
            return covered
    raise AssertionError(f"the log's first page holds only {covered} positions")


def last_index_item(raw: Any, backend: DynamoDBBackend) -> Item:
    """Return the index item of the last position (on the log's first page, where the tests' positions are)."""
    last = backend.last_position()
    found = raw.query(
        TableName=backend.tables["log"],
        KeyConditionExpression="Page = :page AND #p <= :last",
        ExpressionAttributeNames={"#p": "Position"},
        ExpressionAttributeValues={":page": {"N": str(last // backend.log_page_size)}, ":last": {"N": str(last)}},
        ScanIndexForward=False,
        Limit=1,
        ConsistentRead=True,
    )
    return found["Items"][0]
