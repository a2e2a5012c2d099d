"""gunicorn is SIGKILLed in the middle of a load and restarted on the same database: nothing
acknowledged is lost, nothing half-written is visible, retried writes land once, writing resumes."""

from __future__ import annotations

import json
import socket
import time
from uuid import UUID

from eventstore import store
from tests.conftest import requires_django_backend

from .checks import (
    assert_acknowledged_writes_stored_once,
    assert_no_unacknowledged_writes,
    assert_read_model_equals_replay_and_state,
    assert_streams_contiguous,
    stored_additions,
)
from .live import request, token_header
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
