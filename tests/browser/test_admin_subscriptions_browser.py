"""In a real Chromium: an operator reads how far the subscriptions and projections are behind, pauses one and
resumes it (issue 14, part 5)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

import eventstore
from eventstore.models import SubscriptionState
from eventstore.subscriptions import Delivery, registry
from eventstore.worker import Worker
from tests.browser.conftest import browser_page
from tests.carts.factories import CartFactory

pytestmark = pytest.mark.browser

PASSWORD = "browser-test-password"


@pytest.fixture
def operator(tx_backend, django_user_model):
    return django_user_model.objects.create_superuser("operator", "operator@example.com", PASSWORD)


@pytest.fixture
def audit(tx_backend):
    """A subscription that caught up once, then fell three events behind (a cart opened and two items added)."""

    def handler(delivery: Delivery) -> None:
        pass

    subscription = eventstore.register_subscription("audit_log", handler)
    CartFactory(items=[("tea", 1)])
    Worker([subscription], poll_seconds=0.01).run(until_caught_up=True)
    CartFactory(items=[("milk", 2), ("bread", 1)])
    yield subscription
    registry.unregister("audit_log")


def test_an_operator_sees_the_lag_pauses_a_subscription_and_resumes_it(
    chromium, artifacts, live_server, operator, audit
):
    with browser_page(chromium, live_server.url) as browser:
        page = browser.page
        page.goto("/admin/login/?next=/admin/")
        page.fill("#id_username", "operator")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.get_by_role("link", name="Subscriptions", exact=True).first.click()
        page.wait_for_url("**/admin/eventstore/subscriptionstate/")
        audit_row = page.locator("#result_list tbody tr", has_text="audit_log")
        expect(audit_row.locator("td.field-state")).to_have_text("no worker")
        expect(audit_row.locator("td.field-behind")).to_contain_text("3 event(s)")
        page.screenshot(path=artifacts / "admin-subscriptions.png", full_page=True)

        audit_row.locator("input.action-select").check()
        page.select_option("select[name=action]", "pause")
        page.click("button[name=index]")
        expect(page.locator("ul.messagelist")).to_contain_text("Paused: audit_log.")
        expect(audit_row.locator("td.field-state")).to_have_text("paused")

        audit_row.locator("input.action-select").check()
        page.select_option("select[name=action]", "resume")
        page.click("button[name=index]")
        expect(page.locator("ul.messagelist")).to_contain_text("Resumed: audit_log.")
        expect(audit_row.locator("td.field-state")).to_have_text("no worker")

        page.get_by_role("link", name="Projections", exact=True).first.click()
        page.wait_for_url("**/admin/eventstore/projectioncheckpoint/")
        summary = page.locator("#result_list tbody tr", has_text="cart_summary")
        expect(summary.locator("td.field-status")).to_contain_text("live")
        expect(summary.locator("td.field-behind")).to_have_text("caught up")
    assert browser.dialogs == [] and browser.errors == []
    assert not SubscriptionState.objects.get(name="audit_log").paused
