"""What the schema promises beyond each view's own declarations."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(api_client) -> dict:
    return api_client.get("/api/schema/?format=json").json()


def test_every_api_operation_declares_503_with_retry_after(schema):
    operations = [
        (path, method, operation)
        for path, methods in schema["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in methods.items()
    ]

    assert operations
    for path, method, operation in operations:
        unavailable = operation["responses"].get("503")
        assert unavailable, f"{method.upper()} {path} does not declare 503"
        assert "Retry-After" in unavailable["headers"]
        assert "application/problem+json" in unavailable["content"]


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
