"""Oversized and malformed input at every entry of the API, sent to the live gunicorn: a 4xx every
time (with a JSON `code` whenever Django answered), never a 5xx, and nothing stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from carts.models import CartSummary
from eventstore import store

from .live import basic_header, request, token_header
from .load import open_carts

MISSING = "00000000-0000-4000-8000-000000000001"
MULTIPART = "multipart/form-data; boundary=b"


@dataclass(frozen=True)
class Bad:
    """One bad request: what to send and what it is."""

    label: str
    method: str
    path: str
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "application/json"
    statuses: tuple[int, ...] = ()  # expected statuses when more precise than "some 4xx"


def bad_requests(cart: str, closed: str) -> list[Bad]:
    items = f"/api/carts/{cart}/items/"
    nested = b"[" * 100_000 + b"]" * 100_000
    many_keys = ("{" + ",".join(f'"k{i}": {i}' for i in range(15_000)) + "}").encode()
    cases = [
        Bad("truncated JSON", "POST", items, raw=b'{"name": "x"', statuses=(400,)),
        Bad("not JSON", "POST", items, raw=b"name=x", statuses=(400,)),
        Bad("JSON array", "POST", items, raw=b"[]", statuses=(400,)),
        Bad("JSON null", "POST", items, raw=b"null", statuses=(400,)),
        Bad("JSON string", "POST", items, raw=b'"apple"', statuses=(400,)),
        Bad("invalid UTF-8", "POST", items, raw=b'{"name": "\xff\xfe"}', statuses=(400,)),
        Bad("lone surrogate", "POST", items, raw=b'{"name": "\\ud800"}'),
        Bad("NUL in name", "POST", items, raw=b'{"name": "a\\u0000b"}'),
        Bad("deeply nested", "POST", items, raw=nested),
        Bad("15,000 unknown fields", "POST", items, raw=many_keys),
        Bad("body over the size limit", "POST", items, raw=b'{"name": "' + b"x" * 300_000 + b'"}', statuses=(413,)),
        Bad("name a number", "POST", items, body={"name": 5}, statuses=(400,)),
        Bad("name empty", "POST", items, body={"name": ""}, statuses=(400,)),
        Bad("name blank", "POST", items, body={"name": "   "}),
        Bad("name 101 characters", "POST", items, body={"name": "a" * 101}, statuses=(400,)),
        Bad("name 100,000 characters", "POST", items, body={"name": "a" * 100_000}, statuses=(400,)),
        Bad("name a list", "POST", items, body={"name": ["a"]}, statuses=(400,)),
        Bad("quantity 0", "POST", items, body={"name": "x", "quantity": 0}, statuses=(400,)),
        Bad("quantity negative", "POST", items, body={"name": "x", "quantity": -1}, statuses=(400,)),
        Bad("quantity over the limit", "POST", items, body={"name": "x", "quantity": 10_001}, statuses=(400,)),
        Bad("quantity 2**64", "POST", items, body={"name": "x", "quantity": 2**64}, statuses=(400,)),
        Bad("quantity 1e308", "POST", items, raw=b'{"name": "x", "quantity": 1e308}', statuses=(400,)),
        Bad("quantity NaN", "POST", items, raw=b'{"name": "x", "quantity": NaN}', statuses=(400,)),
        Bad("quantity Infinity", "POST", items, raw=b'{"name": "x", "quantity": Infinity}', statuses=(400,)),
        Bad("quantity 1.5", "POST", items, body={"name": "x", "quantity": 1.5}, statuses=(400,)),
        Bad("quantity a string", "POST", items, body={"name": "x", "quantity": "3"}, statuses=(400,)),
        Bad("quantity true", "POST", items, body={"name": "x", "quantity": True}, statuses=(400,)),
        Bad("unknown field", "POST", items, body={"name": "x", "price": 3}, statuses=(400,)),
        Bad("text/plain body", "POST", items, raw=b'{"name": "x"}', content_type="text/plain", statuses=(415,)),
        Bad("form body", "POST", items, raw=b"name=x", content_type="application/x-www-form-urlencoded"),
        Bad("multipart body", "POST", items, raw=b"--b\r\n\r\nx\r\n--b--", content_type=MULTIPART),
        Bad("no body", "POST", items, content_type=None, statuses=(400,)),
        Bad("If-Match not a version", "POST", items, body={"name": "x"}, headers={"If-Match": "abc"}),
        Bad("If-Match -1", "POST", items, body={"name": "x"}, headers={"If-Match": '"-1"'}),
        Bad("If-Match huge", "POST", items, body={"name": "x"}, headers={"If-Match": f'"{"9" * 40}"'}),
        Bad("If-Match 8,000 characters", "POST", items, body={"name": "x"}, headers={"If-Match": "1" * 8000}),
        Bad("If-Match stale", "POST", items, body={"name": "x"}, headers={"If-Match": '"7"'}, statuses=(412,)),
        Bad("header over gunicorn's limit", "POST", items, body={"name": "x"}, headers={"X-Junk": "j" * 9000}),
        Bad("300 headers", "POST", items, body={"name": "x"}, headers={f"X-H{i}": "v" for i in range(300)}),
        Bad("Idempotency-Key 300 chars", "POST", items, body={"name": "x"}, headers={"Idempotency-Key": "k" * 300}),
        Bad("Idempotency-Key latin-1", "POST", items, body={"name": "x"}, headers={"Idempotency-Key": "clé"}),
        Bad("Content-Length negative", "POST", items, raw=b"{}", headers={"Content-Length": "-1"}),
        Bad("Content-Length not a number", "POST", items, raw=b"{}", headers={"Content-Length": "abc"}),
        Bad("unknown cart", "POST", f"/api/carts/{MISSING}/items/", body={"name": "x"}, statuses=(404,)),
        Bad("closed cart", "POST", f"/api/carts/{closed}/items/", body={"name": "x"}, statuses=(410,)),
        Bad("cart id not a UUID", "POST", "/api/carts/not-a-uuid/items/", body={"name": "x"}, statuses=(404,)),
        Bad("cart id SQL", "GET", "/api/carts/'%20OR%201=1--/", statuses=(404,)),
        Bad("path over gunicorn's limit", "GET", f"/api/carts/{'a' * 5000}/"),
        Bad("version 0", "GET", f"/api/carts/{cart}/?version=0", statuses=(400,)),
        Bad("version -1", "GET", f"/api/carts/{cart}/?version=-1", statuses=(400,)),
        Bad("version abc", "GET", f"/api/carts/{cart}/?version=abc", statuses=(400,)),
        Bad("version huge", "GET", f"/api/carts/{cart}/?version={'9' * 30}", statuses=(400,)),
        Bad("version past the end", "GET", f"/api/carts/{cart}/?version=999", statuses=(404,)),
        Bad("page 0", "GET", "/api/carts/?page=0"),
        Bad("page huge", "GET", f"/api/carts/?page={'9' * 30}"),
        Bad("status unknown", "GET", "/api/carts/?status=%27;DROP%20TABLE", statuses=(400,)),
        Bad("events page huge", "GET", f"/api/carts/{cart}/events/?page={'9' * 30}"),
        Bad("events page_size abc", "GET", f"/api/carts/{cart}/events/?page_size=abc", statuses=(400,)),
        Bad("remove NUL name", "DELETE", f"/api/carts/{cart}/items/a%00b/"),
        Bad("remove newline name", "DELETE", f"/api/carts/{cart}/items/a%0Ab/"),
        Bad("remove missing item", "DELETE", f"/api/carts/{cart}/items/nothing/", statuses=(422,)),
        Bad("open with a bad uuid", "POST", "/api/carts/", body={"uuid": "not-a-uuid"}, statuses=(400,)),
        Bad("open an existing cart", "POST", "/api/carts/", body={"uuid": cart}, statuses=(409,)),
        Bad("close with a body", "POST", f"/api/carts/{cart}/close/", body={"force": True}, statuses=(400,)),
        Bad("PUT a cart", "PUT", f"/api/carts/{cart}/", body={"status": "closed"}, statuses=(405,)),
        Bad("PATCH a cart", "PATCH", f"/api/carts/{cart}/", body={"version": 1}, statuses=(405,)),
        Bad("DELETE a cart", "DELETE", f"/api/carts/{cart}/", statuses=(405,)),
        Bad("DELETE its events", "DELETE", f"/api/carts/{cart}/events/", statuses=(405,)),
    ]
    return cases


def bad_credentials(cart: str) -> list[Bad]:
    path = f"/api/carts/{cart}/items/"
    return [
        Bad("no credentials", "POST", path, body={"name": "x"}, statuses=(401,)),
        Bad("token 5,000 chars", "POST", path, body={"name": "x"}, headers={"Authorization": "Token " + "t" * 5000}),
        Bad("token with spaces", "POST", path, body={"name": "x"}, headers={"Authorization": "Token a b c"}),
        Bad("token SQL", "POST", path, body={"name": "x"}, headers={"Authorization": "Token ' OR 1=1 --"}),
        Bad("basic not base64", "POST", path, body={"name": "x"}, headers={"Authorization": "Basic !!!"}),
        Bad("basic wrong password", "POST", path, body={"name": "x"}, headers=basic_header("loadtester", "wrong")),
        Bad("unknown scheme", "POST", path, body={"name": "x"}, headers={"Authorization": "Bearer abc"}),
    ]


def send(base_url: str, case: Bad, auth: dict[str, str]):
    headers = {**auth, **case.headers}
    if case.content_type:
        headers.setdefault("Content-Type", case.content_type)
    return request(base_url, case.method, case.path, body=case.body, raw_body=case.raw, headers=headers, timeout=60)


def problems_with(case: Bad, response) -> list[str]:
    problems = []
    if not 400 <= response.status < 500:
        problems.append(f"status {response.status}")
    if case.statuses and response.status not in case.statuses:
        problems.append(f"status {response.status}, expected {case.statuses}")
    # Django echoes X-Request-ID on every response; gunicorn's own refusals (header limits) do not.
    if response.header("X-Request-ID") is not None:
        try:
            code = response.json().get("code")
        except (ValueError, AttributeError):
            code = None
        if not code:
            problems.append(f"no JSON code: {response.header('Content-Type')} {response.body[:120]!r}")
    if b"Traceback" in response.body:
        problems.append("a traceback in the body")
    return problems


def test_malformed_and_oversized_api_input_gets_a_4xx_with_a_code_and_stores_nothing(
    gunicorn_server, api_user, report_figures
):
    _, token = api_user
    cart, closed = open_carts(gunicorn_server.url, token, 2)
    auth = token_header(token)
    assert request(gunicorn_server.url, "POST", f"/api/carts/{closed}/close/", headers=auth).status == 200
    backend = store.get_backend()
    before = (backend.last_position(), CartSummary.objects.count(), backend.get_version(UUID(cart)))
    cases = [(case, auth) for case in bad_requests(cart, closed)] + [(case, {}) for case in bad_credentials(cart)]

    problems = []
    for case, credentials in cases:
        response = send(gunicorn_server.url, case, credentials)
        problems += [f"{case.label}: {problem}" for problem in problems_with(case, response)]

    after = (backend.last_position(), CartSummary.objects.count(), backend.get_version(UUID(cart)))
    report_figures({"bad API requests tried": len(cases), "answered as expected": len(cases) - len(problems)})
    assert problems == [], "\n".join(problems)
    assert after == before, "a bad request stored something"
