"""The harness itself: gunicorn serves the test database with DEBUG off, dies on SIGKILL and comes back."""

from __future__ import annotations

import pytest

from .live import request


def test_gunicorn_serves_the_admin_login_page_with_debug_off(gunicorn_server):
    login = request(gunicorn_server.url, "GET", "/admin/login/")
    missing = request(gunicorn_server.url, "GET", "/no-such-page/")

    assert login.status == 200
    assert b"csrfmiddlewaretoken" in login.body
    assert missing.status == 404
    # Django's technical 404 page (DEBUG on) lists the URL patterns; the production one does not.
    assert b"URLconf" not in missing.body
    assert b"admin/" not in missing.body


def test_gunicorn_killed_with_sigkill_stops_answering_and_restarts_on_the_same_port(gunicorn_server):
    port = gunicorn_server.port

    gunicorn_server.kill()
    with pytest.raises(OSError):
        request(gunicorn_server.url, "GET", "/admin/login/", timeout=3)
    gunicorn_server.start()

    assert gunicorn_server.port == port
    assert gunicorn_server.starts == 2
    assert request(gunicorn_server.url, "GET", "/admin/login/").status == 200
