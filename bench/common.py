"""What every side of the benchmark shares: sizes, payloads and timing."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

#: Distinct item names a generated cart cycles through (a cart holds at most 200).
DISTINCT_ITEMS = 100


@dataclass(frozen=True)
class Sizes:
    """How much work each workload does; the defaults are the issue's sizes."""

    carts: int = 500
    saves_per_cart: int = 10
    batches: int = 50
    batch_events: int = 100
    long_stream: int = 10_000
    longer_stream: int = 100_000
    short_stream: int = 10
    snapshot_gap: int = 10
    workers: int = 4
    saves_per_worker: int = 50
    repeat: int = 3
    load_repeat: int = 7
    # W7: the HTTP API under gunicorn (the same server, workers and clients for both sides).
    http_workers: int = 2
    http_threads: int = 4
    http_clients: int = 8
    http_carts: int = 200
    http_requests: int = 400  # per client and timed run
    http_repeat: int = 3
    # W8: the admin stream page
    admin_gets: int = 15
    # W9: writers to distinct streams, a fixed-time round per writer count; DynamoDB behind a proxy
    # adding this latency to every request (bench/latency_proxy.py)
    scale_writers: tuple[int, ...] = (1, 2, 4, 8, 16)
    scale_seconds: float = 6.0
    scale_latency_ms: float = 10.0
    # W9 on DynamoDB: the indexer's poll interval (Indexer.run's default), and the steady load under which
    # its delay (append answered -> read_all shows it) is measured
    scale_indexer_poll: float = 0.2
    scale_delay_writers: int = 4
    scale_delay_seconds: float = 10.0
    # W10: events a new subscription catches up over, and runs (each with a subscription of its own)
    catchup_events: int = 20_000
    catchup_repeat: int = 3
    catchup_batch_sizes: tuple[int | None, ...] = (None, 1000)  # None: Subscription's default
    # W11: appends/s and seconds of the steady write load; the worker's poll intervals (None: the setting's)
    delay_rate: float = 50
    delay_seconds: float = 10
    delay_polls: tuple[float | None, ...] = (None, 0.1)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            carts=100,
            saves_per_cart=10,
            batches=20,
            long_stream=10_000,
            longer_stream=30_000,
            saves_per_worker=15,
            repeat=1,
            load_repeat=3,
            http_carts=48,
            http_requests=100,
            http_repeat=1,
            admin_gets=7,
            scale_seconds=2.0,
            scale_delay_seconds=3.0,
            catchup_events=5_000,
            catchup_repeat=2,
            delay_seconds=4,
        )

    @classmethod
    def for_backend(cls, backend: str, *, quick: bool = False) -> Sizes:
        """Return the sizes for one backend: DynamoDB's are smaller (see `dynamodb`)."""
        if backend == "dynamodb":
            return cls.dynamodb(quick=quick)
        return cls.quick() if quick else cls()

    @classmethod
    def dynamodb(cls, *, quick: bool = False) -> Sizes:
        """Sizes that DynamoDB Local on a 2-core machine runs in about seven minutes (W4, W6 and W7 take most).

        Every DynamoDB call is an HTTP round trip to a Java process, and the backend moves one log head
        item per append: a fifth of the carts, and batches of 48 events, the backend's
        max_events_per_append (the raw baseline writes the same 48 per call).
        """
        if quick:
            return cls(
                carts=20,
                saves_per_cart=5,
                batches=5,
                batch_events=48,
                long_stream=2_000,
                longer_stream=5_000,
                saves_per_worker=5,
                repeat=1,
                load_repeat=2,
                http_carts=16,
                http_requests=20,
                http_repeat=1,
                admin_gets=3,
                scale_seconds=2.0,
                scale_delay_seconds=3.0,
                catchup_events=1_000,
                catchup_repeat=2,
                delay_rate=20,
                delay_seconds=4,
            )
        return cls(
            carts=50,
            saves_per_cart=10,
            batches=20,
            batch_events=48,
            long_stream=10_000,
            longer_stream=15_000,
            saves_per_worker=25,
            repeat=3,
            load_repeat=3,
            http_carts=48,
            http_requests=60,
            http_repeat=2,
            admin_gets=7,
            catchup_events=5_000,
            delay_rate=25,
        )


def item_name(n: int) -> str:
    """Return the n-th item name: with its quantity the payload is about 60 bytes of JSON."""
    return f"sku-{n % DISTINCT_ITEMS:06d} organic cotton t-shirt, blue"


def item_payload(n: int) -> dict[str, object]:
    return {"name": item_name(n), "quantity": 1}


def median_time(run: Callable[[], object], repeat: int, setup: Callable[[], object] | None = None) -> float:
    """Return the median wall time in seconds of `run()` over `repeat` runs (setup not timed)."""
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def progress(message: str) -> None:
    print(f"  .. {message}", flush=True)


def timed_threads(threads: list[threading.Thread], barrier: threading.Barrier, errors: list[BaseException]) -> float:
    """Start the threads, release them together through `barrier` and return the seconds until the
    last one ends; re-raise the first error any of them recorded in `errors`."""
    for thread in threads:
        thread.start()
    with suppress(threading.BrokenBarrierError):
        barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    if errors:
        raise errors[0]
    return seconds
