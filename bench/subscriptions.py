"""W10, W11: subscriptions (eventstore.worker) on the configured database.

W10 catch-up: a worker (`Worker([...]).run(until_caught_up=True)`, in this process) delivers N events to
a new no-op subscription, against a plain `backend.read_all` loop over the same N events (the baseline).
Each subscription is created at the head first (start="now"), then the N events are written: so it
delivers exactly those N, whatever earlier workloads left in the store.

W11 commit-to-handler delay: `manage.py run_subscriptions` in a subprocess (bench/subscriber.py: the
command itself, with one extra subscription registered) while this process appends one event at a
steady rate. The writer notes the wall time each append returned (committed), the handler the wall
time it received the event; both on this machine's clock, joined on (stream, version) afterwards.
"""

from __future__ import annotations

import math
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carts.domain import ShoppingCart
from eventstore import store
from eventstore.events import registry as decoded
from eventstore.models import SubscriptionState
from eventstore.subscriptions import Delivery, Subscription
from eventstore.worker import Worker

from . import environment, ours
from .common import progress
from .roundtrips import count_statements


def noop(delivery: Delivery) -> None:
    """The W10 handler: does nothing, so the figure is the worker's own cost."""


def write_events(count: int, per_save: int = 100) -> None:
    """Append `count` events: carts of `per_save` events (fewer when the backend takes fewer per append)."""
    per_save = ours.max_per_append(per_save)
    written = 0
    while written < count:
        size = min(per_save, count - written)
        cart = ShoppingCart.open()
        for n in range(1, size):
            cart.add_item(f"sku-{n % 100:06d} organic cotton t-shirt, blue")
        ours.plain.save(cart)
        written += size


@dataclass
class CatchUp:
    events: int
    #: batch_size (None: Subscription's default) -> seconds of each run, and events each run delivered
    seconds: dict[int | None, list[float]] = field(default_factory=dict)
    delivered: dict[int | None, list[int]] = field(default_factory=dict)
    baseline_seconds: list[float] = field(default_factory=list)
    baseline_read: list[int] = field(default_factory=list)
    decode_seconds: list[float] = field(default_factory=list)
    #: batch_size -> statements (and DynamoDB calls) one whole catch-up sent, by leading words
    statements: dict[int | None, dict[str, int]] = field(default_factory=dict)


def catch_up(events: int, repeat: int, batch_sizes: tuple[int | None, ...] = (None,)) -> CatchUp:
    """Time new no-op subscriptions (`repeat` of each batch size) catching up over `events` new events,
    and as many `read_all` loops over them, taking turns; and, for information, read_all plus decoding
    each event as the worker does."""
    backend = store.get_backend()
    tag = uuid.uuid4().hex[:8]
    subscriptions = {
        size: [
            Subscription(
                f"bench_catchup_{tag}_{size}_{n}", noop, start="now", **({} if size is None else {"batch_size": size})
            )
            for n in range(repeat + 1)  # the last one's run is counted, not timed
        ]
        for size in batch_sizes
    }
    # Each checkpoint starts at the head (start="now"): the first run creates it and delivers nothing.
    for subscription in (s for runs in subscriptions.values() for s in runs):
        Worker([subscription]).run(until_caught_up=True)
    start_position = backend.last_position()
    write_events(events)
    sum(1 for _ in backend.read_all(start_position))  # untimed: the first read warms caches (and DynamoDB Local's JIT)
    result = CatchUp(events, {size: [] for size in batch_sizes}, {size: [] for size in batch_sizes})
    for run in range(repeat):
        started = time.perf_counter()
        read = sum(1 for _ in backend.read_all(start_position))
        result.baseline_seconds.append(time.perf_counter() - started)
        result.baseline_read.append(read)
        for size, runs in subscriptions.items():
            started = time.perf_counter()
            tallies = Worker([runs[run]]).run(until_caught_up=True)
            result.seconds[size].append(time.perf_counter() - started)
            result.delivered[size].append(tallies[runs[run].name].delivered)
        started = time.perf_counter()
        for event in backend.read_all(start_position):
            decoded.decode(event.name, event.schema_version, event.data, event.aggregate_uuid, event.version)
        result.decode_seconds.append(time.perf_counter() - started)
    for size, runs in subscriptions.items():
        counted = count_statements(lambda subscription=runs[-1]: Worker([subscription]).run(until_caught_up=True))
        result.statements[size] = dict(Counter(counted["statements"]))
    return result


# W11


