"""A real gunicorn serving the project on 127.0.0.1 against the test database, and a small HTTP client.

The server runs in its own process group so that a crash test can SIGKILL the master and every
worker at once, the way an out-of-memory killer or a power cut would.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

BASE_DIR = Path(__file__).resolve().parents[2]

# Variables of the developer's shell that must not leak into the server under test.
SCRUBBED_ENV = ("DJANGO_DEBUG", "DATABASE_URL", "DJANGO_SECRET_KEY", "DJANGO_INSECURE_DEV_KEY", "TEST_DB_SUFFIX")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(settings_dict: Mapping[str, Any]) -> str:
    """Return a DATABASE_URL naming the same database as a Django connection's settings."""
    engine = settings_dict["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        return f"sqlite:///{settings_dict['NAME']}"
    if engine == "django.db.backends.postgresql":
        user = quote(settings_dict.get("USER") or "", safe="")
        password = settings_dict.get("PASSWORD") or ""
        auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{auth}{host}:{port}/{quote(settings_dict['NAME'], safe='')}"
    raise ValueError(f"No DATABASE_URL form for the database engine {engine!r}.")


def throwaway_dir(prefix: str) -> str:
    """Return a new temporary directory, removed when the test run ends."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def production_env(**overrides: str) -> dict[str, str]:
    """Return the environment of a production-like server: DEBUG off, a real random SECRET_KEY."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        # Plain HTTP on loopback: secure-only cookies would never come back to the test client.
        DJANGO_SECURE_COOKIES="0",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        # Throttled only where a test sets low rates; the counters of each server in its own directory.
        DJANGO_THROTTLE_ANON="1000000/min",
        DJANGO_THROTTLE_USER="1000000/min",
        DJANGO_THROTTLE_TOKEN="1000000/min",
        DJANGO_CACHE_DIR=throwaway_dir("live-cache-"),
    )
    env.update(overrides)
    return env


@dataclass
class LiveServer:
    """A gunicorn serving config.wsgi on 127.0.0.1; start it, SIGKILL it, start it again on the same port."""

    env: dict[str, str]
    log_path: Path
    workers: int = 3
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextlib.contextmanager
    def running(self) -> Iterator[LiveServer]:
        """Serve for the duration of the block, then stop."""
        from django.db import connections

        # The server's processes must not inherit an open connection (SQLite lock, PostgreSQL session).
        connections.close_all()
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def start(self, timeout: float = 60.0) -> None:
        """Start gunicorn and wait until it answers the admin login page."""
        assert self.process is None, "the server is already running"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            f"--bind=127.0.0.1:{self.port}",
            f"--workers={self.workers}",
            "--timeout=60",
            "--graceful-timeout=5",
            # Import Django once in the master, then fork: a quicker start on a busy machine.
            "--preload",
            "--error-logfile=-",
        ]
        log = self.log_path.open("ab")
        log.write(f"\n==> start #{self.starts + 1}: {' '.join(command)}\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            command, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                raise RuntimeError(f"gunicorn exited during start-up:\n{self.log_tail()}")
            try:
                if request(self.url, "GET", "/admin/login/", timeout=5).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the master and all its workers at once (a crash, not a shutdown)."""
        if self.process is None:
            return
        pid, process = self.process.pid, self.process
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        process.wait(timeout=30)
        self.process = None
        self._wait_for_workers_to_go(pid)

    def stop(self) -> None:
        """Shut down gracefully (SIGTERM), killing whatever is left after a grace period."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        pid, self.process = self.process.pid, None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self._wait_for_workers_to_go(pid)

    def _wait_for_workers_to_go(self, pgid: int) -> None:
        # Orphaned workers are reparented; wait until the process group is empty so that nothing
        # still holds a database connection when the test database is flushed or dropped.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def log_tail(self, lines: int = 60) -> str:
        """Return the end of the server's log, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass(frozen=True)
class Response:
    """An HTTP response, read whole."""

    status: int
    headers: dict[str, str]
    body: bytes
    set_cookies: tuple[str, ...] = ()

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def request(
    base_url: str,
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Response:
    """Send one request over a fresh connection and return the response; OSError when none came back."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    all_headers = {"Accept": "application/json", **(headers or {})}
    payload = raw_body
    if body is not None:
        payload = json.dumps(body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    try:
        connection.request(method, path, body=payload, headers=all_headers)
        reply = connection.getresponse()
        cookies = tuple(v for k, v in reply.getheaders() if k.lower() == "set-cookie")
        return Response(reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read(), cookies)
    finally:
        connection.close()


def token_header(token: str) -> dict[str, str]:
    """Return the Authorization header of DRF token authentication."""
    return {"Authorization": f"Token {token}"}


def basic_header(username: str, password: str) -> dict[str, str]:
    """Return the Authorization header of HTTP Basic authentication."""
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def admin_session(base_url: str, username: str, password: str) -> dict[str, str]:
    """Log in through the admin's form like a browser; return the Cookie header of the session."""
    page = request(base_url, "GET", "/admin/login/", headers={"Accept": "text/html"})
    csrf_cookie = _cookie(page, "csrftoken")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
    assert csrf_cookie and token, "the login page set no CSRF cookie or token"
    form = urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token.group(1).decode()})
    answer = request(
        base_url,
        "POST",
        "/admin/login/?next=/admin/",
        raw_body=form.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf_cookie}",
            "Accept": "text/html",
        },
    )
    session = _cookie(answer, "sessionid")
    assert answer.status == 302 and session, f"admin login failed: {answer.status}"
    return {"Cookie": f"csrftoken={csrf_cookie}; sessionid={session}", "Accept": "text/html"}


def _cookie(response: Response, name: str) -> str | None:
    for line in response.set_cookies:
        if line.startswith(f"{name}="):
            return line.split(";", 1)[0].split("=", 1)[1]
    return None
