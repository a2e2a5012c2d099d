"""Capacity units of the DynamoDB backend's calls, computed from the items they actually touch.

DynamoDB's rules (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html):
an item's size is its attribute names plus values (a string's UTF-8 bytes, a number about one byte per
two significant digits plus one, a boolean one byte); a write costs 1 WCU per started KB of the larger
of the item before and after, a transactional one 2; a strongly consistent read 1 RCU per started 4 KB
(an eventually consistent one half), a GetItem at least one unit, a Query the total size of the items
it returns, rounded up once per call, a BatchGetItem each item rounded up on its own. A write to an
item a global secondary index (projection ALL) holds writes the index entry too: once when the key
stays, a delete plus a put when the index key changes, doubled in a transaction as DynamoDB Local does.

A read of an item that is not there still costs the minimum (1 RCU consistent, 0.5 eventually
consistent: "If you perform a read operation on an item that does not exist, DynamoDB still consumes
provisioned read throughput"), in a BatchGetItem as in a GetItem. A map's size is 3 bytes plus, per entry, its name, its
value and 1 byte.

`CapacityMeter` hooks a client: it asks every call for ReturnConsumedCapacity=INDEXES, reads the items
a write touches before and after it (through a second, unhooked client) and the full items a read
returns, and keeps both the units computed by those rules and the units the endpoint reported. Given
a DynamoDB Streams client too, it counts that client's calls ("Streams GetRecords", ...): DynamoDB
Streams bills one streams read request unit per GetRecords call, however many records it returns.

DynamoDB Local reports reads and single-item writes as these rules compute them, but for a
TransactWriteItems it adds up only the distinct per-item figures of each table: 48 events of 2 WCU
each are reported as 2, an item of 4 and two of 2 as 6. And for a BatchGetItem it counts only the
items found, nothing for a key with no item. `Call.as_local_reports` is what it reports, so the
figures can still be checked against it item by item.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

Item = dict[str, dict[str, Any]]


def number_size(text: str) -> int:
    """Return a DynamoDB number's size: one byte per two significant digits, plus one."""
    digits = text.lstrip("-").replace(".", "").lstrip("0").rstrip("0")
    if "e" in text.lower():
        digits = format(Decimal(text).normalize(), "f").lstrip("-").replace(".", "").strip("0")
    return math.ceil(len(digits) / 2) + 1


