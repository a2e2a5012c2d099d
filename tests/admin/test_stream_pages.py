"""The stream list and a stream's page: content, time travel, blame, permissions, read through the backend."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from eventstore.backends.base import NewEvent
from eventstore.history import Change
from eventstore.models import Stream
from eventstore.stream_admin import StreamAdmin, stream_url
from tests.admin.conftest import XSS_ESCAPED, XSS_NAME
from tests.factories import AccountFactory, append_stream
from tests.testapp.repositories import accounts

STREAMS_URL = "/admin/eventstore/stream/"
TEXTS = StreamAdmin.user_messages


@pytest.fixture
def stream_admin():
    return admin.site._registry[Stream]


def _page(client, account_uuid, **params):
    return client.get(stream_url(account_uuid), params)


# Reaching the pages


def test_the_admin_index_links_to_the_stream_list_for_staff_who_may_view_events(viewer_client, outsider_client):
    assert reverse("admin:eventstore_stream_changelist") == STREAMS_URL
    assert f'href="{STREAMS_URL}"' in viewer_client.get("/admin/").content.decode()
    assert STREAMS_URL not in outsider_client.get("/admin/").content.decode()


def test_staff_without_the_view_permission_are_refused_and_visitors_sent_to_log_in(outsider_client, client):
    account = AccountFactory()

    assert outsider_client.get(STREAMS_URL).status_code == 403
    assert outsider_client.get(stream_url(account.uuid)).status_code == 403
    response = client.get(stream_url(account.uuid))
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_the_stream_list_and_stream_pages_never_query_the_events_table(viewer_client):
    account = AccountFactory(deposits=[2, (1, "USD")])

    with CaptureQueriesContext(connection) as list_queries:
        assert viewer_client.get(STREAMS_URL).status_code == 200
    with CaptureQueriesContext(connection) as page_queries:
        assert viewer_client.get(stream_url(account.uuid)).status_code == 200

    # The list reads stream heads only; the stream page reads one stream's events by version range.
    assert not [q["sql"] for q in list_queries if re.search(r"eventstore_event\b", q["sql"])]
    reads = [q["sql"] for q in page_queries if re.search(r"eventstore_event\b", q["sql"])]
    assert all("aggregate_uuid" in sql for sql in reads)


# The stream list


def test_the_stream_list_shows_each_stream_with_its_type_version_and_status(viewer_client):
    open_account = AccountFactory(deposits=[1])
    closed_account = AccountFactory(deposits=[1], closed=True)

    response = viewer_client.get(STREAMS_URL)

    content = response.content.decode()
    rows = {str(stream.aggregate_uuid): stream for stream, _ in response.context["streams"]}
    assert rows[str(open_account.uuid)].version == 2 and not rows[str(open_account.uuid)].closed
    assert rows[str(closed_account.uuid)].version == 3 and rows[str(closed_account.uuid)].closed
    assert f'href="{stream_url(open_account.uuid)}"' in content
    assert "es-closed" in content and "2 streams" in content


def test_the_stream_list_filters_by_aggregate_type(viewer_client):
    account = AccountFactory()
    invoice = append_stream(2, aggregate_type="Invoice")[0].aggregate_uuid

    response = viewer_client.get(STREAMS_URL, {"type": "Invoice"})

    assert [s.aggregate_uuid for s, _ in response.context["streams"]] == [invoice]
    assert response.context["total"] == 1
    assert [(name, selected) for name, _, selected in response.context["type_choices"]] == [
        ("Account", False),
        ("Invoice", True),
    ]
    assert str(account.uuid) not in response.content.decode()


def test_the_stream_list_pages_with_a_cursor_through_every_stream(viewer_client, stream_admin, monkeypatch):
    monkeypatch.setattr(stream_admin, "list_per_page", 2)
    created = {AccountFactory().uuid for _ in range(5)}

    seen, url, pages = [], STREAMS_URL, 0
    while url:
        response = viewer_client.get(url)
        pages += 1
        seen += [s.aggregate_uuid for s, _ in response.context["streams"]]
        url = response.context["next_page_url"] and STREAMS_URL + response.context["next_page_url"]

    assert pages == 3 and len(seen) == 5 and set(seen) == created
    assert "5 streams" in response.content.decode()


def test_a_damaged_cursor_is_a_clear_error_and_shows_the_first_page(viewer_client):
    account = AccountFactory()

    response = viewer_client.get(STREAMS_URL, {"cursor": "not-a-cursor"})

    assert response.status_code == 400
    assert TEXTS["bad_cursor"] in response.content.decode()
    assert [s.aggregate_uuid for s, _ in response.context["streams"]] == [account.uuid]


def test_searching_a_whole_uuid_finds_that_stream_only(viewer_client):
    account, other = AccountFactory(), AccountFactory()

    found = viewer_client.get(STREAMS_URL, {"q": f" {account.uuid} "})
    missing = viewer_client.get(STREAMS_URL, {"q": str(uuid.uuid4())})
    wrong_type = viewer_client.get(STREAMS_URL, {"q": str(account.uuid), "type": "Invoice"})

    assert [s.aggregate_uuid for s, _ in found.context["streams"]] == [account.uuid]
    assert str(other.uuid) not in found.content.decode()
    assert missing.status_code == 200 and missing.context["streams"] == []
    assert "No stream has this uuid" in missing.content.decode()
    assert wrong_type.context["streams"] == []


def test_searching_something_that_is_not_a_uuid_is_a_clear_error(viewer_client):
    AccountFactory()

    response = viewer_client.get(STREAMS_URL, {"q": "ann"})

    assert response.status_code == 400
    assert response.context["streams"] == []
    assert "“ann” is not a stream uuid" in response.content.decode()


# A stream's page


def test_the_stream_page_shows_the_current_state_readably_with_blame_history_and_facts(viewer_client):
    account = AccountFactory(deposits=[2, (1, "USD"), 1])

    response = _page(viewer_client, account.uuid)

    assert response.status_code == 200
    content = response.content.decode()
    state = response.context["state"]
    assert state.version == 4
    assert state.state == {"status": "open", "owner": "ann", "balances": {"EUR": 3, "USD": 1}}
    assert [(p.label, p.value, p.changed_by.version) for p in state.parts] == [
        ("status", "open", 1),
        ("owner", "ann", 1),
        ("balances \u203a EUR", 3, 4),
        ("balances \u203a USD", 1, 3),
    ]
    assert "State at version 4" in content and "balances \u203a EUR" in content
    assert '<a href="?version=4">v4 MoneyDeposited</a>' in content
    assert "{&#x27;EUR&#x27;" not in content and "{'EUR'" not in content  # not a raw dict dump
    assert [e.version for e in response.context["history_page"]] == [4, 3, 2, 1]
    assert "4 events, newest first" in content and "es-open" in content


def test_time_travel_shows_the_state_at_a_version_and_what_its_event_changed(viewer_client):
    account = AccountFactory(deposits=[2, (1, "USD"), 1])

    response = _page(viewer_client, account.uuid, version=3)

    state = response.context["state"]
    assert state.state == {"status": "open", "owner": "ann", "balances": {"EUR": 2, "USD": 1}}
    assert state.changes == [Change(("balances", "USD"), "added", after=1)]
    content = response.content.decode()
    assert "You are looking at the past: version 3 of 4." in content
    assert "What version 3 changed" in content and 'class="es-added"' in content
    assert '<a class="es-step" href="?version=2"' in content and '<a class="es-step" href="?version=4"' in content


def test_a_change_of_balance_reads_as_before_and_after(viewer_client):
    account = AccountFactory(deposits=[2, 3])

    response = _page(viewer_client, account.uuid, version=3)

    assert response.context["state"].changes == [Change(("balances", "EUR"), "changed", 2, 5)]
    assert "<del>2</del> &rarr; <ins>5</ins>" in response.content.decode()


@pytest.mark.parametrize("version", ["0", "5", "-1", "two", "3.5"])
def test_a_version_the_stream_does_not_have_is_a_clear_error_showing_the_latest(viewer_client, version):
    account = AccountFactory(deposits=[1, (1, "USD")])

    response = _page(viewer_client, account.uuid, version=version)

    assert response.status_code == 400
    expected = TEXTS["bad_version"].format(uuid=account.uuid, version=version, current=3)
    assert expected in response.content.decode()
    assert response.context["state"].version == 3


def test_a_closed_stream_shows_its_tombstone_and_its_last_state(operator_client):
    account = AccountFactory(deposits=[2], closed=True)

    response = _page(operator_client, account.uuid)

    content = response.content.decode()
    assert response.context["tombstone"].name == "AccountClosed" and response.context["tombstone"].version == 3
    assert "This stream was closed at version 3 by" in content
    assert response.context["state"].state == {"status": "closed", "owner": "ann", "balances": {"EUR": 2}}
    assert response.context["state"].changes == [Change(("status",), "changed", "open", "closed")]
    assert "Take a snapshot now" not in content


def test_an_unknown_stream_sends_back_to_the_list_with_a_message(viewer_client):
    missing = uuid.uuid4()

    response = viewer_client.get(stream_url(missing), follow=True)

    assert response.redirect_chain == [(STREAMS_URL, 302)]
    assert TEXTS["no_stream"].format(uuid=missing) in response.content.decode()


def test_a_type_without_a_registered_repository_still_shows_its_history(viewer_client):
    events = append_stream(3, aggregate_type="Invoice")

    response = _page(viewer_client, events[0].aggregate_uuid)

    assert response.status_code == 200
    assert response.context["state"] is None
    assert TEXTS["no_repository"].format(type="Invoice") in response.content.decode().replace("&#x27;", "'")
    assert [e.version for e in response.context["history_page"]] == [3, 2, 1]
    assert response.context["event"].version == 3


def test_an_event_that_cannot_be_read_is_named_and_the_history_still_shows(viewer_client, backend):
    account = AccountFactory()
    backend.append(account.uuid, "Account", 2, [NewEvent("InterestPaid", {"rate": "red"})])

    response = _page(viewer_client, account.uuid)

    assert response.status_code == 200 and response.context["state"] is None
    assert f"stream {account.uuid}, version 3" in response.context["state_error"]
    assert "InterestPaid" in response.content.decode()


def test_a_long_stream_renders_from_a_snapshot_and_one_page_of_history(viewer_client, stream_admin, backend):
    account = AccountFactory(deposits=[])
    chunk = min(100, backend.max_events_per_append or 100)
    for _ in range(12):  # 1,200 more events, a snapshot after each hundred
        for size in [chunk] * (100 // chunk) + ([100 % chunk] if 100 % chunk else []):
            append_stream(size, aggregate_uuid=account.uuid)
        accounts.take_snapshot(account.uuid)

    response = _page(viewer_client, account.uuid)

    state = response.context["state"]
    assert state.version == 1201
    # Replay starts at the newest snapshot at least blame_window events back, not at version 1.
    assert state.replayed_from == 1001 and state.replayed == 200 == stream_admin.blame_window
    assert not state.blame_complete and "Blame from the start" in response.content.decode()
    page = response.context["history_page"]
    assert [e.version for e in page.object_list] == list(range(1201, 1151, -1))
    assert page.paginator.num_pages == 25
    assert response.context["more_snapshots"] and len(response.context["snapshots"]) == 10

    full = _page(viewer_client, account.uuid, version=1201, blame="full")
    assert full.context["state"].blame_complete and full.context["state"].state == state.state


def test_time_travel_opens_the_history_on_the_page_holding_that_version(viewer_client, stream_admin, monkeypatch):
    monkeypatch.setattr(stream_admin, "history_per_page", 2)
    account = AccountFactory(deposits=[1] * 5)  # v1..v6

    response = _page(viewer_client, account.uuid, version=2)
    explicit = _page(viewer_client, account.uuid, version=2, page=1)

    assert [e.version for e in response.context["history_page"]] == [2, 1]
    assert [e.version for e in explicit.context["history_page"]] == [6, 5]


# Taking a snapshot


def test_an_operator_takes_a_snapshot_from_the_stream_page(operator_client, backend):
    account = AccountFactory(deposits=[2])
    assert "Take a snapshot now" in _page(operator_client, account.uuid).content.decode()

    response = operator_client.post(reverse("admin:eventstore_stream_snapshot", args=[account.uuid]), follow=True)

    assert response.redirect_chain == [(stream_url(account.uuid), 302)]
    assert [s.version for s in backend.list_snapshots(account.uuid)] == [2]
    assert backend.list_snapshots(account.uuid)[0].state == {"status": "open", "owner": "ann", "balances": {"EUR": 2}}
    assert TEXTS["snapshot_taken"].format(type="Account", uuid=account.uuid, version=2) in response.content.decode()


def test_staff_who_may_only_view_cannot_take_a_snapshot(viewer_client, backend):
    account = AccountFactory()

    assert "Take a snapshot now" not in _page(viewer_client, account.uuid).content.decode()
    assert viewer_client.post(reverse("admin:eventstore_stream_snapshot", args=[account.uuid])).status_code == 403
    assert backend.list_snapshots(account.uuid) == []


def test_taking_a_snapshot_needs_a_post_with_a_csrf_token(operator_client, backend):
    account = AccountFactory()
    url = reverse("admin:eventstore_stream_snapshot", args=[account.uuid])

    assert operator_client.get(url).status_code == 405
    operator_client.handler.enforce_csrf_checks = True
    assert operator_client.post(url).status_code == 403
    assert backend.list_snapshots(account.uuid) == []


def test_a_closed_stream_is_not_snapshotted(operator_client, backend):
    account = AccountFactory(closed=True)

    response = operator_client.post(reverse("admin:eventstore_stream_snapshot", args=[account.uuid]), follow=True)

    assert backend.list_snapshots(account.uuid) == []
    assert TEXTS["snapshot_closed"].format(type="Account", uuid=account.uuid) in response.content.decode()


# Event data is user input


def test_an_owner_and_a_currency_named_like_a_script_render_as_text_on_the_stream_page(viewer_client, backend):
    account = AccountFactory(owner=XSS_NAME, deposits=[])
    # Straight to the store, past the domain's rules: what the page shows of events is data from outside.
    backend.append(account.uuid, "Account", 1, [NewEvent("MoneyDeposited", {"amount": 1, "currency": XSS_NAME}, 2)])
    accounts.update(account.uuid, lambda a: a.close())

    for version in (1, 2, 3):
        content = _page(viewer_client, account.uuid, version=version).content.decode()
        assert XSS_NAME not in content
        assert XSS_ESCAPED in content


def test_a_snapshot_of_a_type_without_a_repository_or_of_no_stream_is_refused_with_a_message(operator_client, backend):
    invoice = append_stream(2, aggregate_type="Invoice")[0].aggregate_uuid
    missing = uuid.uuid4()

    refused = operator_client.post(reverse("admin:eventstore_stream_snapshot", args=[invoice]), follow=True)
    unknown = operator_client.post(reverse("admin:eventstore_stream_snapshot", args=[missing]), follow=True)

    assert backend.list_snapshots(invoice) == []
    assert TEXTS["no_repository"].format(type="Invoice") in refused.content.decode().replace("&#x27;", "'")
    assert unknown.redirect_chain == [(STREAMS_URL, 302)]
    assert TEXTS["no_stream"].format(uuid=missing) in unknown.content.decode()
