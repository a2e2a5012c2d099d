"""Fixtures of the carts API tests: users and authenticated API clients, and the schema comparison.

Every response a test here gets through Django's test client (APIClient included) is compared with what
the served OpenAPI schema declares for it (tests/carts/contract.py): a mismatch fails that test at
teardown, and the run ends with the counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from rest_framework.test import APIClient

from .contract import Contract, served_schema

CONTRACT: list[Contract] = []  # one, made on first use: the schema is generated once per run


def grant(user: User, *codenames: str) -> User:
    """Give `user` these carts permissions (e.g. "view_any_cart"); return it fresh, its permission cache empty."""
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="carts", codename__in=codenames))
    return User.objects.get(pk=user.pk)


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def user(db: None) -> User:
    return User.objects.create_user("ann", password="ann-password")


@pytest.fixture
def api(backend, user: User) -> APIClient:
    """Return a client logged in as ann, on an empty event store."""
    return client_for(user)


@pytest.fixture
def other_user(db: None) -> User:
    return User.objects.create_user("bob", password="bob-password")


@pytest.fixture
def other_api(backend, other_user: User) -> APIClient:
    """Return a client logged in as bob, an ordinary user like ann."""
    return client_for(other_user)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # Real hashing costs a third of a second per user; these tests are not about passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def responses_match_the_schema(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Record the responses of the test's requests; fail it if one differs from what the schema declares."""
    if not CONTRACT:
        CONTRACT.append(Contract(served_schema()))
    contract = CONTRACT[0]
    seen: list[tuple[str, str, Any]] = []
    send = Client.request

    def request(client: Client, **kwargs: Any) -> Any:
        response = send(client, **kwargs)
        seen.append((kwargs["REQUEST_METHOD"], kwargs["PATH_INFO"], response))  # list.append: thread-safe
        return response

    monkeypatch.setattr(Client, "request", request)
    yield
    problems = [problem for method, path, response in seen for problem in contract.check(method, path, response) or []]
    assert not problems, "responses differ from the OpenAPI schema:\n" + "\n".join(problems)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not CONTRACT or not (CONTRACT[0].checked or CONTRACT[0].outside):
        return
    contract = CONTRACT[0]
    operations = {operation for operation, _ in contract.checked}
    terminalreporter.section("responses compared with the OpenAPI schema")
    terminalreporter.write_line(
        f"{sum(contract.checked.values())} responses of {len(operations)} operations in {len(contract.checked)} "
        f"(operation, status) pairs matched the schema; {contract.outside} requests outside it (admin, schema, "
        "unknown paths and methods)"
    )
    for (operation, status), count in sorted(contract.checked.items()):
        terminalreporter.write_line(f"  {operation} {status}: {count}")
