"""Parked events in the admin: listed read-only; retry and skip need their own permission and record who and when."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

import eventstore
from eventstore import store
from eventstore.models import ParkedEvent
from eventstore.subscriptions import Delivery, registry
from eventstore.worker import Worker
from tests.factories import AccountFactory

CHANGELIST = "admin:eventstore_parkedevent_changelist"


@pytest.fixture
def poisoned(backend):
    """A subscription that fails on deposits while `poisoned["on"]`, run once: its deposit is parked."""
    handled: list[int] = []
    switch = {"on": True, "handled": handled}

    def handler(delivery: Delivery) -> None:
        if switch["on"] and delivery.event_name == "MoneyDeposited":
            raise ValueError("no such product")
        handled.append(delivery.position)

    switch["subscription"] = eventstore.register_subscription("receipts", handler, attempts=2, backoff=0)
    switch["account"] = AccountFactory(deposits=[5])
    run(switch["subscription"])
    yield switch
    registry.unregister("receipts")


def run(subscription) -> None:
    Worker([subscription], poll_seconds=0.01).run(until_caught_up=True)


def staff_client(django_user_model, username: str, *codenames: str) -> Client:
    user = django_user_model.objects.create_user(username, password=None, is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="eventstore", codename=codename))
    client = Client()
    client.force_login(user)
    return client


def act(client: Client, action: str, *parked: ParkedEvent):
    data = {"action": action, "index": 0, "_selected_action": [p.pk for p in parked]}
    return client.post(reverse(CHANGELIST), data, follow=True)


def test_parked_events_are_listed_with_their_stream_and_error(poisoned, admin_client):
    parked = ParkedEvent.objects.get()

    listing = admin_client.get(reverse(CHANGELIST))
    detail = admin_client.get(reverse("admin:eventstore_parkedevent_change", args=[parked.pk]))

    assert listing.status_code == 200 and detail.status_code == 200
    assert "receipts" in listing.content.decode() and str(poisoned["account"].uuid) in listing.content.decode()
    assert "ValueError: no such product" in detail.content.decode()
    assert "Retry: deliver again to their subscription" in listing.content.decode()


def test_retrying_from_the_admin_redelivers_to_that_subscription_and_records_who_and_when(poisoned, django_user_model):
    client = staff_client(django_user_model, "ops", "view_parkedevent", "resolve_parkedevent")
    parked = ParkedEvent.objects.get()

    response = act(client, "retry", parked)

    assert "1 parked event(s) will be delivered again" in response.content.decode()
    parked.refresh_from_db()
    assert (parked.status, parked.retried_by) == (ParkedEvent.RETRY, "ops") and parked.retried_at is not None
    entry = LogEntry.objects.get(object_id=str(parked.pk))
    assert (entry.user.get_username(), entry.get_change_message()) == ("ops", "Asked for a retry.")

    poisoned["on"] = False
    run(poisoned["subscription"])

    parked.refresh_from_db()
    assert parked.status == ParkedEvent.DELIVERED
    assert poisoned["handled"][-1] == parked.position == store.get_backend().last_position()


def test_skipping_from_the_admin_records_who_and_when_and_a_second_action_changes_nothing(poisoned, django_user_model):
    client = staff_client(django_user_model, "ops", "view_parkedevent", "resolve_parkedevent")
    parked = ParkedEvent.objects.get()

    assert "1 parked event(s) skipped" in act(client, "skip", parked).content.decode()
    again = act(client, "retry", parked).content.decode()

    parked.refresh_from_db()
    assert (parked.status, parked.skipped_by, parked.retried_by) == (ParkedEvent.SKIPPED, "ops", "")
    assert "were not parked" in again


def test_staff_without_the_resolve_permission_can_read_but_not_retry_or_skip(poisoned, django_user_model):
    client = staff_client(django_user_model, "reader", "view_parkedevent")
    parked = ParkedEvent.objects.get()

    listing = client.get(reverse(CHANGELIST))
    act(client, "retry", parked)
    act(client, "skip", parked)

    assert listing.status_code == 200 and "Retry: deliver again" not in listing.content.decode()
    parked.refresh_from_db()
    assert parked.status == ParkedEvent.PARKED and not LogEntry.objects.exists()
    assert client.post(reverse("admin:eventstore_parkedevent_delete", args=[parked.pk])).status_code == 403
