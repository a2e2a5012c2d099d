"""Drive Debian's Chromium with Playwright against pytest-django's live server.

Database work stays outside `browser_page()`: Playwright's sync API runs an event loop, and Django
refuses ORM calls from inside one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MISSING = f"browser tests need Chromium at {CHROMIUM}: run `apt-get install -y chromium` (bin/test does, as root)"


@pytest.fixture
def chromium() -> Path:
    """Return Chromium's path; skip the test when it is missing (fail with CI=true)."""
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {MISSING}")
        pytest.skip(MISSING)
    return CHROMIUM


@pytest.fixture
def artifacts() -> Path:
    """Return the folder screenshots go to (gitignored)."""
    folder = settings.BASE_DIR / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder


@dataclass
class Browser:
    """A page in a fresh browser, with every dialog and script error it met."""

    page: object
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextmanager
def browser_page(chromium: Path, base_url: str, *, dark: bool = False) -> Iterator[Browser]:
    """Open a page in a fresh headless Chromium; dismiss and record any dialog (an alert would be XSS)."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                base_url=base_url, viewport={"width": 1360, "height": 900}, color_scheme="dark" if dark else "light"
            )
            page = context.new_page()
            # Generous: the machine running the suite may be busy with other suites.
            page.set_default_timeout(30_000)
            expect.set_options(timeout=30_000)
            seen = Browser(page)
            page.on("dialog", lambda dialog: (seen.dialogs.append(dialog.message), dialog.dismiss()))
            page.on("pageerror", lambda error: seen.errors.append(str(error)))
            yield seen
        finally:
            browser.close()
