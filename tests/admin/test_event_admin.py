"""The event and snapshot lists: read-only for everyone, searchable, filterable, escaped, linked to streams."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from carts.repository import carts
from eventstore.context import event_context
from eventstore.models import EventRecord, Snapshot
from eventstore.stream_admin import stream_url
from tests.admin.conftest import XSS_ESCAPED, XSS_NAME, django_backend_only
from tests.factories import CartFactory, append_stream

pytestmark = django_backend_only

EVENTS_URL = "/admin/eventstore/eventrecord/"
SNAPSHOTS_URL = "/admin/eventstore/snapshot/"


def _positions(response):
    return [event.id for event in response.context["cl"].result_list]


@pytest.fixture
def cart():
    return CartFactory(items=[("apple", 2), (XSS_NAME, 1)])


@pytest.fixture
def snapshot(cart):
    carts.take_snapshot(cart.uuid)
    return Snapshot.objects.get(aggregate_uuid=cart.uuid)


# Immutability


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", "add/"), ("post", "add/"), ("post", "{pk}/change/"), ("get", "{pk}/delete/"), ("post", "{pk}/delete/")],
)
def test_nobody_not_even_a_superuser_adds_changes_or_deletes_an_event(superuser_client, cart, method, suffix):
    event = EventRecord.objects.get(aggregate_uuid=cart.uuid, version=2)
    before = (event.name, event.data, event.metadata)

    response = getattr(superuser_client, method)(
        EVENTS_URL + suffix.format(pk=event.pk), {"name": "Forged", "data": "{}"}
    )

    assert response.status_code == 403
    event.refresh_from_db()
    assert (event.name, event.data, event.metadata) == before
    assert EventRecord.objects.filter(aggregate_uuid=cart.uuid).count() == 3


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


def test_an_event_page_offers_no_save_or_delete_and_shows_escaped_json_with_links(superuser_client, cart):
    event = EventRecord.objects.get(aggregate_uuid=cart.uuid, version=3)

    response = superuser_client.get(reverse("admin:eventstore_eventrecord_change", args=[event.pk]))

    content = response.content.decode()
    assert response.status_code == 200
    assert 'name="_save"' not in content and "deletelink" not in content
    assert XSS_NAME not in content and f"&quot;name&quot;: &quot;{XSS_ESCAPED}&quot;" in content
    assert f'href="{stream_url(cart.uuid, 3)}"' in content and "See the ShoppingCart as of version 3" in content


def test_a_snapshot_page_shows_its_state_escaped_and_links_to_the_stream_at_its_version(superuser_client, snapshot):
    response = superuser_client.get(reverse("admin:eventstore_snapshot_change", args=[snapshot.pk]))

    content = response.content.decode()
    assert 'name="_save"' not in content
    assert XSS_NAME not in content and XSS_ESCAPED in content
    assert f'href="{stream_url(snapshot.aggregate_uuid, 3)}"' in content


# The event list


def test_the_event_list_shows_position_stream_type_version_and_name_newest_first(viewer_client, cart):
    response = viewer_client.get(EVENTS_URL)

    content = response.content.decode()
    assert _positions(response) == list(EventRecord.objects.order_by("-id").values_list("id", flat=True))
    assert f'href="{stream_url(cart.uuid)}"' in content
    assert "CartOpened" in content and "ItemAdded" in content
    assert XSS_NAME not in content


def test_staff_without_the_view_permission_cannot_see_events(outsider_client, cart):
    assert outsider_client.get(EVENTS_URL).status_code == 403
    assert outsider_client.get(SNAPSHOTS_URL).status_code == 403


def test_events_filter_by_aggregate_type_and_event_name(viewer_client, cart):
    invoice = append_stream(2, aggregate_type="Invoice")

    by_type = viewer_client.get(EVENTS_URL, {"aggregate_type": "Invoice"})
    by_name = viewer_client.get(EVENTS_URL, {"name": "CartOpened"})

    assert _positions(by_type) == [e.position for e in reversed(invoice)]
    assert _positions(by_name) == [EventRecord.objects.get(aggregate_uuid=cart.uuid, version=1).id]


def test_events_are_found_by_stream_uuid_event_uuid_correlation_id_and_actor(viewer_client, cart):
    other = CartFactory()
    with event_context(correlation_id="req-42", actor="alice@example.com"):
        carts.update(other.uuid, lambda c: c.add_item("plum"))
    tagged = EventRecord.objects.get(aggregate_uuid=other.uuid, version=3)
    event_uuid = EventRecord.objects.get(aggregate_uuid=cart.uuid, version=2).event_uuid

    def search(term):
        return _positions(viewer_client.get(EVENTS_URL, {"q": term}))

    assert search(str(cart.uuid)) == list(
        EventRecord.objects.filter(aggregate_uuid=cart.uuid).order_by("-id").values_list("id", flat=True)
    )
    assert search(str(event_uuid)) == [EventRecord.objects.get(event_uuid=event_uuid).id]
    assert search("req-42") == [tagged.id]
    assert search(" alice@example.com ") == [tagged.id]
    assert search("nobody") == []
    assert search(str(uuid.uuid4())) == []


def test_snapshots_are_found_by_stream_uuid_and_anything_else_finds_none(superuser_client, snapshot):
    CartFactory()

    found = superuser_client.get(SNAPSHOTS_URL, {"q": str(snapshot.aggregate_uuid)})
    nonsense = superuser_client.get(SNAPSHOTS_URL, {"q": "apple"})

    assert [s.pk for s in found.context["cl"].result_list] == [snapshot.pk]
    assert nonsense.status_code == 200 and list(nonsense.context["cl"].result_list) == []
