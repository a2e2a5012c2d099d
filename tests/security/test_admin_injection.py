"""Admin search and filter parameters are data, never SQL: hostile values on every changelist the
admin serves get a page or the admin's own refusal (never a 500), match nothing, and change nothing."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from carts.repository import carts
from eventstore import store
from eventstore.models import EventRecord, Snapshot
from tests.carts.factories import CartFactory
from tests.conftest import requires_django_backend

pytestmark = pytest.mark.security

HOSTILE = [
    "' OR '1'='1",
    "' OR 1=1 --",
    '" OR ""="',
    "'; DROP TABLE eventstore_event; --",
    "1; DELETE FROM eventstore_event",
    "') UNION SELECT id, password FROM auth_user --",
    "%",
    "_",
    "\\",
    "%' --",
    "a\x00b",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    '{"$gt": ""}',
    "x" * 5000,
    "00000000-0000-0000-0000-000000000000' OR '1'='1",
]
#: Query strings that are not valid UTF-8 once decoded (the test client cannot encode such text itself).
RAW_SEARCHES = ["q=%FF%FE", "q=%ED%A0%80", "q=%00", "q=%C0%AF"]
EXTRA_PARAMETERS = [
    {"o": "99"},
    {"o": "1; DROP TABLE eventstore_event"},
    {"p": "-1"},
    {"p": "abc"},
    {"p": "9" * 30},
    {"id__gt": "abc"},
    {"aggregate_uuid__regex": ".*"},
    {"data__name": "' OR 1=1"},
    {"password__startswith": "pbkdf2"},
    {"_to_field": "password"},
    {"recorded_at__gte": "not a date"},
    {"created_at__gte": "2026-13-45"},
    {"all": "1"},
]


@pytest.fixture
def populated(backend) -> int:
    """Store three carts with snapshots; return the store's last position."""
    for _ in range(3):
        cart = CartFactory(items=[("apple", 2), ("pear", 1)])
        carts.take_snapshot(cart.uuid)
    return backend.last_position()


@pytest.fixture
def root_client(populated) -> Client:
    root = get_user_model().objects.create_superuser("root", password="x-long-password-9")
    client = Client()
    client.force_login(root)
    return client


def changelists() -> list[tuple[type, str]]:
    return [
        (model, reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
        for model in admin.site._registry
    ]


def filter_parameters(client: Client, url: str) -> list[str]:
    """Return the query parameter names of the changelist's filters, as the admin itself lists them."""
    changelist = changelist_of(client.get(url))
    if changelist is None:
        return []
    return sorted({name for spec in changelist.filter_specs for name in spec.expected_parameters()})


def changelist_of(response):
    """Return the admin ChangeList a changelist page was drawn from, if it was."""
    return response.context.get("cl") if response.context is not None else None


def result_count(response) -> int | None:
    changelist = changelist_of(response)
    return changelist.result_count if changelist is not None else None


def test_the_event_store_models_are_in_the_admin():
    registered = {model for model, _ in changelists()}
    assert {EventRecord, Snapshot} <= registered


def test_hostile_admin_search_terms_match_nothing_and_change_nothing(root_client, populated):
    tried = 0
    for model, url in changelists():
        rows = model._default_manager.count()
        for term in HOSTILE:
            response = root_client.get(url, {"q": term})
            tried += 1
            assert response.status_code in (200, 302, 400), f"{url}?q={term[:40]!r}: {response.status_code}"
            if response.status_code == 200:
                assert result_count(response) in (0, None), f"{url}?q={term[:40]!r} matched rows"
            assert model._default_manager.count() == rows
        for raw in RAW_SEARCHES:
            response = root_client.get(f"{url}?{raw}")
            tried += 1
            assert response.status_code in (200, 302, 400), f"{url}?{raw}: {response.status_code}"
            if response.status_code == 200:
                assert result_count(response) in (0, None), f"{url}?{raw} matched rows"
    assert store.get_backend().last_position() == populated
    print(f"hostile admin search terms tried: {tried}")


def test_hostile_admin_filter_parameters_are_refused_or_match_nothing(root_client, populated):
    tried = 0
    for model, url in changelists():
        rows = model._default_manager.count()
        names = filter_parameters(root_client, url)
        requests = [{name: value} for name in names for value in HOSTILE] + EXTRA_PARAMETERS
        for params in requests:
            response = root_client.get(f"{url}?{urlencode(params)}")
            tried += 1
            assert response.status_code in (200, 302, 400), f"{url}?{urlencode(params)[:80]}: {response.status_code}"
            if response.status_code == 302:
                # The admin's answer to lookups it cannot use: back to the list with ?e=1.
                assert "e=1" in response["Location"]
            assert model._default_manager.count() == rows
    assert store.get_backend().last_position() == populated
    print(f"hostile admin filter parameters tried: {tried}")


@requires_django_backend
def test_a_hostile_filter_value_does_not_widen_the_event_list(root_client, populated):
    url = reverse("admin:eventstore_eventrecord_changelist")
    everything = result_count(root_client.get(url))

    filtered = root_client.get(url, {"aggregate_type": "' OR '1'='1"})
    by_name = root_client.get(url, {"name": "ItemAdded' OR '1'='1"})

    assert everything == EventRecord.objects.count() > 0
    assert filtered.status_code == 200 and result_count(filtered) == 0
    assert by_name.status_code == 200 and result_count(by_name) == 0
