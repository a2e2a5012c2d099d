"""W9: writers appending to distinct streams, 1 to 16 of them at once.

Each writer owns one stream and appends single events to it for a fixed time; no two writers touch
the same stream, so whatever they wait on is the store's, not each other's. Two paths:

- backend: `backend.append` of one event (no Django transaction, no read model);
- repository: `carts.save` after `add_item`, as an add-item request does it (a snapshot every 100
  events; on PostgreSQL `store.append` in the Django database's transaction with the inline cart read
  model; on DynamoDB neither, as `store.append` has it when positions come after the append);
- raw (DynamoDB only, run first): an append's three items (event and uuid guard; the stream head in a
  table with a change stream) in one TransactWriteItems by boto3 alone, no store code: what DynamoDB
  Local itself allows through the same proxy, the ceiling of the other two paths on this machine.

On DynamoDB the backend talks to DynamoDB Local through bench/latency_proxy.py, which adds a fixed
delay to every request (10 ms by default), so the run waits on latency as it would on the real service
rather than on this machine's cores, and counts TransactWriteItems as they go over the wire. Django's
own database is SQLite there, as `bin/run` has it. The backend runs with GLOBAL_ORDER "indexer" (whatever
the settings say): appends write only their own stream's items, and the indexer
(eventstore.backends.dynamodb_indexer), run in a thread of this process on a backend and a proxy of its
own (the same delay, its requests counted apart from the writers'), gives them their positions while the
writers write.

After each round (on DynamoDB once the indexer has indexed everything: `Indexer.pending() == 0`) read_all,
from the position before the round, must return every acknowledged event exactly once and each
stream's events in version order; a round that does not stops the bench.

`indexer_delay` measures, under a steady load (4 writers, 10 s), the time from an append's answer until
a reader polling read_all gets it, and until the indexer step that gave it its position ended.
"""

from __future__ import annotations

import bisect
import itertools
import math
import os
import statistics
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from django.db import connections

from carts.domain import ShoppingCart
from carts.repository import carts
from eventstore import store
from eventstore.backends.base import EventStoreBackend, NewEvent
from eventstore.conf import backend_config
from eventstore.repository import Repository

from .common import item_name, item_payload, progress, timed_threads
from .latency_proxy import LatencyProxy

if TYPE_CHECKING:
    from eventstore.backends.dynamodb import DynamoDBBackend

PATHS = ("backend", "repository")
#: DynamoDB only, first: the append's three items written by boto3 alone (no store code), the ceiling the
#: emulator behind the proxy allows on this machine (run on a loaded machine, it shows the load is the limit).
RAW_PATH = "raw"
#: The issue's targets on DynamoDB: one transaction per append at every count, and 8 writers at least
#: 3x the appends/s of 1.
SCALE_WRITERS, SCALE_TARGET = 8, 3.0
#: The DynamoDB backend's mode under test: appends share no item, the indexer orders them afterwards.
GLOBAL_ORDER = "indexer"
#: How long a round's events may take to be indexed once its writers stop before the bench gives up.
SETTLE_TIMEOUT = 120.0


@dataclass
class Round:
    """One fixed-time round: `writers` threads appending to a stream each through `path`."""

    path: str
    writers: int
    seconds: float = 0.0
    appends: list[int] = field(default_factory=list)  # acknowledged appends per writer
    failures: Counter[str] = field(default_factory=Counter)  # failed appends by error class
    failure_examples: dict[str, str] = field(default_factory=dict)
    transactions: int | None = None  # the writers' TransactWriteItems requests (DynamoDB only)
    indexer_transactions: int | None = None  # the indexer's, from the round's start until all was indexed
    settle_seconds: float | None = None  # from the writers' end until the indexer had indexed every append
    acknowledged: dict[uuid.UUID, list[int]] = field(default_factory=dict)  # versions per stream
    read_back: int = 0
    landed_unacknowledged: int = 0  # events read back that no answer acknowledged (a failed save's)

    @property
    def total(self) -> int:
        return sum(self.appends)

    @property
    def rate(self) -> float:
        return self.total / self.seconds

    @property
    def transactions_per_append(self) -> float | None:
        if self.transactions is None:
            return None
        return self.transactions / max(self.total, 1)

    @property
    def indexer_transactions_per_append(self) -> float | None:
        if self.indexer_transactions is None:
            return None
        return self.indexer_transactions / max(self.total, 1)

    @property
    def busiest_share(self) -> float:
        return max(self.appends) / max(self.total, 1)


