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
