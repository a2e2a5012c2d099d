"""Compare a response of the API with what the served OpenAPI schema declares for it.

`Contract.check(method, path, response)` returns the problems found: a status the operation does not
declare, a declared required header missing, a header sent but not declared for that status, a body
that does not validate against the declared schema (objects closed: a field the schema lacks is a
problem, as is a required one missing), a body where none is declared. Requests outside the schema
(admin pages, the schema itself, methods an endpoint does not have) return None: nothing to compare.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.contrib.auth.models import User
from django.http import HttpResponseBase
from django.test import RequestFactory
from django.urls import resolve
from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker

SCHEMA_URL = "/api/schema/"
# Headers of HTTP and of Django's security middleware, not of the API's contract.
TRANSPORT_HEADERS = {
    "content-type",
    "content-length",
    "vary",
    "allow",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
    "cross-origin-opener-policy",
}


def served_schema() -> dict[str, Any]:
    """Return the schema /api/schema/ serves, asked for as JSON by a signed-in user."""
    request = RequestFactory().get(SCHEMA_URL, HTTP_ACCEPT="application/vnd.oai.openapi+json")
    request.user = User(username="contract")  # unsaved: authenticated, and no database needed
    match = resolve(SCHEMA_URL)
    response = match.func(request, *match.args, **match.kwargs)
    response.render()
    assert response.status_code == 200, response.content[:500]
    return json.loads(response.content)


def closed(schema: Any) -> Any:
    """Return a copy of a schema in which every object with properties allows no others."""
    if isinstance(schema, dict):
        result = {key: closed(value) for key, value in schema.items()}
        if "properties" in result and "additionalProperties" not in result:
            result["additionalProperties"] = False
        return result
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    return schema


def header_matches(value: str, schema: dict[str, Any]) -> bool:
    """Return whether a header's text is a value of its declared schema (integers and enums; other text passes)."""
    if "enum" in schema:
        return value in schema["enum"]
    if schema.get("type") == "integer":
        return value.isdigit()
    return True


@dataclass
class Contract:
    schema: dict[str, Any]
    #: (operation id, status) of every response compared, and how many were outside the schema.
    checked: Counter[tuple[str, str]] = field(default_factory=Counter)
    outside: int = 0

    @cached_property
    def routes(self) -> list[tuple[re.Pattern[str], dict[str, Any]]]:
        routes = []
        for template, item in self.schema["paths"].items():
            pattern = re.escape(template)
            for name in re.findall(r"\{(\w+)\}", template):
                pattern = pattern.replace(re.escape(f"{{{name}}}"), "[^/]+" if name == "uuid" else ".+")
            routes.append((re.compile(f"^{pattern}$", re.S), item))
        return routes

    @cached_property
    def components(self) -> dict[str, Any]:
        return closed(self.schema.get("components", {}))

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        for pattern, item in self.routes:
            if pattern.match(path):
                return item.get(method.lower())
        return None

    def validator(self, body_schema: dict[str, Any]) -> Any:
        root = {"allOf": [closed(body_schema)], "components": self.components}
        # A response is read: readOnly fields count as required where listed (plain OAS30Validator skips them).
        return OAS30ReadValidator(root, format_checker=oas30_format_checker)

    def check(self, method: str, path: str, response: HttpResponseBase) -> list[str] | None:
        operation = self.operation(method, path)
        if operation is None:
            self.outside += 1
            return None
        status = str(response.status_code)
        where = f"{method.upper()} {path} -> {status} ({operation['operationId']})"
        declared = operation["responses"].get(status)
        if declared is None:
            return [f"{where}: status not declared (declared: {', '.join(sorted(operation['responses']))})"]
        self.checked[operation["operationId"], status] += 1
        problems = []
        headers = {name.lower(): spec for name, spec in declared.get("headers", {}).items()}
        for name, spec in declared.get("headers", {}).items():
            if not response.has_header(name):
                if spec.get("required"):
                    problems.append(f"{where}: declared header {name} missing")
            elif not header_matches(response[name], spec["schema"]):
                problems.append(f"{where}: header {name}: {response[name]!r} is not {spec['schema']}")
        for name in response.headers:
            if name.lower() not in headers and name.lower() not in TRANSPORT_HEADERS:
                problems.append(f"{where}: header {name} sent but not declared")
        content = declared.get("content")
        body = getattr(response, "content", b"")
        if not content:
            if body:
                problems.append(f"{where}: a body, where none is declared")
            return problems
        media_type = response.get("Content-Type", "").split(";")[0].strip()
        if media_type not in content:
            return [*problems, f"{where}: media type {media_type!r} not declared ({', '.join(content)})"]
        try:
            data = json.loads(body)
        except ValueError:
            return [*problems, f"{where}: the body is not JSON: {body[:200]!r}"]
        errors = sorted(self.validator(content[media_type]["schema"]).iter_errors(data), key=str)
        problems += [f"{where}: body {'/'.join(map(str, e.absolute_path)) or '.'}: {e.message}" for e in errors[:5]]
        return problems
