"""PostgreSQL goes away during a load and comes back: the API answers 503 with Retry-After (never a
500), recovers by itself, and a client retrying with the same Idempotency-Key appends once.

The shared PostgreSQL server is not stopped (other test runs use it): the test database refuses new
connections (ALLOW_CONNECTIONS false) and its open connections are terminated, which is what an
application sees of a database that went down.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
from django.contrib.auth import get_user_model
from django.db import connection, connections
from psycopg import sql

from tests.conftest import requires_postgres

from .checks import (
    assert_acknowledged_writes_stored_once,
    assert_no_unacknowledged_writes,
    assert_read_model_equals_replay_and_state,
    assert_streams_contiguous,
    stored_additions,
)
from .live import admin_session, request, token_header
from .load import start_load, wait_for

PROCESSES = 3
WRITES_EACH = 40
OUTAGE_SECONDS = 3.0


def maintenance_connection(settings_dict: dict[str, Any]) -> psycopg.Connection:
    """Connect to the server's `postgres` database, outside the test database being cut off."""
    return psycopg.connect(
        dbname="postgres",
        host=settings_dict.get("HOST") or "127.0.0.1",
        port=settings_dict.get("PORT") or 5432,
        user=settings_dict.get("USER") or None,
        password=settings_dict.get("PASSWORD") or None,
        autocommit=True,
    )


@contextlib.contextmanager
def database_down(settings_dict: dict[str, Any]) -> Iterator[None]:
    """Refuse new connections to the test database and cut the open ones; restore on exit."""
    name = sql.Identifier(settings_dict["NAME"])
    with maintenance_connection(settings_dict) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [settings_dict["NAME"]],
            )
            yield
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))


def post_item(base_url: str, token: str, cart: str, name: str, key: str):
    return request(
        base_url,
        "POST",
        f"/api/carts/{cart}/items/",
        body={"name": name, "quantity": 1},
        headers={**token_header(token), "Idempotency-Key": key},
    )


@requires_postgres
def test_a_database_outage_is_answered_503_and_the_api_recovers_by_itself(gunicorn_server, api_user, report_figures):
    _, token = api_user
    settings_dict = dict(connection.settings_dict)
    run = start_load(gunicorn_server.url, token, processes=PROCESSES, writes=WRITES_EACH, deadline=180)
    probe_cart, probe_key, probe_name = run.carts[0], f"probe-{uuid.uuid4().hex}", "probe-item"
    get_user_model().objects.create_superuser("operator", password="an-operator-password-42")
    browser = admin_session(gunicorn_server.url, "operator", "an-operator-password-42")
    stream_page = f"/admin/eventstore/stream/{probe_cart}/"
    assert request(gunicorn_server.url, "GET", stream_page, headers=browser).status == 200
    wait_for(lambda: run.acked.value >= 20, 90, "the load never got going")
    connections.close_all()

    with database_down(settings_dict):
        down_at = time.monotonic()
        during = [
            post_item(gunicorn_server.url, token, probe_cart, probe_name, probe_key),
            request(gunicorn_server.url, "GET", f"/api/carts/{probe_cart}/", headers=token_header(token)),
            request(gunicorn_server.url, "GET", "/api/carts/", headers=token_header(token)),
            request(gunicorn_server.url, "GET", stream_page, headers=browser),
        ]
        login_page = request(gunicorn_server.url, "GET", "/admin/login/")
        wait_for(lambda: run.unavailable.value >= 10, 60, "the load processes never saw a 503")
        # Long enough that every load process sees it, several times over.
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
        outage_seconds = time.monotonic() - down_at

    # The login form needs no database; everything that does answers 503.
    assert login_page.status == 200
    for response in during:
        assert response.status == 503, (response.status, response.body[:300])
        assert response.header("Retry-After"), "a 503 must say when to retry"
        assert response.json()["code"] == "backend_unavailable"
        assert b"Traceback" not in response.body

    # Back up: the same request, same key, lands once; sending it again replays the first answer.
    recovered_in = time.monotonic()
    wait_for(
        lambda: request(gunicorn_server.url, "GET", "/api/carts/", headers=token_header(token)).status == 200,
        30,
        "the API did not recover by itself",
    )
    recovered_in = time.monotonic() - recovered_in
    assert request(gunicorn_server.url, "GET", stream_page, headers=browser).status == 200
    first = post_item(gunicorn_server.url, token, probe_cart, probe_name, probe_key)
    again = post_item(gunicorn_server.url, token, probe_cart, probe_name, probe_key)
    assert first.status == 200, first.body[:300]
    assert again.status == 200
    assert again.json() == first.json()
    assert again.header("Idempotent-Replayed")

    result = run.finish()
    acknowledged = result.acknowledged
    report_figures(
        {
            **result.figures(),
            "database down for seconds": round(outage_seconds, 2),
            "recovered within seconds": round(recovered_in, 2),
        }
    )
    assert result.unexpected == [], result.unexpected[:10]
    assert result.gave_up == []
    assert result.counts["unavailable"] >= 10
    assert len(acknowledged) == PROCESSES * WRITES_EACH
    assert_streams_contiguous(run.carts)
    assert_acknowledged_writes_stored_once(acknowledged, run.carts)
    assert_no_unacknowledged_writes(
        [*acknowledged, (probe_cart, probe_name, 1, first.json()["version"], 0.0)], run.carts
    )
    assert len(stored_additions([probe_cart])[probe_name]) == 1
    assert_read_model_equals_replay_and_state(run.carts)