class ScaleOut:
    """Run W9's rounds on the configured store (through a latency proxy on DynamoDB, with the indexer)."""

    def __init__(
        self,
        vendor: str,
        writer_counts: tuple[int, ...],
        seconds: float,
        latency_ms: float,
        *,
        indexer_poll: float = 0.2,
        delay_writers: int = 4,
        delay_seconds: float = 10.0,
    ) -> None:
        self.vendor = vendor
        self.writer_counts = writer_counts
        self.seconds = seconds
        self.latency_ms = latency_ms
        self.indexer_poll = indexer_poll
        self.delay_writers = delay_writers
        self.delay_seconds = delay_seconds
        self.proxy: LatencyProxy | None = None
        self.indexer: IndexerThread | None = None
        self.delay: IndexerDelay | None = None  # measured after the rounds (DynamoDB only)

    def run(self) -> list[Round]:
        rounds = []
        if self.vendor == "dynamodb":
            endpoint = os.environ["AWS_ENDPOINT_URL_DYNAMODB"]  # bench/environment.py checked it is set
            self.proxy = LatencyProxy(endpoint, delay=self.latency_ms / 1000).start()
            backend = proxied_backend(self.proxy.url, max(self.writer_counts))
            self.indexer = IndexerThread(endpoint, self.latency_ms / 1000, self.indexer_poll).start()
            # Whatever earlier workloads appended gets its positions before the first round reads its start.
            self.indexer.settle()
        else:
            backend = store.get_backend()
        # The carts repository, pinned to the backend this workload measures.
        policy = carts.snapshot_policy
        repository = Repository(ShoppingCart, snapshot_every=policy.interval if policy else None, backend=backend)
        try:
            raw = RawAppends(backend.client, backend.tables["streams"]) if self.proxy is not None else None
            for path in ((RAW_PATH,) if raw else ()) + PATHS:
                # Untimed: the new client's connections, the proxy's threads, the path's first calls.
                if raw is not None and path == RAW_PATH:
                    self.raw_round(raw, 2, min(self.seconds, 1.0))
                    for writers in self.writer_counts:
                        done = self.raw_round(raw, writers)
                        rounds.append(done)
                        progress(
                            f"{self.vendor} W9 raw boto3 {writers} writers: {done.rate:,.1f} transactions/s, "
                            f"{done.transactions_per_append:.2f} TransactWriteItems/append"
                        )
                    raw.drop()
                    continue
                self.round(backend, repository, path, 2, min(self.seconds, 1.0))
                for writers in self.writer_counts:
                    done = self.round(backend, repository, path, writers)
                    rounds.append(done)
                    tx = done.transactions_per_append
                    itx = done.indexer_transactions_per_append
                    progress(
                        f"{self.vendor} W9 {path} {writers} writers: {done.rate:,.1f} appends/s"
                        + (f", {tx:.2f} TransactWriteItems/append" if tx is not None else "")
                        + (f" (indexer {itx:.3f}/append, indexed {done.settle_seconds:.2f} s after)" if itx else "")
                        + (f", failed {dict(done.failures)}" if done.failures else "")
                        + f", busiest writer {done.busiest_share:.0%}"
                    )
            if self.indexer is not None:
                self.delay = indexer_delay(backend, self.indexer, self.delay_writers, self.delay_seconds)
                progress(f"{self.vendor} W9 indexer delay: {self.delay.describe()}")
        finally:
            if self.indexer is not None:
                self.indexer.stop()
            if self.proxy is not None:
                self.proxy.stop()
                backend.close()
        return rounds

    def raw_round(self, raw: RawAppends, writers: int, seconds: float | None = None) -> Round:
        """Run `writers` threads sending an append's items with boto3 alone, a stream each, for `seconds`."""
        done = Round(RAW_PATH, writers, appends=[0] * writers)
        barrier = threading.Barrier(writers + 1)
        errors: list[BaseException] = []
        deadline = [0.0]

        def work(index: int) -> None:
            stream = uuid.uuid4()
            try:
                barrier.wait()
                while time.perf_counter() < deadline[0]:
                    raw.append(stream, done.appends[index])
                    done.appends[index] += 1
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,), name=f"w9-raw-{i}") for i in range(writers)]
        assert self.proxy is not None
        before = self.proxy.counts()["TransactWriteItems"]
        deadline[0] = time.perf_counter() + (seconds or self.seconds) + 0.01
        done.seconds = timed_threads(threads, barrier, errors)
        done.transactions = self.proxy.counts()["TransactWriteItems"] - before
        return done

    def round(
        self,
        backend: EventStoreBackend,
        repository: Repository[ShoppingCart],
        path: str,
        writers: int,
        seconds: float | None = None,
    ) -> Round:
        """Run `writers` threads appending to a stream each through `path` for `seconds`; check read_all."""
        done = Round(path, writers, appends=[0] * writers)
        # The previous round was indexed whole before it was checked: nothing of it lies after this position.
        start_position = backend.last_position()
        indexer_before = self.indexer.transactions() if self.indexer is not None else 0
        # The streams exist before the clock starts: the rounds measure appends, not stream creation.
        streams = [repository.save(ShoppingCart.open()) for _ in range(writers)]
        for cart in streams:
            done.acknowledged[cart.uuid] = [1]
        barrier = threading.Barrier(writers + 1)
        errors: list[BaseException] = []
        lock = threading.Lock()
        deadline = [0.0]

        def fail(exc: Exception) -> None:
            name = type(exc).__name__
            with lock:
                done.failures[name] += 1
                done.failure_examples.setdefault(name, str(exc).splitlines()[0][:300])

        def work(index: int) -> None:
            cart = streams[index]
            versions = done.acknowledged[cart.uuid]
            expected = cart.version
            try:
                barrier.wait()
                n = 0
                while time.perf_counter() < deadline[0]:
                    n += 1
                    try:
                        if path == "backend":
                            event = NewEvent(name="ItemAdded", data=item_payload(n))
                            backend.append(cart.uuid, cart.aggregate_type, expected, [event])
                            expected += 1
                        else:
                            cart.add_item(item_name(n))
                            repository.save(cart)
                            expected = cart.version
                        versions.append(expected)
                        done.appends[index] += 1
                    except Exception as exc:  # counted by class and reported; the writer goes on
                        fail(exc)
                        # Nothing was acknowledged; whether it landed anyway is for read_all to say. Go on
                        # from the stream as stored.
                        cart = resync(repository, cart)
                        expected = cart.version
            except BaseException as exc:
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=work, args=(i,), name=f"w9-writer-{i}") for i in range(writers)]
        before = self.proxy.counts()["TransactWriteItems"] if self.proxy else 0
        deadline[0] = time.perf_counter() + (seconds or self.seconds) + 0.01  # released by the barrier right away
        done.seconds = timed_threads(threads, barrier, errors)
        if self.proxy is not None:
            # Only the writers used this client meanwhile: these are the appends' transactions alone.
            done.transactions = self.proxy.counts()["TransactWriteItems"] - before
        if self.indexer is not None:
            # Appends returned position 0: read_all shows them once the indexer has given them positions.
            done.settle_seconds = self.indexer.settle()
            done.indexer_transactions = self.indexer.transactions() - indexer_before
        check_read_all(backend, start_position, done)
        return done


