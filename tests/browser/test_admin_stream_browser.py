"""End to end in a real Chromium: log in, find a cart's stream, travel back in time, read the diff."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from carts.domain import ShoppingCart
from carts.repository import carts
from eventstore.context import event_context
from eventstore.stream_admin import stream_url
from tests.browser.conftest import browser_page
from tests.carts.factories import CartFactory

pytestmark = pytest.mark.browser

XSS_NAME = "<script>alert(1)</script>"
PASSWORD = "browser-test-password"


@pytest.fixture
def superuser(tx_backend, django_user_model):
    return django_user_model.objects.create_superuser("support", "support@example.com", PASSWORD)


@pytest.fixture
def cart(tx_backend):
    """A cart with a history worth reading: added, topped up, removed, a hostile item name."""
    with event_context(actor="alice@example.com", correlation_id="checkout-7f3a"):
        cart = carts.save(ShoppingCart.open())
        for name, quantity in [("apple", 2), ("pear", 1), (XSS_NAME, 1), ("apple", 3)]:
            cart.add_item(name, quantity)
            carts.save(cart)
    with event_context(actor="bob@example.com", correlation_id="support-ticket-118"):
        cart.remove_item("pear")
        cart.add_item("café crème", 1)
        carts.save(cart)
    return cart


def _log_in(page, next_url: str = "/admin/") -> None:
    page.goto(f"/admin/login/?next={next_url}")
    page.fill("#id_username", "support")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")


@pytest.fixture
def other_carts(tx_backend):
    """A few other carts, one of them checked out and closed, so the stream list has company."""
    others = [CartFactory(items=[("tea", 1), ("milk", 2)]), CartFactory(items=[("book", 1)], closed=True)]
    others.append(CartFactory(items=[("bread", 1)]))
    return others


def test_support_finds_a_cart_travels_to_an_older_version_and_reads_the_diff(
    chromium, artifacts, live_server, superuser, other_carts, cart
):
    with browser_page(chromium, live_server.url) as browser:
        page = browser.page
        _log_in(page)
        page.get_by_role("link", name="Streams", exact=True).first.click()
        page.wait_for_url("**/admin/eventstore/stream/")
        expect(page.locator("#result_list tbody tr")).to_have_count(4)
        expect(page.locator("#result_list").get_by_text(str(cart.uuid))).to_be_visible()
        page.screenshot(path=artifacts / "admin-stream-list.png", full_page=True)

        page.locator("#result_list").get_by_role("link", name=str(cart.uuid)).click()
        page.wait_for_url(f"**{stream_url(cart.uuid)}")
        state = page.locator("#state")
        expect(state.locator("h2")).to_have_text("State at version 7")
        expect(state.locator("tr", has_text="items \u203a apple").locator(".es-value")).to_have_text("5")
        expect(state.locator("tr", has_text="alert(1)").locator(".es-path")).to_have_text(f"items \u203a {XSS_NAME}")
        expect(page.locator("#history tbody tr")).to_have_count(7)
        page.screenshot(path=artifacts / "admin-stream-page.png", full_page=True)

        page.fill("#version-input", "3")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url(re.compile(r"\?version=3$"))
        expect(page.locator("#state h2")).to_have_text("State at version 3")
        expect(page.locator(".es-past")).to_have_text("You are looking at the past: version 3 of 7.")
        expect(page.locator("#state tr", has_text="pear").locator(".es-blame a")).to_have_text("v3 ItemAdded")
        added = page.locator("#changes .es-diff tr.es-added")
        expect(added).to_have_count(1)
        expect(added.locator(".es-path")).to_have_text("items \u203a pear")
        expect(page.locator("#history tr.es-selected th")).to_have_text("v3")
        page.screenshot(path=artifacts / "admin-time-travel.png", full_page=True)

        # Step forward to the top-up and read the change of quantity.
        page.get_by_role("link", name="v4 \u203a").click()
        page.wait_for_url(re.compile(r"\?version=4$"))
        page.get_by_role("link", name="v5 \u203a").click()
        page.wait_for_url(re.compile(r"\?version=5$"))
        changed = page.locator("#changes .es-diff tr.es-changed")
        expect(changed.locator(".es-path")).to_have_text("items \u203a apple")
        expect(changed.locator("del")).to_have_text("2")
        expect(changed.locator("ins")).to_have_text("5")

        # Blame leads back to the event that last changed a part.
        page.locator("#state tr", has_text="status").locator(".es-blame a").click()
        page.wait_for_url(re.compile(r"\?version=1$"))
        expect(page.locator("#changes .es-event-name")).to_have_text("CartOpened")
        assert browser.dialogs == [] and browser.errors == []


def test_an_operator_takes_a_snapshot_and_sees_it_listed(chromium, live_server, superuser, cart, tx_backend):
    with browser_page(chromium, live_server.url) as browser:
        page = browser.page
        _log_in(page, stream_url(cart.uuid))
        assert page.locator("#snapshots").get_by_text("No snapshots").is_visible()
        page.get_by_role("button", name="Take a snapshot now").click()
        page.wait_for_selector(".messagelist .success")
        message = page.locator(".messagelist .success").inner_text()
        snapshot_rows = page.locator("#snapshots tbody tr th").all_inner_texts()

    assert message == f"Took a snapshot of ShoppingCart {cart.uuid} at version 7."
    assert snapshot_rows == ["v7"]
    assert [s.version for s in tx_backend.list_snapshots(cart.uuid)] == [7]


def test_a_closed_cart_shows_its_tombstone_and_last_state_in_light_and_dark(
    chromium, artifacts, live_server, superuser, cart
):
    with event_context(actor="bob@example.com", correlation_id="support-ticket-118"):
        carts.update(cart.uuid, lambda c: c.close())
    for dark in (False, True):
        with browser_page(chromium, live_server.url, dark=dark) as browser:
            page = browser.page
            _log_in(page, stream_url(cart.uuid))
            tombstone = page.locator("#tombstone").inner_text()
            status = page.locator("#state tr", has_text="status").locator(".es-value").inner_text()
            snapshot_buttons = page.get_by_role("button", name="Take a snapshot now").count()
            page.screenshot(path=artifacts / f"admin-closed-stream{'-dark' if dark else ''}.png", full_page=True)
            assert browser.dialogs == [] and browser.errors == []

        assert "closed at version 8 by CartClosed" in tombstone
        assert status == "closed" and snapshot_buttons == 0


@pytest.mark.skipif(
    os.environ.get("EVENTSTORE_BACKEND", "django") != "django",
    reason="the event list reads the Django backend's tables",
)
def test_the_event_page_shows_escaped_data_and_leads_to_the_state_at_its_version(
    chromium, artifacts, live_server, superuser, cart, tx_backend
):
    position = next(tx_backend.read_stream(cart.uuid, from_version=4, to_version=4)).position
    with browser_page(chromium, live_server.url) as browser:
        page = browser.page
        _log_in(page, f"/admin/eventstore/eventrecord/?q={cart.uuid}")
        page.locator("#result_list").get_by_role("link", name=str(position), exact=True).click()
        data = page.locator(".field-data_json pre").inner_text()
        page.screenshot(path=artifacts / "admin-event.png", full_page=True)
        page.get_by_role("link", name="See the ShoppingCart as of version 4").click()
        heading = page.locator("#state h2").inner_text()
        assert browser.dialogs == [] and browser.errors == []

    assert f'"name": "{XSS_NAME}"' in data
    assert heading == "State at version 4"
