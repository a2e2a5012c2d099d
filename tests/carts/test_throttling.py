"""Throttling and which authentication the API accepts (issue 12, part 3).

Rates are a few per minute and every test makes its requests well within one: no timing luck.
"""

from __future__ import annotations

import base64

import pytest
from django.core.cache import cache
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.settings import api_settings
from rest_framework.test import APIClient


def rates(anon: str | None = None, user: str | None = None, token: str | None = None) -> override_settings:
    return override_settings(
        REST_FRAMEWORK={
            **_base(),
            "DEFAULT_THROTTLE_RATES": {"anon": anon, "user": user, "token": token},
        }
    )


def _base() -> dict:
    from django.conf import settings

    return dict(settings.REST_FRAMEWORK)


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


def assert_throttled(response) -> None:
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert response.json()["detail"]
    assert int(response["Retry-After"]) > 0


def basic(username: str, password: str) -> APIClient:
    return APIClient(headers={"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()})


def test_the_suite_is_not_throttled_by_default(backend):
    assert api_settings.DEFAULT_THROTTLE_RATES == {"anon": None, "user": None, "token": None}
    for _ in range(30):
        assert APIClient().get("/api/carts/").status_code == 401


def test_anonymous_requests_are_throttled(backend):
    # DRF checks permissions before throttles: the anonymous rate counts where anonymous requests get through
    # (the token endpoint, unknown API paths); elsewhere they are refused with 401 first, hashing nothing.
    with rates(anon="3/min"):
        for _ in range(3):
            assert APIClient().get("/api/nowhere/").status_code == 404
        assert_throttled(APIClient().get("/api/nowhere/"))


def test_each_user_is_throttled_on_their_own(backend, user):
    from django.contrib.auth.models import User

    bob = User.objects.create_user("bob", password="bob-password")
    ann_client = APIClient(headers={"Authorization": f"Token {Token.objects.create(user=user).key}"})
    bob_client = APIClient(headers={"Authorization": f"Token {Token.objects.create(user=bob).key}"})
    with rates(user="3/min"):
        for _ in range(3):
            assert ann_client.get("/api/carts/").status_code == 200
        assert_throttled(ann_client.get("/api/carts/"))
        assert bob_client.get("/api/carts/").status_code == 200


def test_the_token_endpoint_has_a_tighter_scope(backend, user):
    body = {"username": "ann", "password": "ann-password"}
    with rates(anon="10/min", token="2/min"):
        for _ in range(2):
            assert APIClient().post("/api/auth/token/", body, format="json").status_code == 200
        assert_throttled(APIClient().post("/api/auth/token/", body, format="json"))
        # The rest of the API still has the anonymous rate left.
        assert APIClient().get("/api/nowhere/").status_code == 404


def test_basic_is_refused_unless_enabled(backend, user):
    with override_settings(API_BASIC_AUTH=False):
        response = basic("ann", "ann-password").get("/api/carts/")
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Token"
    with override_settings(API_BASIC_AUTH=True):
        assert basic("ann", "ann-password").get("/api/carts/").status_code == 200
