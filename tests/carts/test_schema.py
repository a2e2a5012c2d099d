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


def served_schema(api) -> dict:
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def operations(schema: dict) -> dict[str, dict]:
    return {op["operationId"]: op for item in schema["paths"].values() for op in item.values()}


def component(schema: dict, ref: str) -> dict:
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def test_operations_have_ids_a_person_would_choose_and_public_descriptions(api):
    ops = operations(served_schema(api))

    assert set(ops) == {
        "obtain_token",
        "list_carts",
        "open_cart",
        "get_cart",
        "list_cart_events",
        "add_item",
        "remove_item",
        "close_cart",
    }
    for op in ops.values():
        assert op["summary"] and op["description"]
        assert "viewset" not in op["description"].lower() and "repository" not in op["description"]


def test_every_operation_documents_503_and_429_with_retry_after_and_the_request_id(api):
    for name, op in operations(served_schema(api)).items():
        for status in ("429", "503"):
            assert op["responses"][status]["headers"]["Retry-After"]["required"], (name, status)
        for status, response in op["responses"].items():
            assert "X-Request-ID" in response["headers"], (name, status)


def test_headers_the_api_sends_are_declared_on_their_statuses(api):
    ops = operations(served_schema(api))

    assert {"ETag", "Location", "Idempotent-Replayed"} <= set(ops["open_cart"]["responses"]["201"]["headers"])
    for name in ("add_item", "close_cart"):
        assert {"ETag", "Idempotent-Replayed"} <= set(ops[name]["responses"]["200"]["headers"])
        assert "Retry-After" in ops[name]["responses"]["409"]["headers"]
    assert "ETag" in ops["get_cart"]["responses"]["304"]["headers"]
    assert "WWW-Authenticate" in ops["get_cart"]["responses"]["401"]["headers"]


def test_the_token_endpoint_takes_json_or_a_form_as_separate_schemas_and_needs_no_login(api):
    token = operations(served_schema(api))["obtain_token"]

    content = token["requestBody"]["content"]
    assert set(content) == {"application/json", "application/x-www-form-urlencoded"}
    assert content["application/json"]["schema"] != content["application/x-www-form-urlencoded"]["schema"]
    assert "security" not in token  # and the document has no global requirement
    assert "401" not in token["responses"]


def test_fields_always_sent_are_required(api):
    schema = served_schema(api)
    ops = operations(schema)

    summary = schema["components"]["schemas"]["CartSummary"]
    assert set(summary["required"]) == set(summary["properties"])
    page = component(schema, ops["list_carts"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"])
    assert set(page["required"]) == {"count", "next", "previous", "results"}
    gone = schema["components"]["schemas"]["Gone"]
    assert {"code", "detail", "version", "events"} <= set(gone["required"])


def test_ids_are_uuids_and_numbers_have_bounds(api):
    ops = operations(served_schema(api))

    def parameter(op: str, name: str) -> dict:
        return next(p for p in ops[op]["parameters"] if p["name"] == name)["schema"]

    for op in ("get_cart", "list_cart_events", "add_item", "remove_item", "close_cart"):
        assert parameter(op, "uuid") == {"type": "string", "format": "uuid"}
    assert parameter("get_cart", "version")["minimum"] == 1
    assert parameter("list_carts", "page_size")["maximum"] == 200
    assert parameter("list_cart_events", "page_size")["maximum"] == 500
    for op in ("list_carts", "list_cart_events"):
        assert parameter(op, "page")["minimum"] == parameter(op, "page_size")["minimum"] == 1


def test_error_bodies_of_one_status_are_told_apart_by_their_code(api):
    schema = served_schema(api)
    ops = operations(schema)

    for op, status in [("add_item", "409"), ("close_cart", "409"), ("open_cart", "409"), ("get_cart", "404")]:
        union = component(schema, ops[op]["responses"][status]["content"]["application/json"]["schema"]["$ref"])
        assert union["discriminator"]["propertyName"] == "code"
        for code, ref in union["discriminator"]["mapping"].items():
            code_schema = component(schema, component(schema, ref)["properties"]["code"]["allOf"][0]["$ref"])
            assert code_schema["enum"] == [code]


def test_docs_page_loads_its_assets_from_this_server(api):
    response = api.get("/api/docs/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower()


def test_schema_needs_a_login(backend):
    from rest_framework.test import APIClient

    assert APIClient().get("/api/schema/").status_code in {401, 403}