def item_size(item: Item | None) -> int:
    """Return an item's size as DynamoDB counts it (0 for no item)."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value, name) for name, value in item.items())


def value_size(value: dict[str, Any], name: str = "") -> int:
    """Return an attribute value's size (a map: 3 bytes, plus its entries' names and values and 1 byte each)."""
    (kind, content), *_ = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        return number_size(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(key.encode()) + value_size(entry, name) + 1 for key, entry in content.items())
    raise ValueError(f"item_size does not size {kind} values (attribute {name})")


def write_units(before: Item | None, after: Item | None, *, transactional: bool) -> float:
    """Return the WCUs of writing `after` over `before` (either may be None)."""
    units = max(1, math.ceil(max(item_size(before), item_size(after)) / 1024))
    return units * (2 if transactional else 1)


def read_units(size: int, *, consistent: bool, minimum: int = 0) -> float:
    """Return the RCUs of reading `size` bytes in one unit of rounding."""
    units = max(minimum, math.ceil(size / 4096))
    return units if consistent else units / 2


@dataclass
class Units:
    """Capacity units by table (index units under "table/index")."""

    read: Counter[str] = field(default_factory=Counter)
    write: Counter[str] = field(default_factory=Counter)

    def add(self, other: Units) -> None:
        self.read.update(other.read)
        self.write.update(other.write)

    @property
    def rcu(self) -> float:
        return sum(self.read.values())

    @property
    def wcu(self) -> float:
        return sum(self.write.values())


@dataclass
class Call:
    operation: str
    params: dict[str, Any]
    before: dict[str, Item | None] = field(default_factory=dict)  # the written items, by table + key
    computed: Units = field(default_factory=Units)
    reported: Units = field(default_factory=Units)
    item_units: dict[str, list[float]] = field(default_factory=dict)  # the write units of each item, by table
    was_reported: bool = False  # whether the endpoint reported ConsumedCapacity for it
    missing: Counter[str] = field(default_factory=Counter)  # the read units of keys a BatchGetItem found no item for

    @property
    def items_written(self) -> int:
        return len(self.before)

    def add_write(self, table: str, units: float) -> None:
        self.computed.write[table] += units
        self.item_units.setdefault(table, []).append(units)

    @property
    def as_local_reports(self) -> Units:
        """Return the computed units as DynamoDB Local reports them (see the module's docstring)."""
        if self.operation == "BatchGetItem":
            return Units(read=self.computed.read - self.missing)
        if self.operation != "TransactWriteItems":
            return self.computed
        write = Counter({table: sum(set(units)) for table, units in self.item_units.items()})
        return Units(read=Counter(self.computed.read), write=write)


@dataclass
class Measured:
    """The units of some calls: computed, as DynamoDB Local would report them, reported; the calls by operation."""

    computed: Units = field(default_factory=Units)
    as_local: Units = field(default_factory=Units)
    reported: Units = field(default_factory=Units)
    operations: Counter[str] = field(default_factory=Counter)
    items_written: int = 0
    calls: list[Call] = field(default_factory=list)


class CapacityMeter:
    """Compute and collect the capacity units of the calls a client makes (use as a context manager)."""

    WRITES = {"TransactWriteItems", "PutItem", "UpdateItem"}
    READS = {"GetItem", "Query", "BatchGetItem"}

    def __init__(
        self,
        client: Any,
        raw: Any,
        indexes: dict[str, dict[str, tuple[str, str | None]]],
        streams_client: Any = None,
    ) -> None:
        """`raw`: an unhooked client to the same endpoint; `indexes`: {table: {index: (hash, range)}};
        `streams_client`: a DynamoDB Streams client whose calls to count."""
        self.client = client
        self.streams_client = streams_client
        self.raw = raw
        self.indexes = indexes
        self.calls: list[Call] = []
        self._pending: Call | None = None
        self._key_schemas: dict[str, list[str]] = {}

    def __enter__(self) -> CapacityMeter:
        events = self.client.meta.events
        events.register("before-parameter-build.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)
        if self.streams_client is not None:
            self.streams_client.meta.events.register("after-call.dynamodb-streams", self._after_streams)
        return self

    def __exit__(self, *exc: object) -> None:
        events = self.client.meta.events
        events.unregister("before-parameter-build.dynamodb", self._before)
        events.unregister("after-call.dynamodb", self._after)
        if self.streams_client is not None:
            self.streams_client.meta.events.unregister("after-call.dynamodb-streams", self._after_streams)

    def take(self) -> Measured:
        """Return what the calls since the last take cost."""
        measured = Measured(calls=self.calls)
        for call in self.calls:
            measured.computed.add(call.computed)
            measured.as_local.add(call.as_local_reports)
            measured.reported.add(call.reported)
            measured.operations[call.operation] += 1
            measured.items_written += call.items_written
        self.calls = []
        return measured

    # Hooks

    def _before(self, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        if model.name not in self.WRITES | self.READS:
            return
        params["ReturnConsumedCapacity"] = "INDEXES"
        call = Call(model.name, json.loads(json.dumps(params)))
        for table, key in self._written_keys(call):
            call.before[self._ref(table, key)] = self._get(table, key)
        self._pending = call

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, **kwargs: Any) -> None:
        call, self._pending = self._pending, None
        if call is None or call.operation != model.name or "Error" in parsed:
            return
        reported = call.reported.read if model.name in self.READS else call.reported.write
        call.was_reported = bool(_as_list(parsed.get("ConsumedCapacity")))
        for consumed in _as_list(parsed.get("ConsumedCapacity")):
            table = consumed["TableName"]
            reported[table] += consumed.get("Table", consumed)["CapacityUnits"]
            for index, used in consumed.get("GlobalSecondaryIndexes", {}).items():
                reported[f"{table}/{index}"] += used["CapacityUnits"]
        if model.name in self.WRITES:
            self._compute_write(call)
        else:
            self._compute_read(call, parsed)
        self.calls.append(call)

    def _after_streams(self, parsed: dict[str, Any], model: Any, **kwargs: Any) -> None:
        if "Error" not in parsed:
            self.calls.append(Call(f"Streams {model.name}", {}))

    # Writes

    def _written_keys(self, call: Call) -> list[tuple[str, Item]]:
        if call.operation == "TransactWriteItems":
            entries = [next(iter(entry.items())) for entry in call.params["TransactItems"]]
        elif call.operation == "PutItem":
            entries = [("Put", call.params)]
        elif call.operation == "UpdateItem":
            entries = [("Update", call.params)]
        else:
            return []
        keys = []
        for kind, action in entries:
            table = action["TableName"]
            if kind == "Put":
                keys.append((table, self._key_of(table, action["Item"])))
            elif kind in ("Update", "Delete"):
                keys.append((table, action["Key"]))
        return keys

    def _compute_write(self, call: Call) -> None:
        transactional = call.operation == "TransactWriteItems"
        for ref, before in call.before.items():
            table, key = json.loads(ref)
            after = self._get(table, key)
            call.add_write(table, write_units(before, after, transactional=transactional))
            for index, (hash_key, range_key) in self.indexes.get(table, {}).items():
                was, now = _index_key(before, hash_key, range_key), _index_key(after, hash_key, range_key)
                units = 0.0
                if was is not None and was != now:  # the old entry leaves the index
                    units += write_units(before, None, transactional=transactional)
                if now is not None:
                    units += write_units(before if was == now else None, after, transactional=transactional)
                if units:
                    call.add_write(f"{table}/{index}", units)

    # Reads

    def _compute_read(self, call: Call, parsed: dict[str, Any]) -> None:
        params = call.params
        if call.operation == "GetItem":
            table = params["TableName"]
            item = self._get(table, params["Key"])  # the whole item: a projection does not make it cheaper
            consistent = params.get("ConsistentRead", False)
            call.computed.read[table] += read_units(item_size(item), consistent=consistent, minimum=1)
        elif call.operation == "Query":
            table = params["TableName"]
            if "IndexName" in params:
                table = f"{table}/{params['IndexName']}"
            size = sum(item_size(item) for item in parsed.get("Items", []))
            call.computed.read[table] += read_units(size, consistent=params.get("ConsistentRead", False))
        elif call.operation == "BatchGetItem":
            # Each key answered costs as a GetItem would: its item rounded up on its own, a missing one the minimum.
            for table, request in params["RequestItems"].items():
                consistent = request.get("ConsistentRead", False)
                found = {
                    self._ref(table, self._key_of(table, item)): item for item in parsed["Responses"].get(table, [])
                }
                unprocessed = parsed.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
                skipped = {self._ref(table, key) for key in unprocessed}
                for key in request["Keys"]:
                    ref = self._ref(table, key)
                    if ref not in skipped:
                        units = read_units(item_size(found.get(ref)), consistent=consistent, minimum=1)
                        call.computed.read[table] += units
                        if ref not in found:
                            call.missing[table] += units

    # Items

    def _key_of(self, table: str, item: Item) -> Item:
        if table not in self._key_schemas:
            schema = self.raw.describe_table(TableName=table)["Table"]["KeySchema"]
            self._key_schemas[table] = [entry["AttributeName"] for entry in schema]
        return {name: item[name] for name in self._key_schemas[table]}

    def _get(self, table: str, key: Item) -> Item | None:
        return self.raw.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")

    @staticmethod
    def _ref(table: str, key: Item) -> str:
        return json.dumps([table, key], sort_keys=True)


def _index_key(item: Item | None, hash_key: str, range_key: str | None) -> tuple[str, ...] | None:
    """Return an item's key in an index, or None when the item is not in it (a key attribute missing)."""
    if not item or hash_key not in item or (range_key and range_key not in item):
        return None
    return (json.dumps(item[hash_key]), json.dumps(item[range_key]) if range_key else "")


def _as_list(consumed: Any) -> list[dict[str, Any]]:
    if consumed is None:
        return []
    return consumed if isinstance(consumed, list) else [consumed]
