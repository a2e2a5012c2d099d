"""Fixtures of the reliability suite: a live gunicorn on the test database and a user to call it as."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections

from eventstore import store
from tests.conftest import empty_backend

from .live import LiveServer, database_url, production_env

#: Figures the tests measured, printed at the end of the run: (test, {figure: value}).
FIGURES: list[tuple[str, dict[str, object]]] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for test, figures in FIGURES:
        terminalreporter.write_line(f"{test}: " + ", ".join(f"{name} {value}" for name, value in figures.items()))


@pytest.fixture
def report_figures(request: pytest.FixtureRequest):
    """Return a function that records figures for the end-of-run summary (and prints them with -s)."""

    def report(figures: dict[str, object]) -> None:
        FIGURES.append((request.node.name, figures))
        print(f"\n{request.node.name}: {figures}")

    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.reliability)


@pytest.fixture
def committed_backend(transactional_db: None) -> Iterator[None]:
    """Let other processes see this test's writes (committed, not in a rolled-back transaction)."""
    empty_backend()
    yield
    store.reset_backend()


@pytest.fixture
def api_user(committed_backend: None) -> tuple[str, str]:
    """Return (username, token) of a staff user with a DRF token, committed for the server to see."""
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.create_user("loadtester", password="a-long-test-password-7731", is_staff=True)
    token = Token.objects.create(user=user)
    return user.get_username(), token.key


@pytest.fixture
def gunicorn_server(committed_backend: None, tmp_path: Path) -> Iterator[LiveServer]:
    """Serve the project with gunicorn (DEBUG off, a real SECRET_KEY) on the test database."""
    server = LiveServer(
        env=production_env(DATABASE_URL=database_url(connection.settings_dict)), log_path=tmp_path / "gunicorn.log"
    )
    try:
        with server.running():
            yield server
    finally:
        connections.close_all()
        # Shown by pytest only when the test failed: what the server said.
        print(f"--- gunicorn log ({server.log_path}) ---\n{server.log_tail(200)}")
