"""Fixtures of the carts API tests: users and authenticated API clients."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient


@pytest.fixture
def user(db: None) -> User:
    return User.objects.create_user("ann", password="ann-password")


@pytest.fixture
def api(backend, user: User) -> APIClient:
    """Return a client logged in as ann, on an empty event store."""
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def other_api(backend) -> APIClient:
    client = APIClient()
    client.force_authenticate(User.objects.create_user("bob", password="bob-password"))
    return client


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # Real hashing costs a third of a second per user; these tests are not about passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
