"""A latency-adding HTTP proxy in front of a DynamoDB endpoint, counting requests by operation.

DynamoDB Local answers in well under a millisecond on this machine, where the real service takes
several: without added latency a concurrency benchmark measures this machine's two cores, not how
writers wait on each other. The proxy holds every request `delay` seconds before forwarding it, and
counts requests by their X-Amz-Target operation (TransactWriteItems, GetItem, ...) as they go over
the wire, retries included.

    with LatencyProxy("http://127.0.0.1:8000", delay=0.010) as proxy:
        client = boto3.client("dynamodb", endpoint_url=proxy.url)
        ...
        proxy.counts()["TransactWriteItems"]
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

#: Hop-by-hop headers, and Content-Length, which the proxy sets itself on the body it read whole.
NOT_FORWARDED = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


class LatencyProxy:
    """Forward HTTP requests to `upstream` after `delay` seconds each; count them by X-Amz-Target."""

    def __init__(self, upstream: str, delay: float = 0.010) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"The latency proxy forwards to a plain http:// endpoint, not {upstream!r}.")
        self.upstream = (parts.hostname, parts.port or 80)
        self.delay = delay
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the proxy is not started"
        return f"http://127.0.0.1:{self._server.server_port}"

    def counts(self) -> Counter[str]:
        """Return the requests forwarded so far, by operation."""
        with self._lock:
            return Counter(self._counts)

    def count(self, operation: str) -> None:
        with self._lock:
            self._counts[operation] += 1

    def start(self) -> LatencyProxy:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="latency-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LatencyProxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def _handler(proxy: LatencyProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """One client connection (kept alive), forwarded over one upstream connection of its own."""

        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # the headers and the body go in two writes: no 40 ms delayed ACK
        upstream: http.client.HTTPConnection | None = None

        def do_POST(self) -> None:
            self.forward()

        def do_GET(self) -> None:
            self.forward()

        def forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            proxy.count(self.headers.get("X-Amz-Target", self.command).rsplit(".", 1)[-1])
            time.sleep(proxy.delay)
            try:
                status, reason, headers, answer = self.send_upstream(body)
            except (OSError, http.client.HTTPException):
                self.close_upstream()
                try:  # the upstream closed its idle keep-alive connection: once more on a fresh one
                    status, reason, headers, answer = self.send_upstream(body)
                except (OSError, http.client.HTTPException) as exc:
                    self.close_upstream()
                    self.send_error(502, f"upstream: {exc}")
                    return
            self.send_response_only(status, reason)
            for name, value in headers:
                if name.lower() not in NOT_FORWARDED:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def send_upstream(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
            if self.upstream is None:
                self.upstream = http.client.HTTPConnection(*proxy.upstream, timeout=60)
            conn = self.upstream
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in NOT_FORWARDED:
                    conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            answer = response.read()
            if response.will_close:
                self.close_upstream()
            return response.status, response.reason, response.getheaders(), answer

        def close_upstream(self) -> None:
            if self.upstream is not None:
                self.upstream.close()
                self.upstream = None

        def finish(self) -> None:
            super().finish()
            self.close_upstream()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
