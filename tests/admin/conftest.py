"""Clients for the admin tests: a superuser, staff who may view events, and staff who may not."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

django_backend_only = pytest.mark.skipif(
    os.environ.get("EVENTSTORE_BACKEND", "django") != "django",
    reason="the event and snapshot lists read the Django backend's tables",
)

XSS_NAME = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _staff(django_user_model, username: str, *permissions: str):
    user = django_user_model.objects.create_user(username, password=None, is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="eventstore", codename=codename))
    return user


@pytest.fixture
def superuser_client(backend, admin_client: Client) -> Client:
    """Return a client logged in as a superuser, over an empty event store."""
    return admin_client


@pytest.fixture
def viewer_client(backend, django_user_model) -> Client:
    """Return a client logged in as staff who may view events (and nothing else)."""
    client = Client()
    client.force_login(_staff(django_user_model, "viewer", "view_eventrecord"))
    return client


@pytest.fixture
def operator_client(backend, django_user_model) -> Client:
    """Return a client logged in as staff who may view events and take snapshots."""
    client = Client()
    client.force_login(_staff(django_user_model, "operator", "view_eventrecord", "add_snapshot"))
    return client


@pytest.fixture
def outsider_client(backend, django_user_model) -> Client:
    """Return a client logged in as staff without any event store permission."""
    client = Client()
    client.force_login(_staff(django_user_model, "outsider"))
    return client