@dataclass
class Delay:
    poll_seconds: float
    appended: int
    delivered: int  # distinct appended events the handler received
    deliveries: int  # handler calls (more than delivered when some came twice)
    delays_ms: list[float]
    recorded_delays_ms: list[float]  # from the event's recorded_at instead of the append's return
    write_rate: float  # appends/s achieved
    exit_code: int | None
    worker_log: str

    @staticmethod
    def percentile(values: list[float], q: float) -> float:
        """Return the nearest-rank percentile: the smallest value at least q% of the values do not exceed."""
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
            "recorded_at_p50_ms": round(self.percentile(self.recorded_delays_ms, 50), 1),
            "recorded_at_p99_ms": round(self.percentile(self.recorded_delays_ms, 99), 1),
            "appended": self.appended,
            "delivered": self.delivered,
            "deliveries": self.deliveries,
            "write_rate": round(self.write_rate, 1),
            "poll_seconds": self.poll_seconds,
            "worker_exit_code": self.exit_code,
        }


def commit_to_handler(rate: float, seconds: float, poll_seconds: float | None = None) -> Delay:
    """Run `run_subscriptions` in a subprocess, append `rate` events/s for `seconds` here, and return the
    delay from each append's return to its delivery."""
    name = f"bench_delay_{uuid.uuid4().hex[:8]}"
    environment.VAR.mkdir(parents=True, exist_ok=True)
    out = environment.VAR / f"{name}.txt"
    log = environment.VAR / f"{name}.log"
    command = [sys.executable, "-m", "bench.subscriber", "--name", name, "--out", str(out)]
    if poll_seconds is not None:
        command += ["--poll", str(poll_seconds)]
    poll = poll_seconds if poll_seconds is not None else _poll_setting()
    with open(log, "w") as log_file:
        worker = subprocess.Popen(command, cwd=environment.BASE_DIR, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        _wait_for_lease(name, worker)
        appended, write_rate = _steady_writes(rate, seconds)
        deadline = time.monotonic() + 30 + 2 * poll
        while time.monotonic() < deadline and len(_handled(out)) < len(appended):
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            exit_code: int | None = worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            exit_code = None
    handled = _handled(out)
    received: dict[tuple[str, int], tuple[float, float]] = {}
    for stream, version, at, recorded in handled:
        received.setdefault((stream, version), (at, recorded))
    delays = [(received[key][0] - at) * 1000 for key, at in appended.items() if key in received]
    recorded_delays = [(received[key][0] - received[key][1]) * 1000 for key in appended if key in received]
    worker_log = log.read_text()[-2000:]
    out.unlink(missing_ok=True)
    log.unlink(missing_ok=True)
    return Delay(
        poll_seconds=poll,
        appended=len(appended),
        delivered=sum(1 for key in appended if key in received),
        deliveries=len(handled),
        delays_ms=delays,
        recorded_delays_ms=recorded_delays,
        write_rate=write_rate,
        exit_code=exit_code,
        worker_log=worker_log,
    )


def _poll_setting() -> float:
    from eventstore import conf

    return float(conf.get("SUBSCRIPTION_POLL_SECONDS"))


def _wait_for_lease(name: str, worker: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Wait until the worker holds the subscription's lease (it has created its checkpoint at the head)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"run_subscriptions exited with {worker.returncode} before taking the lease")
        if SubscriptionState.objects.filter(name=name).exclude(lease_owner="").exists():
            return
        time.sleep(0.1)
    raise RuntimeError(f"run_subscriptions did not take the lease of {name} within {timeout:.0f} s")


def _steady_writes(rate: float, seconds: float) -> tuple[dict[tuple[str, int], float], float]:
    """Open one cart (one event) every 1/rate s for `seconds`; return {(stream, 1): wall time the save
    returned} and the rate achieved (a late append does not make the next ones hurry)."""
    count = round(rate * seconds)
    appended: dict[tuple[str, int], float] = {}
    started = time.perf_counter()
    for n in range(count):
        wait = started + n / rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        cart = ShoppingCart.open()
        ours.plain.save(cart)
        appended[(str(cart.uuid), cart.version)] = time.time()
    elapsed = time.perf_counter() - started
    progress(f"appended {count} events in {elapsed:.1f} s ({count / elapsed:.1f}/s)")
    return appended, count / elapsed


def _handled(path: Path) -> list[tuple[str, int, float, float]]:
    """The handler's lines: stream, version, wall time received, recorded_at (complete lines only)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4:
            rows.append((parts[0], int(parts[1]), float(parts[2]), float(parts[3])))
    return rows
