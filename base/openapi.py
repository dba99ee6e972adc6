"""OpenAPI helpers: declare the problem responses an endpoint can give."""

from drf_spectacular.utils import OpenApiResponse

from base.serializers import ProblemSerializer

_DESCRIPTIONS = {
    400: "Invalid request (problem details; `errors` per field for validation).",
    401: "Missing, invalid, expired or revoked credentials (see `code`).",
    403: "Not allowed.",
    404: "No such resource.",
    409: "Conflicts with the current state (see `code`).",
    413: "Request body too large.",
    415: "Unsupported content type.",
    422: "Unprocessable request (see `code`).",
    429: "Rate limit exceeded; see Retry-After.",
    503: "The database is unreachable or busy; nothing was changed. Retry after Retry-After.",
}


def problems(*statuses: int) -> dict:
    """``responses`` entries for the given error statuses, as problem+json."""
    return {
        (status, "application/problem+json"): OpenApiResponse(
            response=ProblemSerializer, description=_DESCRIPTIONS[status]
        )
        for status in statuses
    }


def describe_strict_requests(result, generator, request, public):
    """Say in the schema what StrictInputSerializer enforces on request bodies
    (``COMPONENT_SPLIT_REQUEST`` names their components ``...Request``):

    - ``additionalProperties: false``: undeclared fields are rejected;
    - strings never contain NUL (DRF refuses it in every CharField)."""
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if not (name.endswith("Request") and schema.get("type") == "object"):
            continue
        schema["additionalProperties"] = False
        for prop in schema.get("properties", {}).values():
            if prop.get("type") == "string" and not {"enum", "pattern", "format"} & set(prop):
                prop["pattern"] = "^[^\\u0000]*$"
    return result


def declare_service_unavailable(result, generator, request, public):
    """Every API operation reads or writes the database, so every one can
    answer 503 ``database_unavailable`` (database unreachable, or no pooled
    connection free within ``DB_POOL_TIMEOUT``)."""
    unavailable = {
        "description": _DESCRIPTIONS[503],
        "headers": {
            "Retry-After": {
                "schema": {"type": "integer", "minimum": 1},
                "description": "Seconds to wait before retrying.",
            }
        },
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for operation in operations.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("503", unavailable)
    return result


def add_links(result: dict, links: dict[tuple[str, str], dict]) -> dict:
    """Add OpenAPI 3 ``links`` (how a client goes from one answer to the next
    call) to the responses of a schema: ``{(operation_id, status): {name: link}}``."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for (operation_id, status), named_links in links.items():
                if operation.get("operationId") == operation_id:
                    response = operation.get("responses", {}).get(status)
                    if response is not None:
                        response.setdefault("links", {}).update(named_links)
    return result
