"""Load from several processes through the HTTP API, and the checks that nothing acknowledged was lost.

Each worker process makes a fixed number of logical writes (add an item with a name no other write
uses), each retried with the same Idempotency-Key until it is acknowledged (2xx) or given up, and
reads in between. Workers speak only HTTP: they import neither Django nor the project.
"""

from __future__ import annotations

import http.client
import multiprocessing
import queue
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .live import request, token_header

#: Statuses after which the same logical write is sent again (same Idempotency-Key).
RETRIED = {409: "conflicts", 412: "precondition_failed", 503: "unavailable"}


@dataclass(frozen=True)
class WorkerPlan:
    """What one load process does: `writes` item additions spread over shared and own carts."""

    base_url: str
    token: str
    index: int
    shared_carts: tuple[str, ...]
    own_cart: str
    writes: int
    run_id: str
    seed: int = 0
    max_attempts: int = 60
    deadline_seconds: float = 120.0


@dataclass
class WorkerReport:
    """What one load process saw."""

    index: int
    acknowledged: list[tuple[str, str, int, int, float]] = field(default_factory=list)  # cart, name, qty, version, t
    gave_up: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def run_worker(plan: WorkerPlan, reports: multiprocessing.Queue, acked: Any = None, unavailable: Any = None) -> None:
    """Make the plan's writes and reads; put a WorkerReport on `reports`. Counters are shared Values."""
    rng = random.Random(plan.seed * 1000 + plan.index)
    report = WorkerReport(plan.index)
    started = time.monotonic()
    etags: dict[str, str] = {}
    auth = token_header(plan.token)
    for n in range(plan.writes):
        cart = plan.own_cart if rng.random() < 0.4 else rng.choice(plan.shared_carts)
        name = f"w{plan.index}-{n}"
        quantity = rng.randint(1, 5)
        key = f"{plan.run_id}-{name}"
        use_if_match = n % 5 == 4
        done = False
        for attempt in range(plan.max_attempts):
            if time.monotonic() - started > plan.deadline_seconds:
                break
            headers = {**auth, "Idempotency-Key": key, "X-Request-ID": f"{key}-{attempt}"}
            if use_if_match and cart in etags:
                headers["If-Match"] = etags[cart]
            report.counts["requests"] += 1
            if attempt:
                report.counts["retries"] += 1
            try:
                response = request(
                    plan.base_url,
                    "POST",
                    f"/api/carts/{cart}/items/",
                    body={"name": name, "quantity": quantity},
                    headers=headers,
                )
            except (OSError, http.client.HTTPException):
                # Refused, reset or cut short: the write may or may not have landed; resend it.
                report.counts["no_response"] += 1
                time.sleep(0.1)
                continue
            report.counts[f"status_{response.status}"] += 1
            if 200 <= response.status < 300:
                body = response.json()
                report.acknowledged.append((cart, name, quantity, body["version"], time.time()))
                etags[cart] = response.header("ETag") or ""
                if response.header("Idempotent-Replayed"):
                    report.counts["replayed"] += 1
                if acked is not None:
                    with acked.get_lock():
                        acked.value += 1
                done = True
                break
            if response.status in RETRIED:
                report.counts[RETRIED[response.status]] += 1
                if response.status == 503:
                    if not response.header("Retry-After"):
                        report.unexpected.append(f"503 without Retry-After: {response.body[:200]!r}")
                    if unavailable is not None:
                        with unavailable.get_lock():
                            unavailable.value += 1
                if response.status == 412:
                    etags.pop(cart, None)
                time.sleep(min(0.02 * (attempt + 1), 0.3))
                continue
            report.unexpected.append(f"POST {cart} {name}: {response.status} {response.body[:300]!r}")
            break
        if not done:
            report.gave_up.append(name)
        if n % 4 == 0:
            read(plan, report, cart, auth)
    reports.put(report)


