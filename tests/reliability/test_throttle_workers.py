"""The throttle's limit holds across gunicorn workers: the counters are in the shared (file) cache (issue 12, part 3).

Requests go one at a time (DRF's counter is a read then a write, not atomic); before each, a half-sent
request is left open to one worker, which blocks on it, so the request goes to another. Which worker takes
the half-sent request is the kernel's choice, so requests go on (well within the minute of the rate) until
the access log shows both workers answering.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

from django.db import connection, connections

from .live import LiveServer, database_url, production_env, request, token_header

LIMIT = 5
REQUESTS = 24  # at least; more until both workers have answered
MAX_REQUESTS = 200
WORKER_LINE = re.compile(r"WORKER:<?(\d+)>?:(200|429)")


def workers_that_answered(log: Path) -> set[str]:
    return {pid for pid, _ in WORKER_LINE.findall(log.read_text())}


def test_the_user_rate_holds_across_two_workers(api_user, tmp_path: Path, report_figures):
    _, token = api_user
    server = LiveServer(
        env=production_env(
            DATABASE_URL=database_url(connection.settings_dict),
            DJANGO_THROTTLE_USER=f"{LIMIT}/min",
            GUNICORN_CMD_ARGS="--access-logfile=- --access-logformat=WORKER:%(p)s:%(s)s",
        ),
        log_path=tmp_path / "gunicorn.log",
        workers=2,
    )
    statuses = []
    try:
        with server.running():
            while len(statuses) < REQUESTS or (
                len(workers_that_answered(server.log_path)) < 2 and len(statuses) < MAX_REQUESTS
            ):
                # Holds one worker on a request that never ends; gunicorn's sync worker serves one at a time.
                blocker = socket.create_connection(("127.0.0.1", server.port))
                blocker.sendall(b"GET /api/carts/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                try:
                    response = request(server.url, "GET", "/api/carts/", headers=token_header(token), timeout=30)
                finally:
                    blocker.close()
                statuses.append(response.status)
                if response.status == 429:
                    assert response.json()["code"] == "throttled"
                    assert int(response.header("Retry-After") or 0) > 0
    finally:
        connections.close_all()
        print(f"--- gunicorn log ---\n{server.log_tail(200)}")
    workers = workers_that_answered(server.log_path)
    report_figures({"admitted": statuses.count(200), "throttled": statuses.count(429), "workers": len(workers)})
    assert statuses.count(200) == LIMIT
    assert statuses.count(429) == len(statuses) - LIMIT
    assert len(workers) == 2
