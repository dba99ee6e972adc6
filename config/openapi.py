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


def forbid_unknown_request_fields(result, generator, request, public):
    """Request bodies reject fields they do not declare (StrictInputSerializer);
    say so in the schema: ``additionalProperties: false`` on every request
    component (``COMPONENT_SPLIT_REQUEST`` names them ``...Request``)."""
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and schema.get("type") == "object":
            schema["additionalProperties"] = False
    return result
