"""A retry with the same Idempotency-Key never appends again, whatever failed after the first attempt's append.

The reproduction (issue 13): on the code path of a store outside the Django database (DynamoDB), a
POST whose events were stored but which then failed (503) released its key, and its retry appended a
second time, answered as a fresh write. Here the failure is injected just after the append, on the
configured backend, both with the key kept in the append's transaction (the Django backend) and with
the key claimed first (DynamoDB, or any backend made to behave like it).
"""

from __future__ import annotations

import uuid

import pytest
from django.db import OperationalError

from carts import views
from carts.models import IdempotentResponse
from tests.carts.test_api import add, open_cart, stored_names

KEY = {"Idempotency-Key": "buy-tv-1"}


@pytest.fixture(params=["as configured", "claimed first"])
def key_path(request, backend, monkeypatch):
    if request.param == "claimed first":
        monkeypatch.setattr(type(backend), "commits_with_django_database", False)
    return request.param


@pytest.fixture
def fail_next_response(monkeypatch):
    """Return a switch: once on, the next cart response fails as a lost connection would, after the append."""
    respond = views.cart_response
    armed = []

    def fail_once(*args, **kwargs):
        if armed:
            armed.clear()
            raise OperationalError("the connection was lost after the append")
        return respond(*args, **kwargs)

    monkeypatch.setattr(views, "cart_response", fail_once)
    return lambda: armed.append(True)


def test_a_retry_after_a_failure_past_the_append_adds_the_item_once(api, backend, key_path, fail_next_response):
    cart_uuid = open_cart(api)["uuid"]
    fail_next_response()

    failed = add(api, cart_uuid, "tv", **KEY)
    retried = add(api, cart_uuid, "tv", **KEY)
    again = add(api, cart_uuid, "tv", **KEY)

    assert failed.status_code == 503
    assert stored_names(backend, cart_uuid) == ["CartOpened", "ItemAdded"]
    assert retried.status_code == 200, retried.content
    assert retried.json()["items"] == [{"name": "tv", "quantity": 1}]
    assert retried.json()["version"] == 2
    events_stored_by_first_attempt = not backend.commits_with_django_database
    if events_stored_by_first_attempt:
        assert retried["Idempotent-Replayed"] == "true"
    assert (again.status_code, again["Idempotent-Replayed"]) == (200, "true")
    assert again.json() == retried.json()


def test_a_retried_open_without_a_uuid_opens_one_cart(api, backend, key_path, fail_next_response):
    fail_next_response()
    failed = api.post("/api/carts/", {}, format="json", headers=KEY)
    retried = api.post("/api/carts/", {}, format="json", headers=KEY)

    assert failed.status_code == 503
    assert retried.status_code == 201, retried.content
    assert backend.count_streams() == 1
    cart_uuid = retried.json()["uuid"]
    assert retried["Location"].endswith(f"/api/carts/{cart_uuid}/")
    assert stored_names(backend, cart_uuid) == ["CartOpened"]


def test_a_failure_that_may_have_appended_keeps_the_claim_for_the_next_retry(api, user, backend, monkeypatch):
    monkeypatch.setattr(type(backend), "commits_with_django_database", False)
    cart_uuid = open_cart(api)["uuid"]
    respond = views.cart_response
    monkeypatch.setattr(views, "cart_response", lambda *a, **k: (_ for _ in ()).throw(OperationalError("lost")))

    assert add(api, cart_uuid, "tv", **KEY).status_code == 503

    claim = IdempotentResponse.objects.get(user=user, key=KEY["Idempotency-Key"])
    assert claim.status_code == 1  # interrupted: kept, and taken over at once by the next retry
    monkeypatch.setattr(views, "cart_response", respond)
    retried = add(api, cart_uuid, "tv", **KEY)
    assert (retried.status_code, retried["Idempotent-Replayed"]) == (200, "true")
    assert IdempotentResponse.objects.get(user=user, key=KEY["Idempotency-Key"]).status_code == 200
    assert stored_names(backend, cart_uuid) == ["CartOpened", "ItemAdded"]


def test_the_same_key_from_another_user_is_another_request(api, other_api, backend):
    cart_uuid = uuid.UUID(open_cart(api)["uuid"])
    theirs = other_api.post("/api/carts/", {}, format="json", headers=KEY)
    ours = api.post("/api/carts/", {}, format="json", headers=KEY)

    assert (theirs.status_code, ours.status_code) == (201, 201)
    assert theirs.json()["uuid"] != ours.json()["uuid"]
    assert backend.count_streams() == 3
    assert cart_uuid not in {uuid.UUID(theirs.json()["uuid"]), uuid.UUID(ours.json()["uuid"])}