def resync(repository: Repository[ShoppingCart], cart: ShoppingCart, attempts: int = 10) -> ShoppingCart:
    """Return the cart as stored (a failed save leaves its changes pending, and they may have landed)."""
    for attempt in range(attempts):
        try:
            return repository.load(cart.uuid)
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def proxied_backend(url: str | None, writers: int) -> DynamoDBBackend:
    """Return a DynamoDB backend configured as the default one but with GLOBAL_ORDER "indexer", its client
    talking to `url` (None: the configured endpoint, without the proxy).

    The client's connection pool holds a connection per writer (botocore's default is 10).
    """
    import boto3

    from eventstore.backends.dynamodb import DynamoDBBackend

    config = backend_config("default")
    backend = DynamoDBBackend(**{**config["OPTIONS"], "GLOBAL_ORDER": GLOBAL_ORDER})
    assert not backend.positions_on_append
    client_config = Config(retries={"mode": "standard"}, max_pool_connections=writers + 4)
    backend.__dict__["client"] = boto3.session.Session().client("dynamodb", endpoint_url=url, config=client_config)
    return backend


class RawAppends:
    """An append's three items written by boto3 alone, in tables of their own shaped like the store's.

    One TransactWriteItems: the event and its uuid guard (conditioned Puts) in a table without a change
    stream, the stream head (a Put conditioned on the previous version) in one with a change stream, as
    the store's streams table has: what DynamoDB Local does for such a transaction, with no store code.
    """

    def __init__(self, client: Any, streams_table: str) -> None:
        self.client = client
        self.items_table = f"{streams_table}_w9raw_items"
        self.heads_table = f"{streams_table}_w9raw_heads"
        key: dict[str, Any] = {
            "KeySchema": [{"AttributeName": "K", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "K", "AttributeType": "S"}],
        }
        client.create_table(TableName=self.items_table, BillingMode="PAY_PER_REQUEST", **key)
        client.create_table(
            TableName=self.heads_table,
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
            **key,
        )
        for table in (self.items_table, self.heads_table):
            client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1})

    def append(self, stream: uuid.UUID, version: int) -> None:
        """Write event version + 1 of `stream`, its guard, and move the head from `version`."""
        new = str(version + 1)
        absent = "attribute_not_exists(K)"
        self.client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.items_table,
                        "Item": {"K": {"S": f"{stream}#{new}"}, "Data": {"S": '{"item": "raw"}'}},
                        "ConditionExpression": absent,
                    }
                },
                {
                    "Put": {
                        "TableName": self.items_table,
                        "Item": {"K": {"S": f"guard#{uuid.uuid4()}"}, "Stream": {"S": str(stream)}},
                        "ConditionExpression": absent,
                    }
                },
                {
                    "Put": {
                        "TableName": self.heads_table,
                        "Item": {"K": {"S": str(stream)}, "Version": {"N": new}},
                        "ConditionExpression": f"{absent} OR Version = :v" if version else absent,
                        **({"ExpressionAttributeValues": {":v": {"N": str(version)}}} if version else {}),
                    }
                },
            ]
        )

    def drop(self) -> None:
        for table in (self.items_table, self.heads_table):
            self.client.delete_table(TableName=table)


