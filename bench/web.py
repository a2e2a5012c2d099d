"""W7 and W8's tools: a real gunicorn on the benchmark's database, HTTP load over keep-alive, the admin.

The server is the reliability suite's (tests/reliability/live.py: production-like environment, DEBUG
off, a random SECRET_KEY), serving bench.settings: the project's settings with bench/urls.py.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from tests.reliability.live import LiveServer, database_url, production_env

from . import environment
from .common import item_payload, timed_threads
from .roundtrips import count_statements


@contextmanager
def gunicorn(workers: int, threads: int, log_name: str) -> Iterator[LiveServer]:
    """Serve the project with bench.settings on Django's database; stop the server when done.

    gthread workers: gunicorn's sync workers close every connection after its response, and the
    load is meant to come over keep-alive connections, as from a proxy or a client's pool.
    """
    environment.VAR.mkdir(parents=True, exist_ok=True)
    log_path = environment.VAR / f"gunicorn-{log_name}.log"
    log_path.unlink(missing_ok=True)
    env = production_env(
        DATABASE_URL=database_url(connection.settings_dict),
        DJANGO_SETTINGS_MODULE="bench.settings",
        GUNICORN_CMD_ARGS=f"--worker-class=gthread --threads={threads} --keep-alive=30",
    )
    with LiveServer(env=env, log_path=log_path, workers=workers).running() as server:
        yield server


def api_token(username: str = "bench") -> str:
    """Return the DRF token of a bench user (created, committed, for the server to see)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user, _ = get_user_model().objects.get_or_create(username=username)
    return Token.objects.get_or_create(user=user)[0].key


def token_owner(token: str) -> str:
    """Return the owner id a cart of the token's user records (carts.access.owner_id)."""
    from rest_framework.authtoken.models import Token

    from carts.access import owner_id

    return owner_id(Token.objects.select_related("user").get(key=token).user)


@dataclass
class Phase:
    """What the clients saw in one timed run of requests."""

    seconds: float
    latencies: list[float]
    statuses: Counter[int] = field(default_factory=Counter)
    reconnects: int = 0

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def ok(self) -> int:
        return sum(count for status, count in self.statuses.items() if 200 <= status < 300)


def drive(base_url: str, token: str, paths: Sequence[str], clients: int, per_client: int, offset: int = 0) -> Phase:
    """POST an add-item to `paths` from `clients` threads, each over its own keep-alive connection.

    Client i takes paths i, i + clients, i + 2*clients, ... in turn, so no two clients write the same
    row or cart: the load is spread, not contended. Returns the wall time from the moment all clients
    are connected and ready to the last answer, and each request's latency.
    """
    host, port = base_url.removeprefix("http://").split(":")
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", "Accept": "application/json"}
    barrier = threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    statuses: list[Counter[int]] = [Counter() for _ in range(clients)]
    reconnects = [0] * clients
    errors: list[BaseException] = []

    def client(index: int) -> None:
        mine = paths[index::clients]
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            conn.connect()
            barrier.wait()
            for n in range(per_client):
                body = json.dumps(item_payload(offset + n)).encode()
                start = time.perf_counter()
                for attempt in range(2):
                    try:
                        conn.request("POST", mine[n % len(mine)], body=body, headers=headers)
                        reply = conn.getresponse()
                        reply.read()
                        break
                    except (http.client.RemoteDisconnected, ConnectionError):
                        # The server closed the idle connection; the request was not handled.
                        conn.close()
                        reconnects[index] += 1
                        if attempt:
                            raise
                latencies[index].append(time.perf_counter() - start)
                statuses[index][reply.status] += 1
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    seconds = timed_threads(threads, barrier, errors)
    return Phase(seconds, [t for ts in latencies for t in ts], sum(statuses, Counter()), sum(reconnects))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the value below which `fraction` of `values` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def latency_ms(phases: Sequence[Phase]) -> dict[str, float]:
    """Return p50 and p99 latency in milliseconds over every request of the phases."""
    values = [t for phase in phases for t in phase.latencies]
    return {"p50_ms": round(percentile(values, 0.5) * 1000, 2), "p99_ms": round(percentile(values, 0.99) * 1000, 2)}


def median_rate(phases: Sequence[Phase]) -> float:
    return statistics.median(phase.rate for phase in phases)


def new_summaries(count: int) -> list[uuid.UUID]:
    """Create `count` CartSummary rows of no stream: the rows the CRUD baseline updates."""
    from django.utils import timezone

    from carts.models import CartSummary

    now = timezone.now()
    rows = [CartSummary(uuid=uuid.uuid4(), items={}, version=1, opened_at=now, updated_at=now) for _ in range(count)]
    CartSummary.objects.bulk_create(rows)
    return [row.uuid for row in rows]


def request_statements(token: str, path: str) -> dict[str, Any]:
    """Count the statements of one add-item POST to `path`, sent in-process through bench/urls.py."""
    from django.test import Client, override_settings

    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Token {token}")
    with override_settings(ROOT_URLCONF="bench.urls"):
        return count_statements(lambda: client.post(path, item_payload(0), content_type="application/json"))


# W8: the admin stream page


def admin_client() -> Any:
    """Return a Django test Client logged in (force_login) as a staff superuser."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user_model = get_user_model()
    user = user_model.objects.filter(username="bench-admin").first()
    if user is None:
        user = user_model.objects.create_superuser("bench-admin", "bench@example.com", None)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def page_time(client: Any, url: str, repeat: int) -> float:
    """Return the median seconds of GET `url` in-process (after one untimed warm-up GET)."""
    times = []
    for n in range(repeat + 1):
        start = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - start
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
        if n:
            times.append(elapsed)
    return statistics.median(times)
