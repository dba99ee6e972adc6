"""OpenAPI helpers: declare the problem responses an endpoint can give."""

from drf_spectacular.utils import OpenApiResponse

from config.serializers import ProblemSerializer

_DESCRIPTIONS = {
    400: "Invalid request (problem details; `errors` per field for validation).",
    401: "Missing, invalid or expired credentials.",
    403: "Not allowed.",
    404: "No such resource.",
    409: "Conflicts with the current state (see `code`).",
    413: "Request body too large.",
    415: "Unsupported content type.",
    422: "Unprocessable request (see `code`).",
    429: "Rate limit exceeded; see Retry-After.",
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
