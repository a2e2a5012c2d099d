"""The schema comparison itself (tests/carts/contract.py) finds what it is meant to find."""

from __future__ import annotations

import uuid

from django.http import HttpResponse, JsonResponse

from .conftest import CONTRACT
from .contract import Contract

CART = "/api/carts/3f2b8c1e-0d4a-4e7b-9c61-5a8f2e7d9b10/"


def cart_response(without: str = "", **extra_fields) -> JsonResponse:
    body = {
        "uuid": str(uuid.uuid4()),
        "version": 2,
        "status": "open",
        "items": [{"name": "apples", "quantity": 3}],
        "item_count": 1,
        "total_quantity": 3,
        **extra_fields,
    }
    body.pop(without, None)
    response = JsonResponse(body)
    response["ETag"] = '"2"'
    response["X-Request-ID"] = "r-1"
    return response


def problems(method: str, path: str, response: HttpResponse) -> list[str] | None:
    # The served schema, with counts of its own: these made-up responses are not the API's.
    return Contract(CONTRACT[0].schema).check(method, path, response)


def test_a_response_as_declared_has_no_problem():
    assert problems("GET", CART, cart_response()) == []


def test_an_undeclared_header_is_a_problem():
    response = cart_response()
    response["Idempotent-Replayed"] = "true"  # declared on writes' 200, not on get_cart's

    assert problems("GET", CART, response) == [
        f"GET {CART} -> 200 (get_cart): header Idempotent-Replayed sent but not declared"
    ]


def test_a_missing_required_header_is_a_problem():
    response = cart_response()
    del response["ETag"]

    assert problems("GET", CART, response) == [f"GET {CART} -> 200 (get_cart): declared header ETag missing"]


def test_a_header_whose_value_its_schema_does_not_allow_is_a_problem():
    throttled = JsonResponse({"code": "throttled", "detail": "wait"}, status=429)
    throttled["Retry-After"] = "soon"
    throttled["X-Request-ID"] = "r-1"

    assert problems("GET", CART, throttled) == [
        f"GET {CART} -> 429 (get_cart): header Retry-After: 'soon' is not {{'type': 'integer'}}"
    ]


def test_an_undeclared_field_and_a_missing_one_are_problems():
    response = cart_response(without="item_count", owner="ann")

    found = problems("GET", CART, response)

    assert len(found) == 2
    assert "'item_count' is a required property" in found[0]
    assert "('owner' was unexpected)" in found[1]


def test_an_error_body_must_be_the_one_its_code_names():
    conflict = JsonResponse(
        {"code": "idempotency_key_in_progress", "detail": "wait", "expected_version": 1}, status=409
    )
    conflict["X-Request-ID"] = "r-1"

    [problem] = problems("POST", CART + "items/", conflict)

    assert "409 (add_item): body .:" in problem


def test_an_undeclared_status_is_a_problem_and_other_paths_are_not_compared():
    teapot = JsonResponse({"code": "teapot", "detail": "no"}, status=418)

    assert problems("GET", CART, teapot) == [
        f"GET {CART} -> 418 (get_cart): status not declared (declared: 200, 304, 400, 401, 404, 410, 429, 503)"
    ]
    assert problems("GET", "/admin/", HttpResponse("<html>")) is None
    assert problems("PUT", CART, teapot) is None
