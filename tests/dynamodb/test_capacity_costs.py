"""What the DynamoDB backend's operations cost in capacity units, from the items they actually touch.

Run alone, it prints the README's cost table and writes it to var/capacity-costs-<endpoint>.md:

    EVENTSTORE_BACKEND=dynamodb AWS_ENDPOINT_URL_DYNAMODB=$(bin/dynamodb local) ... \\
        .venv/bin/pytest tests/dynamodb/test_capacity_costs.py -s

The units are computed by DynamoDB's size rules (tests/dynamodb/capacity.py) from the items fetched
back; on DynamoDB Local, which reports ConsumedCapacity, they must equal what it reports, table by
table and index by index (moto's reports are not DynamoDB's, so there the rules stand alone).
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from pathlib import Path

import boto3
import pytest

from eventstore.backends.base import NewEvent, SnapshotRecord
from eventstore.backends.dynamodb_schema import STREAM_INDEXES

from .capacity import CapacityMeter, Units, item_size

REPO = Path(__file__).resolve().parents[2]
LOAD_EVENTS = 1_000
SNAPSHOT_AT = LOAD_EVENTS - 10
READ_ALL_PAGE = 100  # read_all fetches the events of whole commits, 100 or a few more at a time
# About what a request's add-item records: a ~60-byte payload and the request's context.
METADATA = {"correlation_id": str(uuid.uuid4()), "causation_id": str(uuid.uuid4()), "actor": "user:1"}


def item_added(n: int) -> NewEvent:
    data = {"name": f"sku-{n % 100:06d} organic cotton t-shirt, blue", "quantity": 1}
    return NewEvent("ItemAdded", data, 1, METADATA)


def cart_state(items: int) -> dict[str, object]:
    return {"items": {f"sku-{n:06d} organic cotton t-shirt, blue": 1 for n in range(items)}, "status": "open"}


@pytest.fixture
def meter(ddb):
    raw = boto3.session.Session().client("dynamodb", endpoint_url=ddb.client.meta.endpoint_url)
    with CapacityMeter(ddb.client, raw, {ddb.tables["streams"]: STREAM_INDEXES}) as meter:
        yield meter
    raw.close()


class Table:
    """The measured operations, as rows of the cost table."""

    def __init__(self, ddb, meter: CapacityMeter) -> None:
        self.ddb = ddb
        self.meter = meter
        self.rows: list[tuple[str, Units, Units, Units, Counter[str]]] = []

    def measure(self, label: str, run) -> Units:
        self.meter.take()  # forget what came before
        run()
        computed, as_local, reported, calls = self.meter.take()
        self.rows.append((label, computed, as_local, reported, calls))
        return computed

    def markdown(self, reported: bool) -> str:
        short = {name: kind for kind, name in self.ddb.tables.items()}
        lines = [
            "| operation | requests | WCU | RCU | where (table: units) |"
            + (" DynamoDB Local reported (a transaction: the sum of each table's distinct item figures) |" * reported),
            "|---|---|---|---|---|" + "---|" * reported,
        ]
        for label, computed, _, units, calls in self.rows:
            where = ", ".join(
                f"{_short(short, table)} {value:g}"
                for table, value in itertools.chain(computed.write.items(), computed.read.items())
                if value
            )
            requests = ", ".join(f"{count} {operation}" for operation, count in sorted(calls.items()))
            cells = [label, requests, f"{computed.wcu:g}", f"{computed.rcu:g}", where]
            if reported:
                cells.append(f"{units.wcu:g} WCU, {units.rcu:g} RCU")
            lines.append("| " + " | ".join(cells) + " |")
        # Nothing builds the global order beside the appends yet: each append writes it (the log above).
        indexer = ["indexer's share", "-", "n/a", "n/a", "no indexer yet: each append writes the log itself"]
        lines.append("| " + " | ".join(indexer + ["-"] * reported) + " |")
        return "\n".join(lines)


def _short(names: dict[str, str], table: str) -> str:
    base, _, index = table.partition("/")
    return names.get(base, base) + (f"/{index}" if index else "")


def test_capacity_units_follow_from_the_items_written_and_read(ddb, meter, dynamodb_local):
    table = Table(ddb, meter)
    counter = itertools.count()

    # Appends to a stream that already has an event, by a process that has appended before (it knows
    # the log head's position, so an append reads nothing).
    stream = uuid.uuid4()
    ddb.append(stream, "ShoppingCart", 0, [item_added(next(counter))])
    first = table.measure(
        "append of 1 event, new stream", lambda: ddb.append(uuid.uuid4(), "ShoppingCart", 0, [item_added(0)])
    )
    appends = {}
    for n in (1, 10, 48):
        version = ddb.get_version(stream)
        appends[n] = table.measure(
            f"append of {n} event{'s' * (n > 1)}",
            lambda n=n, version=version: ddb.append(
                stream, "ShoppingCart", version, [item_added(next(counter)) for _ in range(n)]
            ),
        )

    def hundred(version: int) -> None:
        for n in (48, 48, 4):
            ddb.append(stream, "ShoppingCart", version, [item_added(next(counter)) for _ in range(n)])
            version += n

    version = ddb.get_version(stream)
    table.measure("100 events (3 appends: 48 + 48 + 4)", lambda: hundred(version))

    # Loading as the repository does: the latest snapshot (if any), then the events after it.
    long = uuid.uuid4()
    for start in range(0, LOAD_EVENTS, 48):
        count = min(48, LOAD_EVENTS - start)
        ddb.append(long, "ShoppingCart", start, [item_added(start + n) for n in range(count)])

    def load() -> int:
        snapshot = ddb.get_snapshot(long)
        return len(list(ddb.read_stream(long, from_version=(snapshot.version if snapshot else 0) + 1)))

    unsnapshotted = table.measure(f"load of {LOAD_EVENTS:,} events, no snapshot", load)
    state = cart_state(100)
    ddb.save_snapshot(SnapshotRecord(long, "ShoppingCart", SNAPSHOT_AT, state, 1))
    snapshotted = table.measure(
        f"load of {LOAD_EVENTS:,} events, snapshot at {SNAPSHOT_AT} (a 100-item cart's state)", load
    )

    def read_all_page() -> None:
        assert len(list(itertools.islice(ddb.read_all(0), READ_ALL_PAGE))) == READ_ALL_PAGE

    page = table.measure(f"read_all, its first {READ_ALL_PAGE} events", read_all_page)
    total = ddb.last_position()
    everything = table.measure(
        f"read_all of the whole store ({total:,} events)", lambda: sum(1 for _ in ddb.read_all(0))
    )

    # Sizes of what was written, for the table's notes and the checks below.
    event_item = ddb.client.get_item(
        TableName=ddb.tables["events"], Key={"AggregateUuid": {"S": str(long)}, "Version": {"N": "1"}}
    )["Item"]
    snapshot_item = ddb.client.get_item(
        TableName=ddb.tables["snapshots"], Key={"AggregateUuid": {"S": str(long)}, "Version": {"N": str(SNAPSHOT_AT)}}
    )["Item"]

    # Consistency: an append costs at least 2 WCU per item of its 2n + 4 (transactional), grows with n,
    # reads nothing; events of under 1 KB cost 2 WCU each, the stream's index tip 2, their guards 2; a load
    # reads what it returns.
    for n, units in appends.items():
        assert units.rcu == 0
        assert units.wcu >= 2 * (2 * n + 4)
        assert units.write[ddb.tables["events"]] == 2 * n * -(-item_size(event_item) // 1024) + 2
        assert units.write[ddb.tables["event_uuids"]] == 2 * n
    assert appends[1].wcu < appends[10].wcu < appends[48].wcu
    assert appends[10].wcu - appends[1].wcu == 9 * (appends[48].wcu - appends[10].wcu) / 38
    assert first.wcu > 0
    assert unsnapshotted.rcu == -(-LOAD_EVENTS * item_size(event_item) // 4096)
    assert snapshotted.rcu < unsnapshotted.rcu / 10
    # A BatchGetItem rounds each item up to 4 KB; read_all fetches whole commits, so up to 47 events more.
    assert READ_ALL_PAGE <= page.read[ddb.tables["events"]] < READ_ALL_PAGE + 48
    assert everything.read[ddb.tables["events"]] == total
    if dynamodb_local:
        # What it reports, table by table and index by index (a transaction's tables as it sums them).
        for label, _, as_local, reported, _ in table.rows:
            assert (+as_local.write, +as_local.read) == (+reported.write, +reported.read), label

    markdown = table.markdown(reported=dynamodb_local)
    notes = (
        f"\nItem sizes: an event {item_size(event_item)} bytes (its payload and metadata "
        f"{len(event_item['Data']['S']) + len(event_item['Metadata']['S'])}), the snapshot "
        f"{item_size(snapshot_item):,} bytes."
    )
    endpoint = "dynamodb-local" if dynamodb_local else "moto"
    out = REPO / "var" / f"capacity-costs-{endpoint}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(markdown + "\n" + notes + "\n")
    print("\n" + markdown + notes)
