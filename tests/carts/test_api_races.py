"""Writers racing on one cart through the API, in real threads on a database they all commit to."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from carts import writes
from carts.domain import ShoppingCart
from carts.models import CartSummary
from carts.repository import carts
from eventstore import Repository
from tests.carts.factories import CartFactory

THREADS = 6
REQUESTS_PER_THREAD = 8


def in_threads(count: int, work: Callable[[int], None]) -> None:
    """Run work(i) in `count` threads started together; re-raise the first error."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            work(index)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer thread hung"
    if errors:
        raise errors[0]


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def racer(tx_backend) -> User:
    return User.objects.create_user("racer")


def test_racing_writes_on_one_cart_keep_its_history_contiguous(tx_backend, racer):
    cart = CartFactory(items=[], owner=racer)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def write(index: int) -> None:
        client = client_for(racer)
        for _ in range(REQUESTS_PER_THREAD):
            response = client.post(
                f"/api/carts/{cart.uuid}/items/", {"name": f"t{index}", "quantity": 1}, format="json"
            )
            assert response.status_code in {200, 409}, response.content
            if response.status_code == 409:
                assert response.json()["code"] == "concurrent_modification"
            with lock:
                statuses[response.status_code] += 1

    in_threads(THREADS, write)

    events = list(tx_backend.read_stream(cart.uuid))
    assert [event.version for event in events] == list(range(1, len(events) + 1))
    assert sum(statuses.values()) == THREADS * REQUESTS_PER_THREAD
    assert len(events) == 1 + statuses[200]  # every 200 appended exactly one event, every 409 none
    state = carts.load(cart.uuid)
    assert sum(state.items.values()) == statuses[200]
    summary = CartSummary.objects.get(uuid=cart.uuid)
    assert (summary.version, summary.total_quantity) == (len(events), statuses[200])


def test_racing_writes_with_if_match_let_exactly_one_win(tx_backend, racer):
    cart = CartFactory(items=[], owner=racer)
    statuses: list[int] = []
    lock = threading.Lock()

    def write(index: int) -> None:
        response = client_for(racer).post(
            f"/api/carts/{cart.uuid}/items/", {"name": f"t{index}"}, format="json", headers={"If-Match": '"1"'}
        )
        with lock:
            statuses.append(response.status_code)
        if response.status_code == 412:
            body = response.json()
            assert (body["expected_version"], body["actual_version"]) == (1, 2)
            assert body["unseen_events"] == [{"version": 2, "name": "ItemAdded"}]

    in_threads(THREADS, write)

    assert sorted(statuses) == [200] + [412] * (THREADS - 1)
    assert tx_backend.get_version(cart.uuid) == 2


def rival_writes_after_each_load(monkeypatch, cart_uuid, turns: int) -> list[int]:
    """Make a rival append between the API's load of the cart and its save, `turns` times; return its versions.

    Deterministic, unlike racing a rival thread: the API's write loses exactly `turns` races, whatever
    the machine's load (a threaded rival once lost fifty updates in a row on a busy CI machine).
    """
    rival = Repository(ShoppingCart)  # its own instance: the patched load below is the API's only
    load = carts.load
    versions: list[int] = []

    def load_then_rival_writes(uuid, *args, **kwargs):
        cart = load(uuid, *args, **kwargs)
        if uuid == cart_uuid and len(versions) < turns:
            versions.append(rival.update(cart_uuid, lambda c: c.add_item("rival")).version)
        return cart

    monkeypatch.setattr(carts, "load", load_then_rival_writes)
    return versions


def test_a_writer_that_keeps_losing_gets_409_with_unseen_events(tx_backend, racer, monkeypatch):
    """With one attempt per request, a request whose race is lost writes nothing and shows what it missed."""
    monkeypatch.setattr(writes, "WRITE_ATTEMPTS", 1)
    cart = CartFactory(items=[], owner=racer)
    rival_versions = rival_writes_after_each_load(monkeypatch, cart.uuid, turns=3)
    client = client_for(racer)

    responses = [client.post(f"/api/carts/{cart.uuid}/items/", {"name": "mine"}, format="json") for _ in range(4)]

    assert [response.status_code for response in responses] == [409, 409, 409, 200]
    for response, rival_version in zip(responses, rival_versions, strict=False):
        body = response.json()
        assert body["code"] == "concurrent_modification"
        assert body["actual_version"] == rival_version == body["expected_version"] + 1
        assert [event["version"] for event in body["unseen_events"]] == [rival_version]
        assert {event["name"] for event in body["unseen_events"]} == {"ItemAdded"}
    assert carts.load(cart.uuid).items == {"rival": 3, "mine": 1}
    events = list(tx_backend.read_stream(cart.uuid))
    assert [event.version for event in events] == list(range(1, len(events) + 1))


def test_a_writer_that_loses_fewer_races_than_its_attempts_retries_from_fresh_state(tx_backend, racer, monkeypatch):
    monkeypatch.setattr(writes, "WRITE_ATTEMPTS", 3)
    cart = CartFactory(items=[], owner=racer)
    rival_writes_after_each_load(monkeypatch, cart.uuid, turns=2)

    response = client_for(racer).post(f"/api/carts/{cart.uuid}/items/", {"name": "mine"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["version"] == 4  # opened, two rival items, then ours
    assert carts.load(cart.uuid).items == {"rival": 2, "mine": 1}


def test_racing_retries_with_one_idempotency_key_append_once(tx_backend, racer):
    """On the Django backend the losers answer with the winner's response; on others they may be told to retry."""
    cart = CartFactory(items=[], owner=racer)
    responses: list[tuple[int, dict]] = []
    lock = threading.Lock()
    key = str(uuid.uuid4())

    def write(index: int) -> None:
        response = client_for(racer).post(
            f"/api/carts/{cart.uuid}/items/", {"name": "apple"}, format="json", headers={"Idempotency-Key": key}
        )
        with lock:
            responses.append((response.status_code, response.json()))

    in_threads(THREADS, write)

    assert tx_backend.get_version(cart.uuid) == 2
    succeeded = [body for status, body in responses if status == 200]
    assert succeeded and all(body == succeeded[0] for body in succeeded)
    told_to_retry = [body for status, body in responses if status != 200]
    if tx_backend.commits_with_django_database:
        assert told_to_retry == []
    assert {body["code"] for body in told_to_retry} <= {"idempotency_key_in_progress"}
    retried = client_for(racer).post(
        f"/api/carts/{cart.uuid}/items/", {"name": "apple"}, format="json", headers={"Idempotency-Key": key}
    )
    assert (retried.status_code, retried.json(), retried["Idempotent-Replayed"]) == (200, succeeded[0], "true")
    assert tx_backend.get_version(cart.uuid) == 2
