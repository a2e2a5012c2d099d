"""Carts belong to whoever opened them: another user finds every cart endpoint answering as if the cart
did not exist and writes nothing; the carts' permissions, not being staff, open other users' carts."""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection

from carts import writes
from carts.domain import CartOpened, ShoppingCart
from carts.http import NotFound
from carts.models import CartSummary, IdempotentResponse
from carts.repository import carts
from eventstore import store
from eventstore.backends.base import NewEvent, SnapshotRecord
from eventstore.events import registry
from tests.carts.conftest import client_for, grant
from tests.carts.factories import CartFactory


def open_cart(client, **body) -> str:
    response = client.post("/api/carts/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["uuid"]


def add(client, cart_id: str, name: str = "apple", quantity: int = 1, **headers):
    return client.post(
        f"/api/carts/{cart_id}/items/", {"name": name, "quantity": quantity}, format="json", headers=headers
    )


@pytest.fixture
def anns_cart(api) -> str:
    """Ann's cart at version 3: apple x 2, pear x 1."""
    cart_id = open_cart(api)
    add(api, cart_id, "apple", 2)
    add(api, cart_id, "pear")
    return cart_id


@pytest.fixture
def clerk(other_user) -> User:
    """Bob with both carts permissions: a shop's support clerk."""
    return grant(other_user, "view_any_cart", "change_any_cart")


def every_request(cart_id: str) -> dict[str, tuple[str, str, dict]]:
    """Every cart endpoint, with the variants that could give a cart away: (method, path, options)."""
    cart = f"/api/carts/{cart_id}"
    item = {"data": {"name": "plum", "quantity": 1}, "format": "json"}
    return {
        "retrieve": ("get", f"{cart}/", {}),
        "retrieve at a version": ("get", f"{cart}/?version=2", {}),
        "retrieve past the last version": ("get", f"{cart}/?version=99", {}),
        "retrieve with a matching If-None-Match": ("get", f"{cart}/", {"headers": {"If-None-Match": '"3"'}}),
        "events": ("get", f"{cart}/events/", {}),
        "events past the last page": ("get", f"{cart}/events/?page=9", {}),
        "add": ("post", f"{cart}/items/", item),
        "add with a matching If-Match": ("post", f"{cart}/items/", {**item, "headers": {"If-Match": '"3"'}}),
        "add with a stale If-Match": ("post", f"{cart}/items/", {**item, "headers": {"If-Match": '"1"'}}),
        "add with an Idempotency-Key": ("post", f"{cart}/items/", {**item, "headers": {"Idempotency-Key": "k1"}}),
        "add beyond the quantity limit": ("post", f"{cart}/items/", {"data": {"name": "apple", "quantity": 9999}}),
        "remove": ("delete", f"{cart}/items/apple/", {}),
        "remove an item not in the cart": ("delete", f"{cart}/items/ghost/", {}),
        "remove with a stale If-Match": ("delete", f"{cart}/items/apple/", {"headers": {"If-Match": '"1"'}}),
        "close": ("post", f"{cart}/close/", {}),
        "close with a matching If-Match": ("post", f"{cart}/close/", {"headers": {"If-Match": '"3"'}}),
        "close with an Idempotency-Key": ("post", f"{cart}/close/", {"headers": {"Idempotency-Key": "k2"}}),
    }


def send(client, method: str, path: str, options: dict):
    options = dict(options)
    if "data" in options:
        options.setdefault("format", "json")
    return getattr(client, method)(path, **options)


REQUESTS = list(every_request("x"))


def missing_cart_body(cart_id: str) -> dict:
    return {"code": "cart_not_found", "detail": f"Cart {cart_id} does not exist."}


# Another ordinary user


@pytest.mark.parametrize("request_name", REQUESTS)
def test_another_user_gets_404_as_for_a_missing_cart_and_nothing_is_written(
    anns_cart, other_api, backend, request_name
):
    method, path, options = every_request(anns_cart)[request_name]
    position = backend.last_position()

    response = send(other_api, method, path, options)

    assert response.status_code == 404, response.content
    assert response.json() == missing_cart_body(anns_cart)
    assert not response.has_header("ETag")
    assert backend.last_position() == position
    assert not IdempotentResponse.objects.filter(key__in=["k1", "k2"]).exists()


@pytest.mark.parametrize("request_name", REQUESTS)
def test_a_missing_cart_gets_the_same_answer(other_api, backend, request_name):
    missing = str(uuid.uuid4())
    method, path, options = every_request(missing)[request_name]

    response = send(other_api, method, path, options)

    assert (response.status_code, response.json()) == (404, missing_cart_body(missing))


@pytest.mark.parametrize("request_name", REQUESTS)
def test_another_users_closed_cart_is_404_not_410(api, other_api, backend, request_name):
    cart_id = open_cart(api)
    add(api, cart_id, "apple", 2)
    assert api.post(f"/api/carts/{cart_id}/close/").status_code == 200
    method, path, options = every_request(cart_id)[request_name]
    position = backend.last_position()

    response = send(other_api, method, path, options)

    assert (response.status_code, response.json()) == (404, missing_cart_body(cart_id))
    assert backend.last_position() == position


def test_the_owner_still_reaches_every_endpoint(api, anns_cart, backend):
    assert api.get(f"/api/carts/{anns_cart}/").status_code == 200
    assert api.get(f"/api/carts/{anns_cart}/?version=2").status_code == 200
    assert api.get(f"/api/carts/{anns_cart}/events/").json()["count"] == 3
    assert add(api, anns_cart, "plum").status_code == 200
    assert api.delete(f"/api/carts/{anns_cart}/items/plum/").status_code == 200
    assert api.post(f"/api/carts/{anns_cart}/close/").status_code == 200
    assert backend.get_version(uuid.UUID(anns_cart)) == 6


def test_a_write_checks_the_owner_before_its_command_runs(user, other_user, backend):
    cart = CartFactory(items=[], owner=user)
    ran = []

    for if_match in (None, {1}):
        with pytest.raises(NotFound) as caught:
            writes.run_command(cart.uuid, ran.append, if_match=if_match, user=other_user)
        assert caught.value.code == "cart_not_found"

    assert ran == []
    assert backend.get_version(cart.uuid) == 1


def test_the_owner_is_checked_again_on_every_retry_of_a_lost_race(user, other_user, backend, monkeypatch):
    """The owner is read from each fresh load: a retry never runs the command on a state it did not check."""
    cart = CartFactory(items=[], owner=user)
    checked = []
    check = writes.check_changeable

    def counting_check(actor, loaded):
        checked.append(loaded.version)
        return check(actor, loaded)

    monkeypatch.setattr(writes, "check_changeable", counting_check)
    rivals = iter([True, True])

    def add_raced(current):
        if next(rivals, False):
            carts.update(cart.uuid, lambda other: other.add_item("rival"))
        current.add_item("mine")

    saved = writes.run_command(cart.uuid, add_raced, if_match=None, user=user)

    assert checked == [1, 2, 3]
    assert saved.items == {"rival": 2, "mine": 1}


# Opening


@pytest.mark.parametrize("keyed", [False, True])
def test_opening_a_taken_uuid_is_409_cart_exists_whoever_owns_it(api, other_api, anns_cart, backend, keyed):
    headers = {"Idempotency-Key": "open-taken"} if keyed else {}
    position = backend.last_position()

    for client in (other_api, api):
        response = client.post("/api/carts/", {"uuid": anns_cart}, format="json", headers=headers)

        assert response.status_code == 409
        assert response.json() == {"code": "cart_exists", "detail": f"Cart {anns_cart} already exists."}
        assert not response.has_header("ETag") and not response.has_header("Location")
    assert backend.last_position() == position


def test_a_uuid_taken_while_opening_is_409_cart_exists_without_the_carts_events(api, other_api, anns_cart, monkeypatch):
    monkeypatch.setattr(carts, "exists", lambda cart_uuid: False)  # the cart appears between the check and the save

    response = other_api.post("/api/carts/", {"uuid": anns_cart}, format="json")

    assert response.status_code == 409
    assert response.json() == {"code": "cart_exists", "detail": f"Cart {anns_cart} already exists."}


def test_a_cart_records_who_opened_it(api, user, backend):
    cart_id = open_cart(api)

    (opened,) = backend.read_stream(uuid.UUID(cart_id))

    assert (opened.name, opened.schema_version) == ("CartOpened", 2)
    assert opened.data == {"shopping_cart_uuid": cart_id, "owner_id": str(user.pk)}
    assert carts.load(uuid.UUID(cart_id)).owner == str(user.pk)
    assert CartSummary.objects.get(uuid=cart_id).owner_id == str(user.pk)


# The list


def test_the_list_shows_each_user_their_own_carts(api, other_api, user, backend):
    anns = {open_cart(api) for _ in range(3)}
    bobs = {open_cart(other_api) for _ in range(2)}
    CartFactory()  # no owner known

    for client, own in ((api, anns), (other_api, bobs)):
        body = client.get("/api/carts/").json()
        assert (body["count"], {cart["uuid"] for cart in body["results"]}) == (len(own), own)


def test_the_list_is_filtered_in_the_database(api, other_api, backend):
    anns = [open_cart(api) for _ in range(2)]
    for _ in range(3):
        open_cart(other_api)
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        first = api.get("/api/carts/?page_size=1&status=open").json()
    second = api.get(first["next"]).json()

    assert first["count"] == 2
    assert [first["results"][0]["uuid"], second["results"][0]["uuid"]] == anns[::-1]
    summary_queries = [sql for sql in statements if "carts_cartsummary" in sql]
    assert len(summary_queries) == 2  # the count and the page, each asking for ann's rows only
    assert all('"owner_id" = ' in sql for sql in summary_queries)


# Permissions, not staff


def test_staff_without_the_permissions_are_ordinary_users(anns_cart, backend):
    staff = User.objects.create_user("stella", password="x", is_staff=True)
    client = client_for(staff)
    position = backend.last_position()

    for method, path, options in every_request(anns_cart).values():
        response = send(client, method, path, options)
        assert (response.status_code, response.json()["code"]) == (404, "cart_not_found")
    assert client.get("/api/carts/").json()["count"] == 0
    assert backend.last_position() == position


def test_view_any_cart_reads_every_cart_but_changes_none(anns_cart, other_user, backend):
    viewer = client_for(grant(other_user, "view_any_cart"))
    position = backend.last_position()

    assert viewer.get(f"/api/carts/{anns_cart}/").json()["version"] == 3
    assert viewer.get(f"/api/carts/{anns_cart}/?version=2").json()["items"] == [{"name": "apple", "quantity": 2}]
    assert viewer.get(f"/api/carts/{anns_cart}/?version=99").json()["code"] == "version_not_found"
    assert viewer.get(f"/api/carts/{anns_cart}/events/").json()["count"] == 3
    assert {cart["uuid"] for cart in viewer.get("/api/carts/").json()["results"]} == {anns_cart}
    for response in (
        add(viewer, anns_cart),
        add(viewer, anns_cart, **{"Idempotency-Key": "viewer-1"}),
        viewer.delete(f"/api/carts/{anns_cart}/items/apple/"),
        viewer.post(f"/api/carts/{anns_cart}/close/", headers={"If-Match": '"3"'}),
    ):
        assert (response.status_code, response.json()["code"]) == (403, "cart_read_only")
    assert backend.last_position() == position
    assert not IdempotentResponse.objects.filter(key="viewer-1").exists()


def test_change_any_cart_changes_and_so_sees_every_cart(api, anns_cart, clerk, backend):
    desk = client_for(clerk)

    added = add(desk, anns_cart, "plum", **{"If-Match": '"3"'})
    removed = desk.delete(f"/api/carts/{anns_cart}/items/apple/")
    closed = desk.post(f"/api/carts/{anns_cart}/close/", headers={"Idempotency-Key": "close-for-ann"})

    assert [r.status_code for r in (added, removed, closed)] == [200, 200, 200]
    assert desk.get(f"/api/carts/{anns_cart}/").json()["code"] == "cart_closed"
    events = desk.get(f"/api/carts/{anns_cart}/events/").json()["results"]
    assert [e["metadata"]["actor"] for e in events] == ["ann", "ann", "ann", "bob", "bob", "bob"]
    assert api.get(f"/api/carts/{anns_cart}/?version=5").json()["items"] == [
        {"name": "pear", "quantity": 1},
        {"name": "plum", "quantity": 1},
    ]


def test_change_any_cart_alone_implies_seeing(anns_cart, other_user):
    changer = client_for(grant(other_user, "change_any_cart"))

    assert changer.get(f"/api/carts/{anns_cart}/").status_code == 200
    assert changer.get("/api/carts/").json()["count"] == 1


def test_a_permission_holder_still_owns_the_carts_they_open(clerk, backend):
    cart_id = open_cart(client_for(clerk))

    assert CartSummary.objects.get(uuid=cart_id).owner_id == str(clerk.pk)


def test_idempotency_keys_stay_per_user_across_owners(api, other_api, anns_cart, backend):
    refused = add(other_api, anns_cart, "apple", **{"Idempotency-Key": "shared"})
    bobs_cart = open_cart(other_api)

    own = add(other_api, bobs_cart, "apple", **{"Idempotency-Key": "shared"})
    anns = add(api, anns_cart, "apple", **{"Idempotency-Key": "shared"})

    assert refused.status_code == 404
    assert (own.status_code, own.has_header("Idempotent-Replayed")) == (200, False)
    assert (anns.status_code, anns.has_header("Idempotent-Replayed")) == (200, False)


# Carts opened before carts had owners


def open_old_cart(backend, *items: str) -> uuid.UUID:
    """Store a cart as schema 1 of CartOpened recorded it, with no owner, through the store (so projected)."""
    cart_uuid = uuid.uuid4()
    events = [NewEvent("CartOpened", {"shopping_cart_uuid": str(cart_uuid)}, schema_version=1)]
    events += [NewEvent("ItemAdded", {"name": item, "quantity": 1}, schema_version=2) for item in items]
    store.append(cart_uuid, "ShoppingCart", 0, events, backend=backend)
    return cart_uuid


def test_an_old_cart_opened_event_decodes_with_no_owner():
    opened = registry.decode("CartOpened", 1, {"shopping_cart_uuid": "c"})

    assert opened == CartOpened(shopping_cart_uuid="c", owner_id=None)


def test_a_cart_without_owner_is_seen_only_by_permission_holders(api, other_user, backend):
    old = open_old_cart(backend, "apple")
    viewer = client_for(grant(other_user, "view_any_cart"))

    assert carts.load(old).owner is None
    assert CartSummary.objects.get(uuid=old).owner_id == ""
    for path in (f"/api/carts/{old}/", f"/api/carts/{old}/events/"):
        assert (api.get(path).status_code, viewer.get(path).status_code) == (404, 200)
    assert add(api, old).status_code == 404
    assert api.get("/api/carts/").json()["count"] == 0
    assert [cart["uuid"] for cart in viewer.get("/api/carts/").json()["results"]] == [str(old)]
    assert viewer.get(f"/api/carts/{old}/events/").json()["results"][0]["schema_version"] == 1


def test_snapshots_of_the_state_without_owner_are_ignored(user, backend):
    cart = CartFactory(items=[("apple", 1)], owner=user)
    stale = SnapshotRecord(cart.uuid, "ShoppingCart", 2, {"status": "open", "items": {"stolen": 1}}, schema_version=1)
    backend.save_snapshot(stale)

    loaded = carts.load(cart.uuid)

    assert ShoppingCart.state_schema_version == 2
    assert (loaded.owner, loaded.items) == (str(user.pk), {"apple": 1})
    carts.take_snapshot(cart.uuid)
    assert carts.load(cart.uuid).get_state() == {"owner": str(user.pk), "status": "open", "items": {"apple": 1}}


def test_replaying_the_summaries_refills_their_owners(api, user, backend):
    cart_id = open_cart(api)
    old = open_old_cart(backend)
    CartSummary.objects.update(owner_id="lost")

    call_command("replay_projections", "--projection", "cart_summary", stdout=StringIO(), stderr=StringIO())

    assert dict(CartSummary.objects.values_list("uuid", "owner_id")) == {uuid.UUID(cart_id): str(user.pk), old: ""}


# History of shopping carts only


def test_the_history_of_a_stream_that_is_not_a_cart_is_404_even_to_permission_holders(api, clerk, backend):
    account = uuid.uuid4()
    store.append(account, "Account", 0, [NewEvent("AccountOpened", {"owner": "ann"})], backend=backend)

    for client in (api, client_for(clerk)):
        for path in (f"/api/carts/{account}/events/", f"/api/carts/{account}/"):
            response = client.get(path)
            assert (response.status_code, response.json()) == (404, missing_cart_body(str(account)))
