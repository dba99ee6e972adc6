"""What the schema promises of every operation, whichever view it comes from.

Every check runs over every operation of the document, so a new endpoint is
held to the same contract without naming it here."""

import copy
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the pinned set
import pytest

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        return APIClient().get("/api/schema/?format=json").json()


def api_operations(schema: dict) -> list[tuple[str, dict]]:
    found = [
        (f"{method.upper()} {path}", operation)
        for path, methods in schema["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in methods.items()
    ]
    assert len(found) >= 20
    return found


def examples_of(container: dict) -> list[Any]:
    """The example values of a media type or parameter object."""
    values = [e["value"] for e in container.get("examples", {}).values() if "value" in e]
    if "example" in container:
        values.append(container["example"])
    return values


def test_every_operation_has_a_summary_a_description_and_examples(schema):
    for name, operation in api_operations(schema):
        assert operation.get("summary", "").strip(), f"{name} has no summary"
        assert len(operation.get("description", "").strip()) >= 20, f"{name} has no description"
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            assert examples_of(body), f"{name} has no request body example"
        for status, response in operation["responses"].items():
            assert response.get("description", "").strip(), f"{name} {status}: no description"
            for media_type, content in response.get("content", {}).items():
                assert examples_of(content), f"{name} {status} {media_type}: no example"


def test_every_operation_declares_rate_limits_and_unavailability(schema):
    for name, operation in api_operations(schema):
        for status in ("429", "503"):
            response = operation["responses"].get(status)
            assert response, f"{name} does not declare {status}"
            assert "Retry-After" in response["headers"], f"{name} {status}: no Retry-After"
            assert PROBLEM in response["content"]


def test_every_response_declares_the_request_id_header(schema):
    for name, operation in api_operations(schema):
        parameters = {(p["in"], p["name"]) for p in operation.get("parameters", [])}
        assert ("header", "X-Request-ID") in parameters, name
        for status, response in operation["responses"].items():
            assert "X-Request-ID" in response.get("headers", {}), f"{name} {status}"


def test_every_post_takes_an_idempotency_key_and_says_when_it_replays(schema):
    for name, operation in api_operations(schema):
        if not name.startswith("POST "):
            continue
        parameters = {(p["in"], p["name"]) for p in operation.get("parameters", [])}
        assert ("header", "Idempotency-Key") in parameters, name
        assert "400" in operation["responses"], name
        if "422" in operation["responses"]:  # the key is stored: the success can be replayed
            success = next(r for s, r in operation["responses"].items() if s.startswith("2"))
            assert "Idempotent-Replayed" in success["headers"], name


def test_every_authenticated_operation_declares_401_and_every_body_413_and_415(schema):
    for name, operation in api_operations(schema):
        if {} not in operation.get("security", [{}]):
            assert "401" in operation["responses"], name
        if "requestBody" in operation or name.split()[0] in ("POST", "PATCH", "DELETE"):
            for status in ("400", "413", "415"):
                assert status in operation["responses"], f"{name} does not declare {status}"


def test_problem_examples_carry_their_status_and_a_code(schema):
    for name, operation in api_operations(schema):
        for status, response in operation["responses"].items():
            content = response.get("content", {}).get(PROBLEM)
            if content is None:
                continue
            for example in examples_of(content):
                assert example["status"] == int(status), f"{name} {status}"
                assert example["type"] == "urn:engagement:problem:" + example["code"]


def _json_schema(node: Any, components: dict, seen: tuple[str, ...] = ()) -> Any:
    """An OpenAPI 3.0 schema as plain JSON Schema: references inlined,
    ``nullable`` as a ``null`` type."""
    if isinstance(node, list):
        return [_json_schema(item, components, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        assert name not in seen, f"recursive schema {name}"
        return _json_schema(components[name], components, (*seen, name))
    out = {key: _json_schema(value, components, seen) for key, value in node.items()}
    if out.pop("nullable", False):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def test_every_example_matches_its_schema(schema):
    components = schema["components"]["schemas"]
    checked = 0

    def check(label: str, container: dict) -> None:
        nonlocal checked
        if "schema" not in container:
            return
        validator = jsonschema.Draft7Validator(
            _json_schema(copy.deepcopy(container["schema"]), components),
            format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER,
        )
        for value in examples_of(container):
            errors = [e.message for e in validator.iter_errors(value)]
            assert not errors, f"{label}: {errors}"
            checked += 1

    for name, operation in api_operations(schema):
        for parameter in operation.get("parameters", []):
            check(f"{name} {parameter['name']}", parameter)
        for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
            check(f"{name} request {media_type}", content)
        for status, response in operation["responses"].items():
            for media_type, content in response.get("content", {}).items():
                check(f"{name} {status} {media_type}", content)
    assert checked >= 100


def test_links_name_real_operations_and_parameters(schema):
    operations = {
        operation["operationId"]: operation
        for methods in schema["paths"].values()
        for operation in methods.values()
    }
    links = [
        link
        for operation in operations.values()
        for response in operation["responses"].values()
        for link in response.get("links", {}).values()
    ]

    assert len(links) >= 5
    for link in links:
        target = operations[link["operationId"]]
        declared = {p["name"] for p in target.get("parameters", [])}
        assert set(link.get("parameters", {})) <= declared, link
