"""Reading the DynamoDB backend's global order: read_all and last_position over the log table.

The log holds one index item per indexed range of a stream's versions, keyed by its first position
(Page = position // page size), and the log head with the last position; the indexer writes them
together in one transaction (or, with GLOBAL_ORDER "append", each append). Positions are dense, so a
reader checks that the index items it reads leave no gap below the head it read first, and it never
sees a position before the ones below it. The events themselves carry no position: it comes from the
index item.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from ..exceptions import EventStoreError
from . import dynamodb_items as items
from .base import StoredEvent
from .dynamodb_items import Item, N, S
from .dynamodb_writes import LOG_HEAD_KEY

MAX_BATCH_GET = 100


class GlobalLogReader:
    """read_all and last_position for the DynamoDB backend (which provides _call, _query and the tables)."""

    tables: dict[str, str]
    log_page_size: int

    def _call(self, operation: str, doing: str, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _query(self, doing: str, **kwargs: Any) -> Iterator[Item]:
        raise NotImplementedError

    def read_all(self, after_position: int = 0, *, batch_size: int = 1000) -> Iterator[StoredEvent]:
        position = max(after_position, 0)
        chunk = max(1, min(batch_size, MAX_BATCH_GET))
        while True:
            last = self.last_position()
            if position >= last:
                return
            keys: list[tuple[int, UUID, int]] = []
            for first, aggregate_uuid, from_version, count in self._commits(position + 1, last):
                # One index item may hold thousands of versions (a reconciliation, an indexer catching up):
                # fetch them a chunk at a time, so a reader that stops early reads little more than it took.
                for offset in range(count):
                    if position < first + offset <= last:
                        keys.append((first + offset, aggregate_uuid, from_version + offset))
                    if len(keys) >= chunk:
                        yield from self._fetch_events(keys)
                        keys = []
            yield from self._fetch_events(keys)
            position = last  # and look again: more may have landed meanwhile

    def _commits(self, start: int, end: int) -> Iterator[tuple[int, UUID, int, int]]:
        """Yield (first position, stream, first version, count) of the commits holding start..end, in order."""
        begin = None
        # The commit holding `start` begins at or before it: in its page, or near a page's start, the one before.
        for page in (start // self.log_page_size, start // self.log_page_size - 1):
            if page < 0:
                break
            found = self._call(
                "query",
                f"Reading the log at position {start}",
                TableName=self.tables["log"],
                KeyConditionExpression="Page = :page AND #p <= :start",
                ExpressionAttributeNames={"#p": "Position"},
                ExpressionAttributeValues={":page": N(page), ":start": N(start)},
                ScanIndexForward=False,
                Limit=1,
                ConsistentRead=True,
            )["Items"]
            if found:
                begin = int(found[0]["Position"]["N"])
                break
        if begin is None:
            raise EventStoreError(f"The log has no commit holding position {start}, below its head {end}.")
        expected = begin
        for page in range(begin // self.log_page_size, end // self.log_page_size + 1):
            commits = self._query(
                f"Reading the log from position {start}",
                TableName=self.tables["log"],
                KeyConditionExpression="Page = :page AND #p BETWEEN :begin AND :end",
                ExpressionAttributeNames={"#p": "Position"},
                ExpressionAttributeValues={":page": N(page), ":begin": N(begin), ":end": N(end)},
                ConsistentRead=True,
            )
            for commit in commits:
                first = int(commit["Position"]["N"])
                if first != expected:
                    raise EventStoreError(f"The log is missing positions {expected}-{first - 1}, below its head {end}.")
                count = int(commit["Count"]["N"])
                yield first, UUID(commit["AggregateUuid"]["S"]), int(commit["FromVersion"]["N"]), count
                expected = first + count
        if expected <= end:
            raise EventStoreError(f"The log is missing positions {expected}-{end}, below its head {end}.")

    def _fetch_events(self, keys: list[tuple[int, UUID, int]]) -> Iterator[StoredEvent]:
        """Yield the events at these (position, stream, version) keys, in the order given."""
        found: dict[tuple[str, str], Item] = {}
        for start in range(0, len(keys), MAX_BATCH_GET):
            request = {
                self.tables["events"]: {
                    "Keys": [
                        {"AggregateUuid": S(u), "Version": N(version)}
                        for _, u, version in keys[start : start + MAX_BATCH_GET]
                    ],
                    "ConsistentRead": True,
                }
            }
            while request:
                answer = self._call("batch_get_item", "Reading events by position", RequestItems=request)
                for item in answer["Responses"].get(self.tables["events"], []):
                    found[(item["AggregateUuid"]["S"], item["Version"]["N"])] = item
                request = answer.get("UnprocessedKeys") or {}
        for position, aggregate_uuid, version in keys:
            item = found.get((str(aggregate_uuid), str(version)))
            if item is None:
                raise EventStoreError(
                    f"The event at position {position} (stream {aggregate_uuid}, version {version}) is missing."
                )
            yield items.stored_event(item, position)

    def last_position(self) -> int:
        head = self._log_head("LastPosition")
        return int(head["LastPosition"]["N"]) if "LastPosition" in head else 0

    def _log_head(self, *attributes: str) -> Item:
        kwargs: dict[str, Any] = {"TableName": self.tables["log"], "Key": LOG_HEAD_KEY, "ConsistentRead": True}
        if attributes:
            kwargs["ProjectionExpression"] = ", ".join(f"#a{i}" for i in range(len(attributes)))
            kwargs["ExpressionAttributeNames"] = {f"#a{i}": name for i, name in enumerate(attributes)}
        return self._call("get_item", "Reading the log head", **kwargs).get("Item", {})