def read(plan: WorkerPlan, report: WorkerReport, cart: str, auth: dict[str, str]) -> None:
    """Read a cart and the list; a read may see 503 (counted), never a 5xx of another kind."""
    for path in (f"/api/carts/{cart}/", "/api/carts/?page_size=5"):
        report.counts["requests"] += 1
        report.counts["reads"] += 1
        try:
            response = request(plan.base_url, "GET", path, headers=auth)
        except (OSError, http.client.HTTPException):
            report.counts["no_response"] += 1
            continue
        report.counts[f"status_{response.status}"] += 1
        if response.status == 503:
            report.counts["unavailable"] += 1
            if not response.header("Retry-After"):
                report.unexpected.append(f"503 without Retry-After on GET {path}")
        elif response.status != 200:
            report.unexpected.append(f"GET {path}: {response.status} {response.body[:300]!r}")


@dataclass
class LoadResult:
    """All workers' reports together, with the figures a person wants to see."""

    reports: list[WorkerReport]
    seconds: float

    @property
    def acknowledged(self) -> list[tuple[str, str, int, int, float]]:
        return [ack for report in self.reports for ack in report.acknowledged]

    @property
    def unexpected(self) -> list[str]:
        return [line for report in self.reports for line in report.unexpected]

    @property
    def gave_up(self) -> list[str]:
        return [name for report in self.reports for name in report.gave_up]

    @property
    def counts(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for report in self.reports:
            total.update(report.counts)
        return total

    def figures(self) -> dict[str, Any]:
        counts = self.counts
        return {
            "processes": len(self.reports),
            "requests": counts["requests"],
            "writes acknowledged": len(self.acknowledged),
            "writes given up": len(self.gave_up),
            "conflicts (409)": counts["conflicts"],
            "precondition failed (412)": counts["precondition_failed"],
            "unavailable (503)": counts["unavailable"],
            "no response": counts["no_response"],
            "retries": counts["retries"],
            "idempotent replays": counts["replayed"],
            "5xx other than 503": sum(v for k, v in counts.items() if k.startswith("status_5") and k != "status_503"),
            "seconds": round(self.seconds, 2),
            "requests/s": round(counts["requests"] / self.seconds, 1) if self.seconds else 0,
        }


def open_carts(base_url: str, token: str, count: int) -> list[str]:
    """Open `count` carts through the API and return their uuids."""
    uuids = []
    for _ in range(count):
        response = request(base_url, "POST", "/api/carts/", body={}, headers=token_header(token))
        assert response.status == 201, (response.status, response.body[:300])
        uuids.append(response.json()["uuid"])
    return uuids


@dataclass
class LoadRun:
    """Worker processes under way, their report queue and the counters they share with the test."""

    workers: list[Any]
    reports: Any
    acked: Any
    unavailable: Any
    started: float
    carts: list[str]

    def finish(self, timeout: float = 240) -> LoadResult:
        """Collect every worker's report and wait for the processes to end."""
        collected: list[WorkerReport] = []
        deadline = time.monotonic() + timeout
        while len(collected) < len(self.workers):
            try:
                collected.append(self.reports.get(timeout=0.5))
            except queue.Empty:
                dead = [w.exitcode for w in self.workers if w.exitcode not in (None, 0)]
                assert not dead, f"load processes died with exit codes {dead}"
                assert time.monotonic() < deadline, f"load processes did not finish within {timeout}s"
        seconds = time.monotonic() - self.started
        for worker in self.workers:
            worker.join(timeout=30)
            assert worker.exitcode == 0, f"load process {worker.pid} exited with {worker.exitcode}"
        return LoadResult(sorted(collected, key=lambda report: report.index), seconds)


def start_load(
    base_url: str, token: str, *, processes: int, writes: int, shared_carts: int = 3, deadline: float = 120.0
) -> LoadRun:
    """Open carts and start the worker processes writing to them."""
    shared = tuple(open_carts(base_url, token, shared_carts))
    own = open_carts(base_url, token, processes)
    context = multiprocessing.get_context("spawn")
    reports = context.Queue()
    acked = context.Value("i", 0)
    unavailable = context.Value("i", 0)
    run_id = uuid.uuid4().hex[:8]
    workers = [
        context.Process(
            target=run_worker,
            args=(
                WorkerPlan(base_url, token, i, shared, own[i], writes, run_id, deadline_seconds=deadline),
                reports,
                acked,
                unavailable,
            ),
        )
        for i in range(processes)
    ]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    return LoadRun(workers, reports, acked, unavailable, started, [*shared, *own])


def wait_for(predicate: Any, timeout: float, message: str) -> None:
    """Poll `predicate` until it is true; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)
