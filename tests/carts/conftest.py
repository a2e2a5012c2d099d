"""Fixtures of the carts API tests: users and authenticated API clients."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient


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
