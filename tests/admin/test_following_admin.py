"""Subscriptions and projections in the admin (issue 14, part 5): status, lease, checkpoint, lag, errors and
parked events; pause and resume behind `eventstore.pause_subscription`."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse

import eventstore
from eventstore import subscription_state as state
from eventstore.models import SubscriptionState
from eventstore.subscriptions import Delivery, registry
from eventstore.worker import Worker
from tests.admin.conftest import _staff
from tests.factories import AccountFactory

SUBSCRIPTIONS = reverse("admin:eventstore_subscriptionstate_changelist")
PROJECTIONS = reverse("admin:eventstore_projectioncheckpoint_changelist")


@pytest.fixture
def ledger(backend):
    """A subscription that failed on one deposit (parked), caught up once, then left two events behind."""

    def handler(delivery: Delivery) -> None:
        if delivery.event_name == "MoneyDeposited" and delivery.version == 2:
            raise ValueError("ledger closed for the night")

    subscription = eventstore.register_subscription("ledger", handler, attempts=1)
    AccountFactory(deposits=[5])
    Worker([subscription], poll_seconds=0.01).run(until_caught_up=True)
    AccountFactory(deposits=[])  # AccountOpened, not yet delivered
    yield subscription
    registry.unregister("ledger")


def row(page: str, name: str) -> str:
    """Return the text of the changelist row of `name`, tags stripped and spaces collapsed."""
    found = re.search(rf"<tr[^>]*>(?:(?!</tr>).)*?{re.escape(name)}(?:(?!</tr>).)*</tr>", page, re.S)
    assert found, f"no row for {name}"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(0)).split())


def pauser_client(django_user_model) -> Client:
    client = Client()
    client.force_login(_staff(django_user_model, "operator", "view_subscriptionstate", "pause_subscription"))
    return client


def test_the_page_shows_each_subscriptions_state_lag_error_and_parked_events(superuser_client, ledger):
    page = superuser_client.get(SUBSCRIPTIONS).content.decode()

    line = row(page, "ledger")
    assert "no worker" in line  # the worker above ran until caught up and let the lease go
    assert "1 event(s)," in line  # AccountOpened of the second account
    assert cell(page, "parked") == "1"  # the deposit it failed on
    assert "ledger closed for the night" in line


def cell(page: str, column: str) -> str:
    """Return the text of the (only) row's cell of `column`."""
    found = re.search(rf'<td class="field-{column}">(.*?)</td>', page, re.S)
    assert found, f"no {column} cell"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_a_subscription_held_by_a_worker_shows_it_running(superuser_client, ledger):
    held = state.acquire("ledger", "worker-on-host-7", lease_seconds=30)
    assert held is not None

    line = row(superuser_client.get(SUBSCRIPTIONS).content.decode(), "ledger")

    assert "running" in line and "worker-on-host-7" in line


def test_pause_and_resume_are_recorded_and_need_their_permission(backend, django_user_model, ledger):
    operator = pauser_client(django_user_model)
    viewer = Client()
    viewer.force_login(_staff(django_user_model, "viewer", "view_subscriptionstate"))
    action = {"_selected_action": ["ledger"], "index": 0}

    assert "Pause: workers leave them alone" not in viewer.get(SUBSCRIPTIONS).content.decode()
    refused = viewer.post(SUBSCRIPTIONS, {**action, "action": "pause"})
    assert not SubscriptionState.objects.get(name="ledger").paused
    assert refused.status_code in (200, 302)

    operator.post(SUBSCRIPTIONS, {**action, "action": "pause"})
    assert SubscriptionState.objects.get(name="ledger").paused
    assert "paused" in row(operator.get(SUBSCRIPTIONS).content.decode(), "ledger")

    operator.post(SUBSCRIPTIONS, {**action, "action": "resume"})
    assert not SubscriptionState.objects.get(name="ledger").paused
    assert list(LogEntry.objects.order_by("pk").values_list("change_message", flat=True)) == ["Paused.", "Resumed."]


def test_a_caught_up_subscription_says_so(superuser_client, ledger):
    Worker([ledger], poll_seconds=0.01).run(until_caught_up=True)

    assert "caught up" in row(superuser_client.get(SUBSCRIPTIONS).content.decode(), "ledger")


def test_projections_are_listed_with_status_and_lag(superuser_client, ledger):
    page = superuser_client.get(PROJECTIONS).content.decode()

    line = row(page, "account_summary")
    assert "live" in line and "caught up" in line
    assert superuser_client.get(PROJECTIONS + "add/").status_code == 403


def test_the_pages_still_answer_when_the_event_store_cannot_be_reached(superuser_client, ledger, monkeypatch):
    from eventstore import subscription_state
    from eventstore.exceptions import EventStoreError

    def unreachable(position, backend):
        raise EventStoreError("the store is out of reach")

    monkeypatch.setattr(subscription_state, "lag", unreachable)

    for page in (SUBSCRIPTIONS, PROJECTIONS):
        response = superuser_client.get(page)
        assert response.status_code == 200
        assert "unknown: the event store cannot be reached" in response.content.decode()
