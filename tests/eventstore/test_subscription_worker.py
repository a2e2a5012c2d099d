"""run_subscriptions as real processes: live delivery in order, SIGTERM, SIGKILL mid-batch, two workers, one lease,
and a worker frozen past its lease (SIGSTOP) waking up.

Each worker is `python -m tests.eventstore.subscription_worker` on the test database and the configured
event store (so these run on every backend); the tests wait for conditions in the database, never for time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections

from eventstore import store
from eventstore.models import SubscriptionState
from tests.conftest import requires_server_database_beside_dynamodb
from tests.factories import AccountFactory
from tests.reliability.live import database_url
from tests.reliability.load import wait_for
from tests.testapp.models import Delivered

pytestmark = [requires_server_database_beside_dynamodb, pytest.mark.slow]

#: Seconds a worker may take to start (Django, boto3) and to get through the tests' few dozen events.
DEADLINE = 90


class WorkerProcess:
    """One run_subscriptions worker process, its output in a log file."""

    def __init__(self, log_path: Path, **task: object) -> None:
        self.log_path = log_path
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
        env["DATABASE_URL"] = database_url(connection.settings_dict)
        env.setdefault("DJANGO_SECRET_KEY", "test")
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.eventstore.subscription_worker", json.dumps(task)],
                cwd=settings.BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.pid = self.process.pid

    def holds(self, name: str) -> bool:
        """Return whether this process holds the subscription's lease."""
        owner = SubscriptionState.objects.filter(name=name).values_list("lease_owner", flat=True).first() or ""
        return f":{self.pid}:" in owner

    def stopped(self) -> bool:
        """Return whether the process is stopped (SIGSTOP): state T in /proc."""
        return Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=DEADLINE)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Workers(list[WorkerProcess]):
    """The workers a test started."""

    def __init__(self, log_dir: Path) -> None:
        super().__init__()
        self.log_dir = log_dir

    def start(self, **task: object) -> WorkerProcess:
        task.setdefault("lease", 4)
        worker = WorkerProcess(self.log_dir / f"worker-{len(self)}.log", **task)
        self.append(worker)
        return worker


@pytest.fixture
def workers(tx_backend, tmp_path: Path) -> Iterator[Workers]:
    """Start workers with `workers.start(**task)`; kill those still running at the end and show their logs."""
    started = Workers(tmp_path)
    connections.close_all()  # the workers must not inherit this process's connection
    try:
        yield started
    finally:
        for worker in started:
            if worker.process.poll() is None:
                worker.kill()
            print(f"--- worker {worker.pid} ---\n{worker.log()[-3000:]}")
        connections.close_all()
        store.reset_backend()


def all_positions() -> list[int]:
    return [event.position for event in store.get_backend().read_all()]


def deliveries(name: str) -> list[tuple[int, int]]:
    """Return (position, worker pid) of each delivery to a subscription, in the order they were recorded."""
    return list(Delivered.objects.filter(subscription=name).order_by("id").values_list("position", "worker"))


def checkpoint(name: str) -> int:
    return SubscriptionState.objects.filter(name=name).values_list("position", flat=True).first() or 0


def lease_expiries() -> dict[str, datetime]:
    return dict(SubscriptionState.objects.values_list("name", "lease_expires_at"))


def assert_taken_over_after_expiry(worker: WorkerProcess, expires: dict[str, datetime]) -> None:
    """Assert that the worker delivered to each subscription only once the dead worker's lease had run out."""
    for name, expiry in expires.items():
        first = Delivered.objects.filter(subscription=name, worker=worker.pid).order_by("delivered_at").first()
        assert first is not None and first.delivered_at >= expiry, (name, first, expiry)


def delivered_everything(name: str, positions: list[int]) -> bool:
    return {position for position, _ in deliveries(name)} >= set(positions)


def test_events_appended_while_a_worker_runs_reach_it_in_order_and_sigterm_saves_the_checkpoint(workers):
    worker = workers.start(batch_size=5)
    AccountFactory(deposits=[])
    wait_for(lambda: worker.holds("plain") and checkpoint("plain") > 0, DEADLINE, "the worker never started")

    for _ in range(12):  # appended while the worker follows the store
        AccountFactory(deposits=[1, 2])
    positions = all_positions()
    for name in ("plain", "effectively_once"):
        wait_for(lambda name=name: delivered_everything(name, positions), DEADLINE, f"{name}: events missing")

    assert worker.terminate() == 0, worker.log()
    for name in ("plain", "effectively_once"):
        assert [position for position, _ in deliveries(name)] == positions  # in global order, each once
        row = SubscriptionState.objects.get(name=name)
        assert (row.position, row.lease_owner) == (positions[-1], "")  # saved, and the lease released
    assert "plain: 37 delivered" in worker.log()


