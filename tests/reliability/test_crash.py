"""gunicorn is SIGKILLed in the middle of a load and restarted on the same database: nothing
acknowledged is lost, nothing half-written is visible, retried writes land once, writing resumes."""

from __future__ import annotations

import json
import socket
import time
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db import connection, connections
from rest_framework.authtoken.models import Token

from eventstore import store
from tests.conftest import requires_django_backend

from .checks import (
    assert_acknowledged_writes_stored_once,
    assert_no_unacknowledged_writes,
    assert_read_model_equals_replay_and_state,
    assert_streams_contiguous,
    stored_additions,
)
from .live import LiveServer, database_url, production_env, request, token_header
from .load import open_carts, start_load, wait_for

PROCESSES = 4
WRITES_EACH = 40


@requires_django_backend
def test_sigkill_in_the_middle_of_a_load_loses_no_acknowledged_write(gunicorn_server, api_user, report_figures):
    _, token = api_user
    run = start_load(gunicorn_server.url, token, processes=PROCESSES, writes=WRITES_EACH, deadline=180)
    total = PROCESSES * WRITES_EACH
    wait_for(lambda: run.acked.value >= total // 3, 90, "the load never got a third of its writes acknowledged")

    acked_before_kill = run.acked.value
    gunicorn_server.kill()
    killed_at = time.time()
    # Clients keep sending into a dead port for a while, as they would during a real restart.
    time.sleep(1.0)
    gunicorn_server.start()
    restarted_at = time.time()
    result = run.finish()

    acknowledged = result.acknowledged
    after_restart = [ack for ack in acknowledged if ack[4] >= restarted_at]
    report_figures(
        {
            **result.figures(),
            "acknowledged before the kill": acked_before_kill,
            "acknowledged after the restart": len(after_restart),
            "down for seconds": round(restarted_at - killed_at, 2),
        }
    )
    assert result.unexpected == [], result.unexpected[:10]
    assert result.gave_up == []
    assert len(acknowledged) == total
    assert result.counts["no_response"] > 0, "no request noticed the crash: the kill came too late to test anything"
    assert after_restart, "no write was acknowledged after the restart"
    events = assert_streams_contiguous(run.carts)
    found = assert_acknowledged_writes_stored_once(acknowledged, run.carts)
    assert_no_unacknowledged_writes(acknowledged, run.carts)
    assert_read_model_equals_replay_and_state(run.carts)
    assert events == len(run.carts) + total
    report_figures({"acknowledged writes found after the crash": f"{found}/{len(acknowledged)}"})


@requires_django_backend
def test_a_write_whose_answer_was_lost_is_appended_once_when_retried(gunicorn_server, api_user):
    _, token = api_user
    cart = open_carts(gunicorn_server.url, token, 1)[0]
    body = json.dumps({"name": "lost-answer", "quantity": 2}).encode()
    head = (
        f"POST /api/carts/{cart}/items/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Token {token}\r\nIdempotency-Key: lost-1\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()

    # Send the request and hang up without reading: the client never learns whether it landed.
    with socket.create_connection(("127.0.0.1", gunicorn_server.port), timeout=10) as sock:
        sock.sendall(head + body)
    wait_for(lambda: store.get_backend().get_version(UUID(cart)) == 2, 30, "the unanswered write never landed")
    retried = request(
        gunicorn_server.url,
        "POST",
        f"/api/carts/{cart}/items/",
        body={"name": "lost-answer", "quantity": 2},
        headers={**token_header(token), "Idempotency-Key": "lost-1"},
    )

    assert retried.status == 200
    assert retried.header("Idempotent-Replayed")
    assert retried.json()["version"] == 2
    assert stored_additions([cart])["lost-answer"] == [(cart, 2, 2)]
    assert_streams_contiguous([cart])


#: What the kill_after_commit_settings server dies after committing (not imported: it would import those settings).
KILL_ITEM = "kill-after-commit"


def test_a_write_whose_server_died_after_the_commit_is_appended_once_when_retried(committed_backend, tmp_path):
    """On every backend: the event is stored, the worker dies before answering, the retry appends nothing."""
    user = get_user_model().objects.create_user("crasher", password="a-long-test-password-4471")
    token = Token.objects.create(user=user).key
    server = LiveServer(
        env=production_env(
            DATABASE_URL=database_url(connection.settings_dict),
            DJANGO_SETTINGS_MODULE="tests.reliability.kill_after_commit_settings",
            IDEMPOTENCY_CLAIM_TIMEOUT="2",
        ),
        log_path=tmp_path / "gunicorn.log",
    )
    try:
        with server.running():
            cart = open_carts(server.url, token, 1)[0]
            write = {
                "method": "POST",
                "path": f"/api/carts/{cart}/items/",
                "body": {"name": KILL_ITEM, "quantity": 1},
                "headers": {**token_header(token), "Idempotency-Key": "dies-after-commit"},
            }
            try:
                died = request(server.url, **write).status
            except OSError:
                died = None  # the worker died before it answered
            assert died in (None, 502), died
            assert store.get_backend().get_version(UUID(cart)) == 2, "the first attempt's event was not committed"

            statuses = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                retried = request(server.url, **write)
                statuses.append(retried.status)
                if retried.status != 409:
                    break
                time.sleep(float(retried.header("Retry-After") or 1))
    finally:
        connections.close_all()
        print(f"--- gunicorn log ({server.log_path}) ---\n{server.log_tail(200)}")

    assert retried.status == 200, (statuses, retried.body)
    assert retried.header("Idempotent-Replayed") == "true"
    assert retried.json()["version"] == 2
    assert stored_additions([cart])[KILL_ITEM] == [(cart, 1, 2)]  # (cart, quantity, version): once
    assert_streams_contiguous([cart])
