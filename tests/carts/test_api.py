"""The carts HTTP API: statuses, ETags and preconditions, idempotency, request metadata, bad input."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from carts import writes
from carts.http import Conflict
from carts.idempotency import fingerprint_of
from carts.models import CartSummary, IdempotentResponse
from carts.repository import carts
from eventstore.exceptions import ConcurrencyError
from tests.carts.conftest import client_for, grant
from tests.carts.factories import CartFactory


def open_cart(api: APIClient, **body) -> dict:
    response = api.post("/api/carts/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def add(api: APIClient, cart_uuid, name="apple", quantity=1, **headers):
    return api.post(
        f"/api/carts/{cart_uuid}/items/", {"name": name, "quantity": quantity}, format="json", headers=headers
    )


def stored_names(backend, cart_uuid) -> list[str]:
    return [event.name for event in backend.read_stream(uuid.UUID(str(cart_uuid)))]


# Authentication


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/carts/"),
        ("post", "/api/carts/"),
        ("get", f"/api/carts/{uuid.uuid4()}/"),
        ("get", f"/api/carts/{uuid.uuid4()}/events/"),
        ("post", f"/api/carts/{uuid.uuid4()}/items/"),
        ("post", f"/api/carts/{uuid.uuid4()}/close/"),
    ],
)
def test_anonymous_users_get_401_and_nothing_is_written(backend, method, path):
    response = getattr(APIClient(), method)(path, {"name": "x"}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"
    assert backend.last_position() == 0


@override_settings(API_BASIC_AUTH=True)
def test_basic_token_and_session_authentication_all_work(backend, user):
    basic = APIClient(headers={"Authorization": "Basic " + base64.b64encode(b"ann:ann-password").decode()})
    token = APIClient(headers={"Authorization": f"Token {Token.objects.create(user=user).key}"})
    session = APIClient()
    assert session.login(username="ann", password="ann-password")

    for client in (basic, token, session):
        assert client.get("/api/carts/").status_code == 200
    wrong = APIClient(headers={"Authorization": "Basic " + base64.b64encode(b"ann:wrong").decode()})
    assert wrong.get("/api/carts/").json()["code"] == "authentication_failed"


def test_token_endpoint_hands_out_a_token(backend, user):
    response = APIClient().post("/api/auth/token/", {"username": "ann", "password": "ann-password"}, format="json")

    assert response.status_code == 200
    assert response.json()["token"] == Token.objects.get(user=user).key


def test_token_endpoint_takes_json_or_a_form_from_anyone_and_refuses_multipart(backend, user):
    credentials = {"username": "ann", "password": "ann-password"}
    stale = APIClient(headers={"Authorization": "Token not-a-token"})  # a client that still sends an old token

    as_json = stale.post("/api/auth/token/", credentials, format="json")
    as_form = APIClient().post(
        "/api/auth/token/", urlencode(credentials), content_type="application/x-www-form-urlencoded"
    )
    as_multipart = APIClient().post("/api/auth/token/", credentials, format="multipart")

    assert as_json.status_code == as_form.status_code == 200
    assert as_json.json() == as_form.json() == {"token": Token.objects.get(user=user).key}
    assert as_multipart.status_code == 415
    assert as_multipart.json()["code"] == "unsupported_media_type"


# Opening and reading


def test_opening_a_cart_answers_201_with_location_etag_and_state(api, backend):
    response = api.post("/api/carts/", {}, format="json")

    body = response.json()
    assert response.status_code == 201
    assert body == {
        "uuid": body["uuid"],
        "version": 1,
        "status": "open",
        "items": [],
        "item_count": 0,
        "total_quantity": 0,
    }
    assert response["Location"] == f"http://testserver/api/carts/{body['uuid']}/"
    assert response["ETag"] == '"1"'
    assert stored_names(backend, body["uuid"]) == ["CartOpened"]


def test_a_client_may_choose_the_cart_uuid_once(api, backend):
    chosen = uuid.uuid4()
    assert open_cart(api, uuid=str(chosen))["uuid"] == str(chosen)

    again = api.post("/api/carts/", {"uuid": str(chosen)}, format="json")

    assert again.status_code == 409
    assert again.json()["code"] == "cart_exists"
    assert backend.get_version(chosen) == 1


def test_reading_a_cart_returns_its_state_and_etag(api, user):
    cart = CartFactory(items=[("pear", 2), ("apple", 1)], owner=user)

    response = api.get(f"/api/carts/{cart.uuid}/")

    assert response.status_code == 200
    assert response["ETag"] == '"3"'
    assert response.json()["items"] == [{"name": "apple", "quantity": 1}, {"name": "pear", "quantity": 2}]
    assert (response.json()["item_count"], response.json()["total_quantity"]) == (2, 3)


def test_version_parameter_returns_the_past_state(api, user):
    cart = CartFactory(items=[("apple", 1), ("pear", 2)], owner=user)

    response = api.get(f"/api/carts/{cart.uuid}/?version=2")

    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert response.json()["items"] == [{"name": "apple", "quantity": 1}]


def test_version_past_the_end_is_404_and_a_bad_version_is_400(api, user):
    cart = CartFactory(items=[("apple", 1)], owner=user)

    past = api.get(f"/api/carts/{cart.uuid}/?version=9")
    assert (past.status_code, past.json()["code"], past.json()["current_version"]) == (404, "version_not_found", 2)
    for bad in ("0", "-1", "two", "1.5", "²", "9" * 40):
        response = api.get(f"/api/carts/{cart.uuid}/", {"version": bad})
        assert (response.status_code, response.json()["code"]) == (400, "invalid_version"), bad


def test_if_none_match_answers_304_while_the_cart_is_unchanged(api, user):
    cart = CartFactory(items=[("apple", 1)], owner=user)

    assert api.get(f"/api/carts/{cart.uuid}/", headers={"If-None-Match": '"2"'}).status_code == 304
    assert api.get(f"/api/carts/{cart.uuid}/", headers={"If-None-Match": '"1"'}).status_code == 200


@pytest.mark.parametrize("cart_id", ["nope", "123", "../etc", uuid.uuid4().hex[:-1], "%00"])
def test_unknown_or_malformed_cart_ids_are_404_with_a_code(api, cart_id):
    for response in (
        api.get(f"/api/carts/{cart_id}/"),
        api.get(f"/api/carts/{cart_id}/events/"),
        api.post(f"/api/carts/{cart_id}/items/", {"name": "a"}, format="json"),
        api.post(f"/api/carts/{cart_id}/close/"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] in {"cart_not_found", "not_found"}


def test_unknown_cart_is_404_cart_not_found(api):
    response = api.get(f"/api/carts/{uuid.uuid4()}/")

    assert (response.status_code, response.json()["code"]) == (404, "cart_not_found")


# Commands


def test_adding_and_removing_items_returns_the_new_state(api, backend):
    cart_uuid = open_cart(api)["uuid"]

    added = add(api, cart_uuid, "apple", 3)
    removed = api.delete(f"/api/carts/{cart_uuid}/items/apple/")

    assert (added.status_code, added["ETag"], added.json()["items"]) == (200, '"2"', [{"name": "apple", "quantity": 3}])
    assert (removed.status_code, removed["ETag"], removed.json()["items"]) == (200, '"3"', [])
    assert stored_names(backend, cart_uuid) == ["CartOpened", "ItemAdded", "ItemRemoved"]


def test_item_names_with_spaces_and_slashes_can_be_removed(api):
    cart_uuid = open_cart(api)["uuid"]
    add(api, cart_uuid, "red wine/1l")

    response = api.delete(f"/api/carts/{cart_uuid}/items/red%20wine%2F1l/")

    assert response.status_code == 200
    assert response.json()["items"] == []


def test_quantity_defaults_to_one(api):
    cart_uuid = open_cart(api)["uuid"]

    response = api.post(f"/api/carts/{cart_uuid}/items/", {"name": "apple"}, format="json")

    assert response.json()["items"] == [{"name": "apple", "quantity": 1}]


def test_breaking_a_cart_rule_is_422_with_the_rule_code_and_writes_nothing(api, backend):
    cart_uuid = open_cart(api)["uuid"]
    add(api, cart_uuid, "apple", 10_000)

    too_many = add(api, cart_uuid, "apple", 1)
    missing = api.delete(f"/api/carts/{cart_uuid}/items/pear/")

    assert (too_many.status_code, too_many.json()["code"]) == (422, "invalid_quantity")
    assert (missing.status_code, missing.json()["code"]) == (422, "item_not_in_cart")
    assert "pear" in missing.json()["detail"]
    assert backend.get_version(uuid.UUID(cart_uuid)) == 2


def test_closing_a_cart_makes_it_410_but_its_history_readable(api, backend):
    cart_uuid = open_cart(api)["uuid"]
    add(api, cart_uuid)

    closed = api.post(f"/api/carts/{cart_uuid}/close/")

    assert (closed.status_code, closed.json()["status"], closed["ETag"]) == (200, "closed", '"3"')
    gone = api.get(f"/api/carts/{cart_uuid}/")
    assert gone.status_code == 410
    assert gone.json()["code"] == "cart_closed"
    assert gone.json()["version"] == 3
    assert gone.json()["events"] == f"http://testserver/api/carts/{cart_uuid}/events/"
    for response in (
        add(api, cart_uuid),
        api.delete(f"/api/carts/{cart_uuid}/items/apple/"),
        api.post(f"/api/carts/{cart_uuid}/close/"),
        add(api, cart_uuid, **{"If-Match": '"3"'}),
    ):
        assert (response.status_code, response.json()["code"]) == (410, "cart_closed")
    assert backend.get_version(uuid.UUID(cart_uuid)) == 3
    assert api.get(f"/api/carts/{cart_uuid}/events/").json()["count"] == 3
    assert api.get(f"/api/carts/{cart_uuid}/?version=2").json()["status"] == "open"


# Optimistic concurrency


def test_write_with_matching_if_match_succeeds(api):
    cart_uuid = open_cart(api)["uuid"]

    response = add(api, cart_uuid, **{"If-Match": '"1"'})

    assert (response.status_code, response["ETag"]) == (200, '"2"')


def test_write_with_stale_if_match_is_412_with_unseen_events_and_writes_nothing(api, backend):
    cart_uuid = open_cart(api)["uuid"]
    add(api, cart_uuid, "apple")
    add(api, cart_uuid, "pear")

    response = add(api, cart_uuid, "plum", **{"If-Match": '"1"'})

    assert response.status_code == 412
    body = response.json()
    assert body["code"] == "version_mismatch"
    assert (body["expected_version"], body["actual_version"]) == (1, 3)
    assert body["unseen_events"] == [{"version": 2, "name": "ItemAdded"}, {"version": 3, "name": "ItemAdded"}]
    assert body["unseen_events_truncated"] is False
    assert backend.get_version(uuid.UUID(cart_uuid)) == 3
    assert api.delete(f"/api/carts/{cart_uuid}/items/apple/", headers={"If-Match": '"2"'}).status_code == 412
    assert api.post(f"/api/carts/{cart_uuid}/close/", headers={"If-Match": '"2"'}).status_code == 412
    assert backend.get_version(uuid.UUID(cart_uuid)) == 3


@pytest.mark.parametrize("header", ["3", "abc", '"-1"', '"1.0"', '"²"'])
def test_malformed_if_match_is_400(api, header):
    cart_uuid = open_cart(api)["uuid"]

    response = add(api, cart_uuid, **{"If-Match": header})

    if header == "3":  # a bare number is read as the ETag it stands for
        assert response.status_code == 412
    else:
        assert (response.status_code, response.json()["code"]) == (400, "invalid_precondition")


def test_a_write_that_loses_every_race_raises_conflict_with_unseen_events(backend, user):
    cart = CartFactory(items=[], owner=user)

    def add_while_someone_else_writes(current):
        carts.update(cart.uuid, lambda other: other.add_item("rival"))  # a real competing write
        current.add_item("mine")

    with pytest.raises(Conflict) as caught:
        writes.run_command(cart.uuid, add_while_someone_else_writes, if_match=None, user=user)

    assert caught.value.status_code == 409
    extra = caught.value.extra
    assert (extra["expected_version"], extra["actual_version"]) == (
        1 + writes.WRITE_ATTEMPTS - 1,
        1 + writes.WRITE_ATTEMPTS,
    )
    assert extra["unseen_events"] == [{"version": 1 + writes.WRITE_ATTEMPTS, "name": "ItemAdded"}]
    assert stored_names(backend, cart.uuid) == ["CartOpened"] + ["ItemAdded"] * writes.WRITE_ATTEMPTS
    assert carts.load(cart.uuid).items == {"rival": writes.WRITE_ATTEMPTS}


def test_a_write_that_loses_one_race_is_retried_on_fresh_state(backend, user):
    cart = CartFactory(items=[], owner=user)
    rivals = iter([True])

    def add_once_raced(current):
        if next(rivals, False):
            carts.update(cart.uuid, lambda other: other.add_item("rival"))
        current.add_item("mine")

    saved = writes.run_command(cart.uuid, add_once_raced, if_match=None, user=user)

    assert saved.version == 3
    assert saved.items == {"rival": 1, "mine": 1}


def test_if_match_write_that_loses_the_race_at_save_time_is_412(backend, user):
    cart = CartFactory(items=[], owner=user)

    def add_while_someone_else_writes(current):
        carts.update(cart.uuid, lambda other: other.add_item("rival"))
        current.add_item("mine")

    with pytest.raises(Exception) as caught:
        writes.run_command(cart.uuid, add_while_someone_else_writes, if_match={1}, user=user)

    assert caught.value.status_code == 412
    assert (caught.value.extra["expected_version"], caught.value.extra["actual_version"]) == (1, 2)
    assert carts.load(cart.uuid).items == {"rival": 1}


def test_concurrency_error_reaching_the_handler_is_409(backend):
    from carts.http import translate

    error = translate(ConcurrencyError(uuid.uuid4(), 1, 2))

    assert isinstance(error, Conflict)
    assert error.status_code == 409


# History


def test_events_are_listed_oldest_first_with_metadata_and_pages(api):
    cart_uuid = open_cart(api)["uuid"]
    for name in "abcd":
        add(api, cart_uuid, name)

    first = api.get(f"/api/carts/{cart_uuid}/events/?page_size=2").json()
    second = api.get(first["next"]).json()
    third = api.get(second["next"]).json()

    assert first["count"] == 5
    assert [e["version"] for e in first["results"]] == [1, 2]
    assert [e["version"] for e in second["results"]] == [3, 4]
    assert [e["version"] for e in third["results"]] == [5]
    assert third["next"] is None and first["previous"] is None
    assert api.get(third["previous"]).json()["results"] == second["results"]
    event = second["results"][0]
    assert set(event) == {
        "version",
        "name",
        "schema_version",
        "data",
        "metadata",
        "recorded_at",
        "event_uuid",
        "position",
    }
    assert (event["name"], event["data"]) == ("ItemAdded", {"name": "b", "quantity": 1})
    assert event["metadata"]["actor"] == "ann"


def test_events_page_past_the_end_is_404_and_a_bad_page_is_400(api):
    cart_uuid = open_cart(api)["uuid"]

    assert api.get(f"/api/carts/{cart_uuid}/events/?page=2").json()["code"] == "invalid_page"
    assert api.get(f"/api/carts/{cart_uuid}/events/?page=0").status_code == 400
    assert api.get(f"/api/carts/{cart_uuid}/events/?page_size=x").json()["code"] == "invalid_page_size"


# Request metadata


def test_request_id_and_user_end_up_in_event_metadata(api, backend):
    response = api.post("/api/carts/", {}, format="json", headers={"X-Request-ID": "req-42"})

    assert response["X-Request-ID"] == "req-42"
    (event,) = backend.read_stream(uuid.UUID(response.json()["uuid"]))
    assert event.metadata == {"correlation_id": "req-42", "actor": "ann"}


def test_a_request_id_is_generated_when_missing_or_unusable(api, backend):
    for headers in ({}, {"X-Request-ID": "bad id with spaces"}, {"X-Request-ID": "x" * 500}):
        response = api.post("/api/carts/", {}, format="json", headers=headers)
        generated = response["X-Request-ID"]
        assert uuid.UUID(generated)
        (event,) = backend.read_stream(uuid.UUID(response.json()["uuid"]))
        assert event.metadata["correlation_id"] == generated


# Idempotency


def test_a_retried_post_with_the_same_key_returns_the_first_response_and_appends_nothing(api, backend):
    cart_uuid = open_cart(api)["uuid"]
    headers = {"Idempotency-Key": "add-apple-1"}

    first = add(api, cart_uuid, "apple", 2, **headers)
    again = add(api, cart_uuid, "apple", 2, **headers)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert again["ETag"] == first["ETag"] == '"2"'
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert stored_names(backend, cart_uuid) == ["CartOpened", "ItemAdded"]


def test_opening_with_an_idempotency_key_opens_one_cart(api, backend):
    first = api.post("/api/carts/", {}, format="json", headers={"Idempotency-Key": "open-1"})
    again = api.post("/api/carts/", {}, format="json", headers={"Idempotency-Key": "open-1"})

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["uuid"] == first.json()["uuid"]
    assert again["Location"] == first["Location"]
    assert backend.count_streams() == 1


def test_reusing_a_key_for_another_request_is_422(api, backend):
    cart_uuid = open_cart(api)["uuid"]
    add(api, cart_uuid, "apple", **{"Idempotency-Key": "k"})

    response = add(api, cart_uuid, "pear", **{"Idempotency-Key": "k"})

    assert (response.status_code, response.json()["code"]) == (422, "idempotency_key_reused")
    assert backend.get_version(uuid.UUID(cart_uuid)) == 2


def test_keys_belong_to_their_user(api, other_user, backend):
    cart_uuid = open_cart(api)["uuid"]
    clerk = client_for(grant(other_user, "change_any_cart"))  # may write to ann's cart

    add(api, cart_uuid, "apple", **{"Idempotency-Key": "same"})
    add(clerk, cart_uuid, "apple", **{"Idempotency-Key": "same"})

    assert backend.get_version(uuid.UUID(cart_uuid)) == 3


def test_a_failed_request_is_not_remembered_under_its_key(api, backend):
    cart_uuid = open_cart(api)["uuid"]
    stale = add(api, cart_uuid, **{"Idempotency-Key": "retry-me", "If-Match": '"7"'})

    retried = add(api, cart_uuid, **{"Idempotency-Key": "retry-me", "If-Match": '"1"'})

    assert (stale.status_code, retried.status_code) == (412, 200)
    assert backend.get_version(uuid.UUID(cart_uuid)) == 2


@pytest.fixture
def claiming(backend, monkeypatch):
    """The backend as one that commits outside the Django database (as DynamoDB does): keys are claimed first."""
    monkeypatch.setattr(type(backend), "commits_with_django_database", False)
    return backend


def test_a_claimed_key_keeps_the_first_response_for_its_retries(api, claiming):
    cart_uuid = open_cart(api)["uuid"]

    first = add(api, cart_uuid, "apple", 2, **{"Idempotency-Key": "claimed"})
    again = add(api, cart_uuid, "apple", 2, **{"Idempotency-Key": "claimed"})
    other = add(api, cart_uuid, "pear", **{"Idempotency-Key": "claimed"})

    assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (200, 200, "true")
    assert again.json() == first.json()
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert stored_names(claiming, cart_uuid) == ["CartOpened", "ItemAdded"]


def claim_left(user, key: str, cart_uuid: str, age: timedelta = timedelta(0)) -> None:
    """Leave the claim an add-apple request with this key takes while it runs (`age` old)."""
    request = SimpleNamespace(
        method="POST", path=f"/api/carts/{cart_uuid}/items/", data={"name": "apple", "quantity": 1}
    )
    claim = IdempotentResponse.objects.create(
        user=user, key=key, fingerprint=fingerprint_of(request), status_code=0, body={}
    )
    IdempotentResponse.objects.filter(pk=claim.pk).update(created_at=timezone.now() - age)


def test_a_key_claimed_by_a_request_still_running_is_409_with_retry_after(api, user, claiming):
    cart_uuid = open_cart(api)["uuid"]
    claim_left(user, "busy", cart_uuid)

    response = add(api, cart_uuid, **{"Idempotency-Key": "busy"})

    assert (response.status_code, response.json()["code"]) == (409, "idempotency_key_in_progress")
    assert response["Retry-After"] == "1"
    assert claiming.get_version(uuid.UUID(cart_uuid)) == 1


def test_a_claim_left_by_a_dead_request_is_taken_over_after_its_timeout(api, user, claiming):
    cart_uuid = open_cart(api)["uuid"]
    claim_left(user, "orphan", cart_uuid, age=timedelta(minutes=5))

    response = add(api, cart_uuid, **{"Idempotency-Key": "orphan"})

    assert response.status_code == 200
    assert IdempotentResponse.objects.get(user=user, key="orphan").status_code == 200
    assert claiming.get_version(uuid.UUID(cart_uuid)) == 2


def test_a_failed_request_releases_its_claim(api, user, claiming):
    cart_uuid = open_cart(api)["uuid"]
    stale = add(api, cart_uuid, **{"Idempotency-Key": "retry-me", "If-Match": '"7"'})

    assert not IdempotentResponse.objects.filter(user=user, key="retry-me").exists()
    retried = add(api, cart_uuid, **{"Idempotency-Key": "retry-me", "If-Match": '"1"'})

    assert (stale.status_code, retried.status_code) == (412, 200)
    assert claiming.get_version(uuid.UUID(cart_uuid)) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "é"])
def test_an_unusable_idempotency_key_is_400(api, backend, key):
    response = api.post("/api/carts/", {}, format="json", headers={"Idempotency-Key": key})

    assert (response.status_code, response.json()["code"]) == (400, "invalid_idempotency_key")
    assert backend.last_position() == 0


# Listing


def test_list_reads_the_summaries_newest_change_first_filtered_and_paginated(api, user):
    older = CartFactory(items=[("a", 1)], owner=user)
    closed = CartFactory(items=[("b", 2)], closed=True, owner=user)
    newest = CartFactory(items=[("c", 3), ("d", 1)], owner=user)

    everything = api.get("/api/carts/").json()
    open_only = api.get("/api/carts/?status=open").json()
    page = api.get("/api/carts/?page_size=2").json()

    assert [c["uuid"] for c in everything["results"]] == [str(newest.uuid), str(closed.uuid), str(older.uuid)]
    assert everything["results"][0] | {"opened_at": None, "updated_at": None} == {
        "uuid": str(newest.uuid),
        "status": "open",
        "item_count": 2,
        "total_quantity": 4,
        "version": 3,
        "opened_at": None,
        "updated_at": None,
    }
    assert [c["uuid"] for c in open_only["results"]] == [str(newest.uuid), str(older.uuid)]
    assert (page["count"], len(page["results"]), page["next"] is not None) == (3, 2, True)
    assert CartSummary.objects.get(uuid=closed.uuid).status == "closed"


def test_list_refuses_an_unknown_status(api):
    response = api.get("/api/carts/?status=lost")

    assert (response.status_code, response.json()["code"]) == (400, "invalid_status")


# Bad input: always a 4xx with a code, never a 500, and nothing written


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "apple", "quantity": "3"}, "quantity"),
        ({"name": "apple", "quantity": 2.5}, "quantity"),
        ({"name": "apple", "quantity": True}, "quantity"),
        ({"name": "apple", "quantity": None}, "quantity"),
        ({"name": "apple", "quantity": 0}, "quantity"),
        ({"name": "apple", "quantity": 10**30}, "quantity"),
        ({"name": 5, "quantity": 1}, "name"),
        ({"name": ["apple"]}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"quantity": 1}, "name"),
        ({"name": "apple", "price": 3}, "price"),
    ],
)
def test_invalid_item_input_is_400_with_field_messages(api, backend, body, field):
    cart_uuid = open_cart(api)["uuid"]

    response = api.post(f"/api/carts/{cart_uuid}/items/", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["errors"]
    assert backend.get_version(uuid.UUID(cart_uuid)) == 1


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{bad json", "parse_error"),
        (b'{"name": "apple", "quantity": NaN}', "parse_error"),
        (b"\xff\xfe not utf-8", "parse_error"),
        (b"[" * 100_000 + b"]" * 100_000, "parse_error"),
        (b'["apple"]', "invalid"),
        (b'"apple"', "invalid"),
        (b"null", "invalid"),
    ],
)
def test_malformed_bodies_are_400_with_a_code(api, backend, raw, code):
    cart_uuid = open_cart(api)["uuid"]

    response = api.post(f"/api/carts/{cart_uuid}/items/", raw, content_type="application/json")

    assert (response.status_code, response.json()["code"]) == (400, code)
    assert backend.get_version(uuid.UUID(cart_uuid)) == 1


def test_a_huge_body_is_413(api, backend):
    cart_uuid = open_cart(api)["uuid"]
    body = json.dumps({"name": "apple", "padding": "x" * 2_000_000})

    response = api.post(f"/api/carts/{cart_uuid}/items/", body, content_type="application/json")

    assert (response.status_code, response.json()["code"]) == (413, "request_too_large")
    assert backend.get_version(uuid.UUID(cart_uuid)) == 1


def test_other_media_types_are_415_and_unknown_methods_405(api):
    cart_uuid = open_cart(api)["uuid"]

    form = api.post(f"/api/carts/{cart_uuid}/items/", {"name": "apple"})  # multipart
    put = api.put(f"/api/carts/{cart_uuid}/", {}, format="json")

    assert (form.status_code, form.json()["code"]) == (415, "unsupported_media_type")
    assert (put.status_code, put.json()["code"]) == (405, "method_not_allowed")


def test_unknown_fields_are_reported_with_the_other_errors(api, backend):
    cart_uuid = open_cart(api)["uuid"]

    response = api.post(
        f"/api/carts/{cart_uuid}/items/", {"name": "plums", "quantity": "3", "colour": "red"}, format="json"
    )

    body = response.json()
    assert response.status_code == 400
    assert body["errors"] == {"quantity": ["A valid integer is required."], "colour": ["Unknown field."]}
    assert body["error_codes"] == {"quantity": ["invalid"], "colour": ["unknown_field"]}


def test_invalid_uuid_in_the_open_body_is_400(api, backend):
    response = api.post("/api/carts/", {"uuid": "not-a-uuid"}, format="json")

    assert response.status_code == 400
    assert "uuid" in response.json()["errors"]
    assert backend.last_position() == 0


def test_close_takes_no_body(api, backend):
    cart_uuid = open_cart(api)["uuid"]

    response = api.post(f"/api/carts/{cart_uuid}/close/", {"force": True}, format="json")

    assert (response.status_code, response.json()["code"]) == (400, "unexpected_body")
    assert backend.get_version(uuid.UUID(cart_uuid)) == 1


def test_paths_with_control_characters_still_get_json(api):
    cart_uuid = open_cart(api)["uuid"]

    item = api.delete(f"/api/carts/{cart_uuid}/items/a%0Ab/")
    elsewhere = api.get("/api/no%0Asuch/")

    assert (item.status_code, item.json()["code"]) == (422, "invalid_item_name")
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (404, "not_found")
