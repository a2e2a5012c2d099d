"""Preconditions compared as RFC 9110 says, Idempotency-Key fingerprints on the canonical cart id, and item
names normalised (NFC) with control and format characters refused."""

from __future__ import annotations

import unicodedata
import uuid
from urllib.parse import quote

import pytest

from carts.domain import MAX_NAME_LENGTH, ShoppingCart
from carts.exceptions import InvalidItemName
from carts.repository import carts
from eventstore.backends.base import NewEvent


def open_cart(api) -> str:
    response = api.post("/api/carts/", {}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["uuid"]


def add(api, cart_id: str, name: str = "apple", quantity: int = 1, **headers):
    return api.post(
        f"/api/carts/{cart_id}/items/", {"name": name, "quantity": quantity}, format="json", headers=headers
    )


def version_of(backend, cart_id: str) -> int:
    return backend.get_version(uuid.UUID(cart_id))


# If-Match: strong comparison


@pytest.mark.parametrize("header", ['W/"2"', 'W/"2", W/"1"', ' W/"2" '])
def test_a_weak_etag_in_if_match_never_matches_and_nothing_is_written(api, backend, header):
    cart_id = open_cart(api)
    add(api, cart_id)

    responses = [
        add(api, cart_id, "pear", **{"If-Match": header}),
        api.delete(f"/api/carts/{cart_id}/items/apple/", headers={"If-Match": header}),
        api.post(f"/api/carts/{cart_id}/close/", headers={"If-Match": header}),
    ]

    for response in responses:
        assert (response.status_code, response.json()["code"]) == (412, "version_mismatch")
        assert response.json()["actual_version"] == 2
        assert "weak" in response.json()["detail"]
    assert version_of(backend, cart_id) == 2


def test_if_match_matches_the_strong_etag_among_weak_ones(api, backend):
    cart_id = open_cart(api)

    response = add(api, cart_id, **{"If-Match": 'W/"1", "1"'})

    assert (response.status_code, response["ETag"]) == (200, '"2"')


def test_a_stale_strong_if_match_still_reports_the_version_the_client_expected(api, backend):
    cart_id = open_cart(api)
    add(api, cart_id)

    response = add(api, cart_id, "pear", **{"If-Match": '"1", W/"2"'})

    assert response.status_code == 412
    assert (response.json()["expected_version"], response.json()["actual_version"]) == (1, 2)
    assert response.json()["unseen_events"] == [{"version": 2, "name": "ItemAdded"}]


# If-None-Match: weak comparison


@pytest.mark.parametrize("header", ['"2"', 'W/"2"', 'W/"1", W/"2"', "*"])
def test_if_none_match_uses_the_weak_comparison(api, header):
    cart_id = open_cart(api)
    add(api, cart_id)

    response = api.get(f"/api/carts/{cart_id}/", headers={"If-None-Match": header})

    if header == "*":  # names no version: the state is sent
        assert response.status_code == 200
    else:
        assert (response.status_code, response["ETag"]) == (304, '"2"')


def test_if_none_match_of_another_version_sends_the_state(api):
    cart_id = open_cart(api)
    add(api, cart_id)

    assert api.get(f"/api/carts/{cart_id}/", headers={"If-None-Match": 'W/"1"'}).status_code == 200


# Idempotency-Key: the canonical cart id


@pytest.mark.parametrize("spelling", [str.upper, lambda text: uuid.UUID(text).hex, lambda text: "{" + text + "}"])
def test_the_same_keyed_request_with_the_cart_id_spelled_otherwise_replays(api, backend, spelling):
    cart_id = open_cart(api)
    first = add(api, cart_id, "apple", 2, **{"Idempotency-Key": "add-apple"})

    again = add(api, spelling(cart_id), "apple", 2, **{"Idempotency-Key": "add-apple"})

    assert (first.status_code, again.status_code) == (200, 200)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert version_of(backend, cart_id) == 2


def test_a_keyed_close_spelled_in_upper_case_replays(api, backend):
    cart_id = open_cart(api)
    first = api.post(f"/api/carts/{cart_id}/close/", headers={"Idempotency-Key": "close-it"})

    again = api.post(f"/api/carts/{cart_id.upper()}/close/", headers={"Idempotency-Key": "close-it"})

    assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (200, 200, "true")
    assert version_of(backend, cart_id) == 2


def test_the_same_key_on_another_cart_is_still_a_different_request(api, backend):
    first_id, second_id = open_cart(api), open_cart(api)
    add(api, first_id, **{"Idempotency-Key": "k"})

    response = add(api, second_id.upper(), **{"Idempotency-Key": "k"})

    assert (response.status_code, response.json()["code"]) == (422, "idempotency_key_reused")
    assert version_of(backend, second_id) == 1


# Item names


def test_item_names_are_kept_nfc_normalised(api, backend):
    cart_id = open_cart(api)
    decomposed, composed = "cafe\u0301", "caf\u00e9"

    add(api, cart_id, decomposed, 1)
    response = add(api, cart_id, composed, 2)

    assert response.json()["items"] == [{"name": composed, "quantity": 3}]
    assert [e.data["name"] for e in backend.read_stream(uuid.UUID(cart_id)) if e.name == "ItemAdded"] == [composed] * 2


def test_an_item_is_removed_by_its_name_in_either_normal_form(api):
    cart_id = open_cart(api)
    add(api, cart_id, "caf\u00e9")
    decomposed = quote("cafe\u0301")

    response = api.delete(f"/api/carts/{cart_id}/items/{decomposed}/")

    assert (response.status_code, response.json()["items"]) == (200, [])


def test_a_name_is_measured_after_normalisation(api):
    cart_id = open_cart(api)
    decomposed = "e\u0301" * MAX_NAME_LENGTH  # twice the limit in code points, the limit once composed

    fits = add(api, cart_id, decomposed)
    too_long = add(api, cart_id, "e\u0301" * (MAX_NAME_LENGTH + 1))

    assert fits.status_code == 200
    assert fits.json()["items"] == [{"name": "\u00e9" * MAX_NAME_LENGTH, "quantity": 1}]
    assert (too_long.status_code, list(too_long.json()["errors"])) == (400, ["name"])


HIDDEN = {
    "right-to-left override": "invoice\u202etxt.exe",
    "zero-width space": "app\u200ble",
    "zero-width joiner": "app\u200dle",
    "byte order mark": "\ufeffapple",
    "soft hyphen": "ap\u00adple",
    "left-to-right isolate": "\u2066apple\u2069",
    "line feed inside": "app\nle",
    "NUL": "app\x00le",
    "escape": "\x1b[31mapple",
    "delete": "apple\x7f",
}


@pytest.mark.parametrize("name", HIDDEN.values(), ids=HIDDEN.keys())
def test_names_with_control_or_format_characters_are_422_and_nothing_is_written(api, backend, name):
    assert any(unicodedata.category(char) in {"Cc", "Cf"} for char in name)
    cart_id = open_cart(api)

    added = add(api, cart_id, name)
    removed = api.delete(f"/api/carts/{cart_id}/items/{quote(name, safe='')}/")

    for response in (added, removed):
        assert (response.status_code, response.json()["code"]) == (422, "invalid_item_name")
    assert version_of(backend, cart_id) == 1


def test_a_lone_surrogate_in_a_name_is_400_not_a_server_error(api, backend):
    cart_id = open_cart(api)

    response = api.post(f"/api/carts/{cart_id}/items/", b'{"name": "a\\ud800"}', content_type="application/json")

    assert (response.status_code, list(response.json()["errors"])) == (400, ["name"])
    assert version_of(backend, cart_id) == 1


@pytest.mark.parametrize("name", ["Crème brûlée", "日本茶", "Ærøskøbing ale", "smörgås 🥪", "red wine/1l"])
def test_ordinary_names_in_any_script_are_accepted(api, name):
    cart_id = open_cart(api)

    response = add(api, cart_id, name)

    assert response.json()["items"] == [{"name": unicodedata.normalize("NFC", name), "quantity": 1}]


def test_the_domain_refuses_hidden_characters_and_normalises():
    cart = ShoppingCart.open()

    with pytest.raises(InvalidItemName) as caught:
        cart.add_item("app\u200ble")
    cart.add_item("  cafe\u0301 ")

    assert caught.value.code == "invalid_item_name"
    assert "U+200B" in str(caught.value)
    assert cart.items == {"caf\u00e9": 1}


def test_an_item_recorded_before_the_rule_can_still_be_removed(backend):
    cart = carts.save(ShoppingCart.open())
    legacy = "app\u200ble"
    backend.append(cart.uuid, "ShoppingCart", 1, [NewEvent("ItemAdded", {"name": legacy, "quantity": 1}, 2)])

    loaded = carts.load(cart.uuid)
    loaded.remove_item(legacy)

    assert loaded.items == {}
    assert loaded.changes[-1].name == legacy
