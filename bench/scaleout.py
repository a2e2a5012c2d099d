"""W9: writers appending to distinct streams, 1 to 16 of them at once.

Each writer owns one stream and appends single events to it for a fixed time; no two writers touch
the same stream, so whatever they wait on is the store's, not each other's. Two paths:

- backend: `backend.append` of one event (no Django transaction, no read model);
- repository: `carts.save` after `add_item`, as an add-item request does it (`store.append` in the
  Django database's transaction, the inline cart read model, a snapshot every 100 events).

On DynamoDB the backend talks to DynamoDB Local through bench/latency_proxy.py, which adds a fixed
delay to every request (10 ms by default), so the run waits on latency as it would on the real service
rather than on this machine's cores, and counts TransactWriteItems as they go over the wire. Django's
own database is SQLite there, as `bin/run` has it.

After each round read_all, from the position before the round, must return every acknowledged event
exactly once and each stream's events in version order; a round that does not stops the bench.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config
from django.db import connections

from carts.domain import ShoppingCart
from carts.repository import carts
from eventstore import store
from eventstore.backends.base import EventStoreBackend, NewEvent
from eventstore.repository import Repository

from .common import item_name, item_payload, progress, timed_threads
from .latency_proxy import LatencyProxy

PATHS = ("backend", "repository")
#: The issue's targets on DynamoDB: one transaction per append at every count, and 8 writers at least
#: 3x the appends/s of 1.
SCALE_WRITERS, SCALE_TARGET = 8, 3.0


@dataclass
class Round:
    """One fixed-time round: `writers` threads appending to a stream each through `path`."""

    path: str
    writers: int
    seconds: float = 0.0
    appends: list[int] = field(default_factory=list)  # acknowledged appends per writer
    failures: Counter[str] = field(default_factory=Counter)  # failed appends by error class
    failure_examples: dict[str, str] = field(default_factory=dict)
    transactions: int | None = None  # TransactWriteItems requests (DynamoDB only)
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
    def busiest_share(self) -> float:
        return max(self.appends) / max(self.total, 1)


class ScaleOut:
    """Run W9's rounds on the configured store (through a latency proxy on DynamoDB)."""

    def __init__(self, vendor: str, writer_counts: tuple[int, ...], seconds: float, latency_ms: float) -> None:
        self.vendor = vendor
        self.writer_counts = writer_counts
        self.seconds = seconds
        self.latency_ms = latency_ms
        self.proxy: LatencyProxy | None = None

    def run(self) -> list[Round]:
        rounds = []
        if self.vendor == "dynamodb":
            endpoint = os.environ["AWS_ENDPOINT_URL_DYNAMODB"]  # bench/environment.py checked it is set
            self.proxy = LatencyProxy(endpoint, delay=self.latency_ms / 1000).start()
            backend = proxied_backend(self.proxy.url, max(self.writer_counts))
        else:
            backend = store.get_backend()
        # The carts repository, pinned to the backend this workload measures.
        policy = carts.snapshot_policy
        repository = Repository(ShoppingCart, snapshot_every=policy.interval if policy else None, backend=backend)
        try:
            for path in PATHS:
                # Untimed: the new client's connections, the proxy's threads, the path's first calls.
                self.round(backend, repository, path, 2, min(self.seconds, 1.0))
                for writers in self.writer_counts:
                    done = self.round(backend, repository, path, writers)
                    rounds.append(done)
                    tx = done.transactions_per_append
                    progress(
                        f"{self.vendor} W9 {path} {writers} writers: {done.rate:,.1f} appends/s"
                        + (f", {tx:.2f} TransactWriteItems/append" if tx is not None else "")
                        + (f", failed {dict(done.failures)}" if done.failures else "")
                        + f", busiest writer {done.busiest_share:.0%}"
                    )
        finally:
            if self.proxy is not None:
                self.proxy.stop()
                backend.close()
        return rounds

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
        start_position = backend.last_position()
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
            done.transactions = self.proxy.counts()["TransactWriteItems"] - before
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


def proxied_backend(url: str, writers: int) -> EventStoreBackend:
    """Return a DynamoDB backend configured as the default one, its client talking to `url`.

    The client's connection pool holds a connection per writer (botocore's default is 10).
    """
    import boto3

    backend = store.build_backend("default")
    config = Config(retries={"mode": "standard"}, max_pool_connections=writers + 4)
    backend.__dict__["client"] = boto3.session.Session().client("dynamodb", endpoint_url=url, config=config)
    return backend


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
    return {
        "path": done.path,
        "writers": done.writers,
        "seconds": round(done.seconds, 2),
        "appends": done.total,
        "appends_per_writer": done.appends,
        "transact_write_items": done.transactions,
        "transactions_per_append": None if tx is None else round(tx, 3),
        "failed": sum(done.failures.values()),
        "failures": dict(done.failures),
        "failure_examples": done.failure_examples,
        "busiest_writer_share": round(done.busiest_share, 3),
        "read_all_events": done.read_back,
        "landed_unacknowledged": done.landed_unacknowledged,
        "latency_ms_per_request": latency_ms,
    }