class IndexerThread:
    """The DynamoDB indexer (`Indexer.run`, as `index_events` runs it) in a thread of this process.

    It has a backend and a latency proxy of its own (the writers' delay), so that its requests, change
    stream reads included, wait as the writers' do and are counted apart from theirs.
    """

    def __init__(self, endpoint: str, delay: float, poll_seconds: float) -> None:
        import boto3

        from eventstore.backends.dynamodb_indexer import Indexer

        self.poll_seconds = poll_seconds
        self.proxy = LatencyProxy(endpoint, delay=delay).start()
        self.backend = proxied_backend(self.proxy.url, 2)
        self.indexer = Indexer(self.backend, owner=f"bench-w9-{os.getpid()}")
        streams = boto3.session.Session().client(
            "dynamodbstreams", endpoint_url=self.proxy.url, config=Config(retries={"mode": "standard"})
        )
        self.indexer.__dict__["streams_client"] = streams
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="w9-indexer", daemon=True)
        self.error: BaseException | None = None
        self.steps = 0
        self.indexed = 0
        self.step_times: list[float] = []  # when each step ended (perf_counter)
        self.step_events: list[int] = []  # and the events it indexed
        self.cpu_seconds = 0.0  # the indexer thread's own CPU time (it shares the GIL with the writers)

    def _run(self) -> None:
        started = time.thread_time()
        try:
            self.indexer.run(stop=self._stop.is_set, poll_seconds=self.poll_seconds, on_step=self._stepped)
        except BaseException as exc:
            self.error = exc
        finally:
            self.cpu_seconds = time.thread_time() - started

    def _stepped(self, done: Any) -> None:
        self.steps += 1
        self.step_times.append(time.perf_counter())
        self.step_events.append(done.events)
        self.indexed += done.events

    def start(self) -> IndexerThread:
        self._thread.start()
        return self

    def transactions(self) -> int:
        """Return the indexer's TransactWriteItems requests so far."""
        return self.proxy.counts()["TransactWriteItems"]

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> float:
        """Wait until every appended event has its position; return the seconds it took."""
        started = time.perf_counter()
        while True:
            if self.error is not None:
                raise RuntimeError(f"W9: the indexer stopped: {self.error!r}") from self.error
            if self.indexer.pending() == 0:
                return time.perf_counter() - started
            if time.perf_counter() - started > timeout:
                raise AssertionError(f"W9: {self.indexer.pending()} events still unindexed after {timeout:.0f} s")
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.proxy.stop()
        self.backend.close()


