"""The event and snapshot lists: read-only for everyone, searchable, filterable, escaped, linked to streams."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from eventstore.backends.base import NewEvent
from eventstore.context import event_context
from eventstore.models import EventRecord, Snapshot
from eventstore.stream_admin import stream_url
from tests.admin.conftest import XSS_ESCAPED, XSS_NAME, django_backend_only
from tests.factories import AccountFactory, append_stream
from tests.testapp.repositories import accounts

pytestmark = django_backend_only

EVENTS_URL = "/admin/eventstore/eventrecord/"
SNAPSHOTS_URL = "/admin/eventstore/snapshot/"


def _positions(response):
    return [event.id for event in response.context["cl"].result_list]


@pytest.fixture
def account(backend):
    account = AccountFactory(owner=XSS_NAME, deposits=[2])
    # Straight to the store, past the domain's rules: what the pages show of events is data from outside.
    backend.append(account.uuid, "Account", 2, [NewEvent("MoneyDeposited", {"amount": 1, "currency": XSS_NAME}, 2)])
    return account


@pytest.fixture
def snapshot(account):
    accounts.take_snapshot(account.uuid)
    return Snapshot.objects.get(aggregate_uuid=account.uuid)


# Immutability


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", "add/"), ("post", "add/"), ("post", "{pk}/change/"), ("get", "{pk}/delete/"), ("post", "{pk}/delete/")],
)
def test_nobody_not_even_a_superuser_adds_changes_or_deletes_an_event(superuser_client, account, method, suffix):
    event = EventRecord.objects.get(aggregate_uuid=account.uuid, version=2)
    before = (event.name, event.data, event.metadata)

    response = getattr(superuser_client, method)(
        EVENTS_URL + suffix.format(pk=event.pk), {"name": "Forged", "data": "{}"}
    )

    assert response.status_code == 403
    event.refresh_from_db()
    assert (event.name, event.data, event.metadata) == before
    assert EventRecord.objects.filter(aggregate_uuid=account.uuid).count() == 3


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", "add/"), ("post", "add/"), ("post", "{pk}/change/"), ("get", "{pk}/delete/"), ("post", "{pk}/delete/")],
)
def test_nobody_adds_changes_or_deletes_a_snapshot(superuser_client, snapshot, method, suffix):
    response = getattr(superuser_client, method)(SNAPSHOTS_URL + suffix.format(pk=snapshot.pk), {"version": "1"})

    assert response.status_code == 403
    snapshot.refresh_from_db()
    assert snapshot.version == 3


@pytest.mark.parametrize(("url", "model"), [(EVENTS_URL, EventRecord), (SNAPSHOTS_URL, Snapshot)])
def test_the_bulk_delete_action_is_not_offered_and_a_crafted_one_deletes_nothing(
    superuser_client, snapshot, url, model
):
    pks = list(model.objects.values_list("pk", flat=True))

    page = superuser_client.get(url)
    response = superuser_client.post(url, {"action": "delete_selected", "_selected_action": pks, "post": "yes"})

    assert "delete_selected" not in page.content.decode() and page.context["action_form"] is None
    assert response.status_code in (200, 302)
    assert sorted(model.objects.values_list("pk", flat=True)) == sorted(pks)


def test_an_event_page_offers_no_save_or_delete_and_shows_escaped_json_with_links(superuser_client, account):
    opened = EventRecord.objects.get(aggregate_uuid=account.uuid, version=1)
    deposited = EventRecord.objects.get(aggregate_uuid=account.uuid, version=3)

    response = superuser_client.get(reverse("admin:eventstore_eventrecord_change", args=[opened.pk]))
    later = superuser_client.get(reverse("admin:eventstore_eventrecord_change", args=[deposited.pk]))

    content = response.content.decode()
    assert response.status_code == 200
    assert 'name="_save"' not in content and "deletelink" not in content
    assert XSS_NAME not in content and f"&quot;owner&quot;: &quot;{XSS_ESCAPED}&quot;" in content
    assert f'href="{stream_url(account.uuid, 1)}"' in content and "See the Account as of version 1" in content
    content = later.content.decode()
    assert later.status_code == 200
    assert 'name="_save"' not in content and "deletelink" not in content
    assert XSS_NAME not in content and f"&quot;currency&quot;: &quot;{XSS_ESCAPED}&quot;" in content
    assert f'href="{stream_url(account.uuid, 3)}"' in content and "See the Account as of version 3" in content


def test_a_snapshot_page_shows_its_state_escaped_and_links_to_the_stream_at_its_version(superuser_client, snapshot):
    response = superuser_client.get(reverse("admin:eventstore_snapshot_change", args=[snapshot.pk]))

    content = response.content.decode()
    assert 'name="_save"' not in content
    assert XSS_NAME not in content and XSS_ESCAPED in content
    assert f'href="{stream_url(snapshot.aggregate_uuid, 3)}"' in content


# The event list


def test_the_event_list_shows_position_stream_type_version_and_name_newest_first(viewer_client, account):
    response = viewer_client.get(EVENTS_URL)

    content = response.content.decode()
    assert _positions(response) == list(EventRecord.objects.order_by("-id").values_list("id", flat=True))
    assert f'href="{stream_url(account.uuid)}"' in content
    assert "AccountOpened" in content and "MoneyDeposited" in content
    assert XSS_NAME not in content


def test_staff_without_the_view_permission_cannot_see_events(outsider_client, account):
    assert outsider_client.get(EVENTS_URL).status_code == 403
    assert outsider_client.get(SNAPSHOTS_URL).status_code == 403


def test_events_filter_by_aggregate_type_and_event_name(viewer_client, account):
    invoice = append_stream(2, aggregate_type="Invoice")

    by_type = viewer_client.get(EVENTS_URL, {"aggregate_type": "Invoice"})
    by_name = viewer_client.get(EVENTS_URL, {"name": "AccountOpened"})

    assert _positions(by_type) == [e.position for e in reversed(invoice)]
    assert _positions(by_name) == [EventRecord.objects.get(aggregate_uuid=account.uuid, version=1).id]


def test_events_are_found_by_stream_uuid_event_uuid_correlation_id_and_actor(viewer_client, account):
    other = AccountFactory()
    with event_context(correlation_id="req-42", actor="alice@example.com"):
        accounts.update(other.uuid, lambda a: a.deposit(5))
    tagged = EventRecord.objects.get(aggregate_uuid=other.uuid, version=3)
    event_uuid = EventRecord.objects.get(aggregate_uuid=account.uuid, version=2).event_uuid

    def search(term):
        return _positions(viewer_client.get(EVENTS_URL, {"q": term}))

    assert search(str(account.uuid)) == list(
        EventRecord.objects.filter(aggregate_uuid=account.uuid).order_by("-id").values_list("id", flat=True)
    )
    assert search(str(event_uuid)) == [EventRecord.objects.get(event_uuid=event_uuid).id]
    assert search("req-42") == [tagged.id]
    assert search(" alice@example.com ") == [tagged.id]
    assert search("nobody") == []
    assert search(str(uuid.uuid4())) == []


def test_snapshots_are_found_by_stream_uuid_and_anything_else_finds_none(superuser_client, snapshot):
    AccountFactory()

    found = superuser_client.get(SNAPSHOTS_URL, {"q": str(snapshot.aggregate_uuid)})
    nonsense = superuser_client.get(SNAPSHOTS_URL, {"q": "EUR"})

    assert [s.pk for s in found.context["cl"].result_list] == [snapshot.pk]
    assert nonsense.status_code == 200 and list(nonsense.context["cl"].result_list) == []
