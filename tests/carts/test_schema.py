"""The OpenAPI schema: valid, describing the ETag/If-Match and error contract; docs served offline."""

from __future__ import annotations

from io import StringIO

import yaml
from django.core.management import call_command


def test_schema_validates_without_warnings(db):
    out = StringIO()

    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)

    assert '"openapi": "3.' in out.getvalue()


def test_schema_describes_preconditions_idempotency_and_errors(api):
    response = api.get("/api/schema/")

    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    add_item = schema["paths"]["/api/carts/{uuid}/items/"]["post"]
    headers = {p["name"] for p in add_item["parameters"] if p["in"] == "header"}
    assert {"If-Match", "Idempotency-Key", "X-Request-ID"} <= headers
    assert {"200", "400", "404", "409", "410", "412", "422"} <= set(add_item["responses"])
    assert "ETag" in add_item["responses"]["200"]["headers"]
    mismatch = schema["components"]["schemas"]["VersionMismatch"]["properties"]
    assert {"code", "expected_version", "actual_version", "unseen_events"} <= set(mismatch)
    assert "410" in schema["paths"]["/api/carts/{uuid}/"]["get"]["responses"]


def test_docs_page_loads_its_assets_from_this_server(api):
    response = api.get("/api/docs/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower()


def test_schema_needs_a_login(backend):
    from rest_framework.test import APIClient

    assert APIClient().get("/api/schema/").status_code in {401, 403}