@dataclass
class IndexerDelay:
    """Steady writers' appends and when read_all first showed each: the indexer's delay."""

    writers: int
    seconds: float
    poll_seconds: float
    reader_poll_seconds: float
    latency_ms: float
    delays_ms: list[float] = field(default_factory=list)  # answered -> the reader got it
    indexed_ms: list[float] = field(default_factory=list)  # answered -> the step that indexed it ended
    appended: int = 0
    unseen: int = 0  # acknowledged appends read_all never showed (must be 0)
    indexer_steps: int = 0
    indexer_transactions: int = 0
    step_ms: list[float] = field(default_factory=list)  # between the indexer's steps while the writers wrote
    requests_per_step: dict[str, float] = field(default_factory=dict)  # the indexer's, while the writers wrote

    @staticmethod
    def percentile(values: list[float], q: float) -> float:
        ordered = sorted(values)
        if not ordered:
            return float("nan")
        return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]

    def summary(self) -> dict[str, Any]:
        return {
            "p50_ms": round(self.percentile(self.delays_ms, 50), 1),
            "p99_ms": round(self.percentile(self.delays_ms, 99), 1),
            "max_ms": round(max(self.delays_ms, default=float("nan")), 1),
            "mean_ms": round(statistics.fmean(self.delays_ms), 1) if self.delays_ms else None,
            "indexed_p50_ms": round(self.percentile(self.indexed_ms, 50), 1),
            "indexed_p99_ms": round(self.percentile(self.indexed_ms, 99), 1),
            "appended": self.appended,
            "seen": len(self.delays_ms),
            "unseen": self.unseen,
            "write_rate": round(self.appended / self.seconds, 1),
            "writers": self.writers,
            "seconds": round(self.seconds, 2),
            "poll_seconds": self.poll_seconds,
            "reader_poll_seconds": self.reader_poll_seconds,
            "latency_ms_per_request": self.latency_ms,
            "indexer_steps": self.indexer_steps,
            "indexer_transactions": self.indexer_transactions,
            "indexer_step_p50_ms": round(self.percentile(self.step_ms, 50), 1),
            "indexer_step_p99_ms": round(self.percentile(self.step_ms, 99), 1),
            "indexer_requests_per_step": self.requests_per_step,
            "indexer": "Indexer.run in a thread of the bench process, through its own latency proxy",
            "reader": "read_all polled on a client without the proxy",
        }

    def describe(self) -> str:
        s = self.summary()
        return (
            f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms, max {s['max_ms']} ms (to the indexing step's end: p50 "
            f"{s['indexed_p50_ms']} ms, p99 {s['indexed_p99_ms']} ms) over {s['seen']} of "
            f"{s['appended']} appends ({s['write_rate']}/s from {self.writers} writers; indexer poll "
            f"{self.poll_seconds:g} s, {self.indexer_steps} steps of p50 {s['indexer_step_p50_ms']} ms, "
            f"{self.indexer_transactions} transactions)"
        )


def indexer_delay(
    backend: DynamoDBBackend,
    indexer: IndexerThread,
    writers: int,
    seconds: float,
    reader_poll: float = 0.02,
) -> IndexerDelay:
    """Run `writers` threads appending flat out to a stream each through `backend` for `seconds`, and a
    reader polling read_all every `reader_poll` seconds; return the delay from each append's answer to
    the moment the reader first got it.

    The reader reads DynamoDB Local without the proxy, so that the figure is the indexer's delay (plus at
    most one reader poll and one local read), not the reader's own round trips. As a cross-check that
    costs no request, the delay is also taken to the end of the indexer step that gave the event its
    position (positions are dense: after a step the log head is the start plus the events indexed so far).
    """
    result = IndexerDelay(writers, seconds, indexer.poll_seconds, reader_poll, indexer.proxy.delay * 1000)
    streams = [uuid.uuid4() for _ in range(writers)]
    for stream in streams:
        backend.append(stream, "ShoppingCart", 0, [NewEvent(name="CartOpened", data={})])
    indexer.settle()
    start_position = backend.last_position()
    reader_backend = proxied_backend(None, 1)
    acked: dict[tuple[uuid.UUID, int], float] = {}
    seen: dict[tuple[uuid.UUID, int], float] = {}
    positions: dict[tuple[uuid.UUID, int], int] = {}
    stop_reading = threading.Event()
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers + 1)
    deadline = [0.0]
    steps_before, transactions_before, requests_before = indexer.steps, indexer.transactions(), indexer.proxy.counts()

    def read() -> None:
        position = start_position
        try:
            while not stop_reading.is_set():
                for event in reader_backend.read_all(position):
                    seen.setdefault((event.aggregate_uuid, event.version), time.perf_counter())
                    positions[(event.aggregate_uuid, event.version)] = event.position
                    position = event.position
                time.sleep(reader_poll)
        except BaseException as exc:
            errors.append(exc)

    def write(index: int) -> None:
        stream = streams[index]
        version = 1
        try:
            barrier.wait()
            while time.perf_counter() < deadline[0]:
                event = NewEvent(name="ItemAdded", data=item_payload(version))
                backend.append(stream, "ShoppingCart", version, [event])
                acked[(stream, version + 1)] = time.perf_counter()
                version += 1
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=read, name="w9-reader", daemon=True)
    reader.start()
    threads = [threading.Thread(target=write, args=(i,), name=f"w9-delay-writer-{i}") for i in range(writers)]
    deadline[0] = time.perf_counter() + seconds + 0.01
    try:
        result.seconds = timed_threads(threads, barrier, errors)
        written_until, while_writing = time.perf_counter(), indexer.proxy.counts()
        indexer.settle()
        # The reader gets what the indexer has indexed within a poll: give it a moment to see the last ones.
        give_up = time.perf_counter() + 10
        while not acked.keys() <= seen.keys() and time.perf_counter() < give_up and not errors:
            time.sleep(0.05)
    finally:
        stop_reading.set()
        reader.join(timeout=30)
        reader_backend.close()
    if errors:
        raise errors[0]
    result.appended = len(acked)
    result.delays_ms = [(seen[key] - at) * 1000 for key, at in acked.items() if key in seen]
    result.unseen = result.appended - len(result.delays_ms)
    steps = indexer.steps - steps_before
    result.indexer_steps = steps
    result.indexer_transactions = indexer.transactions() - transactions_before
    window = [t for t in indexer.step_times[steps_before:] if t <= written_until]
    requests = while_writing - requests_before
    result.requests_per_step = {name: round(n / max(len(window), 1), 2) for name, n in sorted(requests.items())}
    result.step_ms = [(b - a) * 1000 for a, b in itertools.pairwise(window)]
    # The step that indexed each event: the first whose running total of events reaches its position.
    totals = list(itertools.accumulate(indexer.step_events[steps_before:]))
    ends = indexer.step_times[steps_before:]
    for key, at in acked.items():
        if key in positions:
            step = bisect.bisect_left(totals, positions[key] - start_position)
            if step < len(ends):
                result.indexed_ms.append((ends[step] - at) * 1000)
    return result