def test_a_worker_sigkilled_mid_batch_is_replaced_skipping_nothing_redelivering_only_the_batch_in_flight(workers):
    for _ in range(15):
        AccountFactory(deposits=[1, 2, 3])
    positions = all_positions()
    block_at = positions[24]  # the plain subscription's third batch of 10, half done
    first = workers.start(batch_size=10, block_at=block_at)
    wait_for(lambda: (block_at, first.pid) in deliveries("plain"), DEADLINE, "the first worker never got there")

    first.kill()
    saved = checkpoint("plain")
    expires = lease_expiries()
    in_flight = [position for position, _ in deliveries("plain") if position > saved]
    second = workers.start(batch_size=10)
    for name in ("plain", "effectively_once"):
        wait_for(lambda name=name: delivered_everything(name, positions), DEADLINE, f"{name}: events missing")
    assert second.terminate() == 0, second.log()

    plain = deliveries("plain")
    twice = sorted(position for position, count in Counter(p for p, _ in plain).items() if count > 1)
    assert {position for position, _ in plain} == set(positions)  # nothing skipped
    assert saved == positions[19] and in_flight == positions[20:25]  # killed in the middle of the batch
    assert twice == in_flight  # redelivered: only what the killed worker had handled of its batch
    once = deliveries("effectively_once")
    assert sorted(position for position, _ in once) == positions  # the transactional one: no second delivery
    assert_taken_over_after_expiry(second, expires)


def test_two_workers_deliver_a_subscription_one_at_a_time_and_the_second_takes_over_when_the_first_dies(workers):
    # A lease far longer than any stall of a busy machine: the second worker must only ever take over a dead one.
    first = workers.start(lease=10, pace=0.01)
    wait_for(lambda: first.holds("plain") and first.holds("effectively_once"), DEADLINE, "no lease taken")
    second = workers.start(lease=10, pace=0.01)
    for _ in range(10):
        AccountFactory(deposits=[1, 2])
    positions = all_positions()
    for name in ("plain", "effectively_once"):
        wait_for(lambda name=name: checkpoint(name) == positions[-1], DEADLINE, f"{name} did not catch up")
    assert Delivered.objects.filter(worker=second.pid).count() == 0  # alive, but without a lease

    first.kill()
    expires = lease_expiries()
    for _ in range(5):
        AccountFactory(deposits=[1])
    positions = all_positions()
    for name in ("plain", "effectively_once"):
        wait_for(lambda name=name: delivered_everything(name, positions), DEADLINE + 10, f"{name}: no takeover")
    assert second.terminate() == 0, second.log()

    for name in ("plain", "effectively_once"):
        delivered = deliveries(name)
        assert [position for position, _ in delivered] == positions  # each once, in order, across the takeover
        assert {pid for _, pid in delivered[:30]} == {first.pid} and {pid for _, pid in delivered[30:]} == {second.pid}
    assert_taken_over_after_expiry(second, expires)


def test_a_worker_stalled_past_its_lease_neither_moves_the_checkpoint_nor_delivers_more_once_it_wakes(workers):
    for _ in range(10):
        AccountFactory(deposits=[1, 2, 3])
    positions = all_positions()
    stall_at = positions[14]  # the plain subscription's second batch of 10, half done
    first = workers.start(batch_size=10, stall_at=stall_at)
    wait_for(first.stopped, DEADLINE, "the first worker never stalled")
    saved = checkpoint("plain")
    before_stall = [position for position, pid in deliveries("plain") if pid == first.pid]

    second = workers.start(batch_size=10)  # takes over once the stalled worker's leases have expired
    for name in ("plain", "effectively_once"):
        wait_for(lambda name=name: checkpoint(name) == positions[-1], DEADLINE, f"{name}: no takeover")
    first.process.send_signal(signal.SIGCONT)  # wakes in its handler, holding the event at stall_at
    wait_for(lambda: (stall_at, first.pid) in deliveries("plain"), DEADLINE, "the first worker never woke")
    assert first.terminate() == 0, first.log()
    assert second.terminate() == 0, second.log()

    assert checkpoint("plain") == checkpoint("effectively_once") == positions[-1]  # not moved back by the first
    plain = deliveries("plain")
    twice = sorted(position for position, count in Counter(p for p, _ in plain).items() if count > 1)
    assert saved == positions[9] and before_stall == positions[:14]
    # Twice: the batch in flight, as after a crash, and the event in hand when it froze (what a lease cannot stop).
    assert twice == positions[10:15]
    assert max(position for position, pid in plain if pid == first.pid) == stall_at  # nothing after it woke
    assert sorted(position for position, _ in deliveries("effectively_once")) == positions
