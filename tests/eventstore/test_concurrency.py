"""Real threads and processes racing on the same streams: nothing acknowledged is lost, no
version is duplicated or skipped, and a reader following read_all never skips a committed event."""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from collections.abc import Callable

import django
from django.db import connection, connections

from eventstore import store
from eventstore.exceptions import ConcurrencyError
from tests.factories import NewEventFactory
from tests.testapp.domain import Account
from tests.testapp.repositories import accounts


def run_in_threads(count: int, target: Callable[[int], None]) -> list[BaseException]:
    """Run target(i) in `count` threads released together; return the errors they raised."""
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            start.wait()
            target(index)
        except BaseException as exc:  # reported to the test, which fails on it
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker thread hung"
    return errors


def assert_contiguous(account_uuid: uuid.UUID, expected_events: int) -> None:
    versions = [e.version for e in store.get_backend().read_stream(account_uuid)]
    assert versions == list(range(1, expected_events + 1))
    assert store.get_backend().get_version(account_uuid) == expected_events


def currency(prefix: int, n: int) -> str:
    """Return a currency code of its own for each (worker, save): deposits then tell who wrote what."""
    return chr(65 + prefix) + chr(65 + n // 26) + chr(65 + n % 26)


def test_threads_doing_load_modify_save_on_one_account_lose_nothing(tx_backend):
    account = accounts.save(Account.open("ann"))
    threads, saves_each = 6, 8
    acknowledged: list[str] = []
    conflicts = 0
    lock = threading.Lock()

    def deposit(index: int) -> None:
        nonlocal conflicts
        for n in range(saves_each):
            code = currency(index, n)
            while True:
                aggregate = accounts.load(account.uuid)
                aggregate.deposit(1, code)
                try:
                    accounts.save(aggregate)
                except ConcurrencyError:
                    with lock:
                        conflicts += 1
                    continue
                with lock:
                    acknowledged.append(code)
                break

    assert run_in_threads(threads, deposit) == []

    assert len(acknowledged) == threads * saves_each
    assert_contiguous(account.uuid, 1 + len(acknowledged))
    assert set(accounts.load(account.uuid).balances) == set(acknowledged)


def _process_worker(db_name: str, account_uuid: str, index: int, saves: int, results: multiprocessing.Queue) -> None:
    django.setup()
    connections.databases["default"]["NAME"] = db_name
    acknowledged = []
    for n in range(saves):
        code = currency(10 + index, n)
        accounts.update(uuid.UUID(account_uuid), lambda account, code=code: account.deposit(1, code), attempts=1000)
        acknowledged.append(code)
    connections.close_all()
    results.put(acknowledged)


def test_processes_doing_load_modify_save_on_one_account_lose_nothing(tx_backend):
    account = accounts.save(Account.open("ann"))
    db_name = connection.settings_dict["NAME"]
    connections.close_all()
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes, saves = 4, 6
    workers = [
        context.Process(target=_process_worker, args=(str(db_name), str(account.uuid), i, saves, results))
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    acknowledged = [code for _ in workers for code in results.get(timeout=180)]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0

    assert len(acknowledged) == processes * saves
    assert_contiguous(account.uuid, 1 + len(acknowledged))
    assert set(accounts.load(account.uuid).balances) == set(acknowledged)


def test_a_reader_following_read_all_never_skips_an_event_committed_behind_it(tx_backend):
    backend = tx_backend
    writers, appends_each, batch = 4, 15, 10
    writers_done = threading.Event()
    seen: list[int] = []
    reader_errors: list[BaseException] = []

    def follow() -> None:
        try:
            checkpoint = 0
            while True:
                last_round = writers_done.is_set()
                for event in backend.read_all(checkpoint, batch_size=7):
                    seen.append(event.position)
                    checkpoint = event.position
                if last_round:
                    return
        except BaseException as exc:  # reported to the test, which fails on it
            reader_errors.append(exc)
        finally:
            connections.close_all()

    def write(index: int) -> None:
        for _ in range(appends_each):
            backend.append(uuid.uuid4(), "Account", 0, NewEventFactory.build_batch(batch))

    reader = threading.Thread(target=follow)
    reader.start()
    writer_errors = run_in_threads(writers, write)
    writers_done.set()
    reader.join(timeout=120)

    assert writer_errors == [] and reader_errors == []
    everything = [e.position for e in backend.read_all(0)]
    assert len(everything) == writers * appends_each * batch
    assert seen == everything, "the reader skipped or reordered events"