def check_read_all(backend: EventStoreBackend, start_position: int, done: Round) -> None:
    """Check that read_all returns every acknowledged event once, each stream in version order."""
    seen: Counter[tuple[uuid.UUID, int]] = Counter()
    last: dict[uuid.UUID, int] = {}
    out_of_order = []
    strangers = 0
    for event in backend.read_all(start_position):
        if event.aggregate_uuid not in done.acknowledged:
            strangers += 1
            continue
        key = (event.aggregate_uuid, event.version)
        seen[key] += 1
        if event.version <= last.get(event.aggregate_uuid, 0):
            out_of_order.append(key)
        last[event.aggregate_uuid] = event.version
    done.read_back = sum(seen.values())
    acknowledged = {(stream, version) for stream, versions in done.acknowledged.items() for version in versions}
    missing = acknowledged - set(seen)
    twice = [key for key, count in seen.items() if count > 1]
    done.landed_unacknowledged = len(set(seen) - acknowledged)
    problems = []
    if missing:
        problems.append(f"{len(missing)} acknowledged events missing, e.g. {sorted(missing)[:3]}")
    if twice:
        problems.append(f"{len(twice)} events read more than once, e.g. {twice[:3]}")
    if out_of_order:
        problems.append(f"{len(out_of_order)} events out of their stream's version order, e.g. {out_of_order[:3]}")
    if strangers:
        problems.append(f"{strangers} events of streams no writer of this round wrote")
    if problems:
        raise AssertionError(
            f"W9 {done.path} {done.writers} writers: read_all after position {start_position} is wrong: "
            + "; ".join(problems)
        )


def row_extra(done: Round, latency_ms: float | None) -> dict[str, Any]:
    """Return what a W9 row records besides its appends/s."""
    tx = done.transactions_per_append
    itx = done.indexer_transactions_per_append
    return {
        "path": done.path,
        "writers": done.writers,
        "seconds": round(done.seconds, 2),
        "appends": done.total,
        "appends_per_writer": done.appends,
        "transact_write_items": done.transactions,
        "transactions_per_append": None if tx is None else round(tx, 3),
        "indexer_transact_write_items": done.indexer_transactions,
        "indexer_transactions_per_append": None if itx is None else round(itx, 3),
        "indexed_seconds_after_round": None if done.settle_seconds is None else round(done.settle_seconds, 2),
        "global_order": GLOBAL_ORDER if done.transactions is not None and done.path != RAW_PATH else None,
        "failed": sum(done.failures.values()),
        "failures": dict(done.failures),
        "failure_examples": done.failure_examples,
        "busiest_writer_share": round(done.busiest_share, 3),
        "read_all_events": done.read_back,
        "landed_unacknowledged": done.landed_unacknowledged,
        "latency_ms_per_request": latency_ms,
    }
