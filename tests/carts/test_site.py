"""The demo site's front page leads somewhere useful: the admin, the API docs, the first API calls."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse


@pytest.mark.django_db
def test_the_front_page_asks_anonymous_users_to_sign_in_first(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next=/"


@pytest.mark.django_db
def test_the_front_page_links_the_admin_the_api_docs_and_shows_first_calls_at_its_own_address(client):
    client.force_login(get_user_model().objects.create_user("ann", password="x-long-password-9"))

    response = client.get("/", HTTP_HOST="127.0.0.1:8765")

    page = response.content.decode()
    assert response.status_code == 200
    for url in ("/admin/", "/admin/eventstore/stream/", "/api/docs/", "/api/schema/", "/api/carts/"):
        assert f'href="{url}"' in page
    assert "http://127.0.0.1:8765/api/auth/token/" in page
