"""OpenAPI: the contract every operation shares, derived from its view in one place.

Views declare what only they know: a summary, a description, their success
response with an example, and the domain errors they raise (:func:`problem`).
:class:`ContractAutoSchema` (``DEFAULT_SCHEMA_CLASS``) adds what follows from
the view and the middlewares: the request headers every operation accepts, the
headers every response carries, and the problems that any request of its kind
can meet (a body that is not JSON, a bad token, a rate limit, an unreachable
database), each with its codes and an example. A new view gets all of it.
"""

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any, ClassVar

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from base.errors import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_PREFIX, DomainError
from base.serializers import ProblemSerializer

EXAMPLE_REQUEST_ID = "7910754e375e4e46ba4a8221eac7f896"

_DESCRIPTIONS = {
    400: "Invalid request (problem details; `errors` per field for validation).",
    401: "Missing, invalid, expired or revoked credentials (see `code`).",
    403: "Not allowed.",
    404: "No such resource.",
    409: "Conflicts with the current state (see `code`).",
    411: "A chunked body the server cannot read; send a Content-Length.",
    413: "Request body too large.",
    415: "Unsupported content type.",
    422: "Unprocessable request (see `code`).",
    429: "Rate limit exceeded; see Retry-After.",
    503: "The database is unreachable or busy; nothing was changed. Retry after Retry-After.",
}


def problem_example(status: int, code: str, detail: str, **members: Any) -> dict[str, Any]:
    """The body of a problem response, as ``base.errors.problem_response`` writes it."""
    return {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": EXAMPLE_REQUEST_ID,
        **members,
    }


def _examples(
    status: int, cases: Iterable[tuple[str, str, dict[str, Any]]]
) -> list[OpenApiExample]:
    return [
        OpenApiExample(
            code,
            value=problem_example(status, code, detail, **members),
            response_only=True,
            media_type=PROBLEM_CONTENT_TYPE,
            status_codes=[status],
        )
        for code, detail, members in cases
    ]


def problems(*statuses: int) -> dict:
    """``responses`` entries for the given error statuses, as problem+json
    (statuses whose codes :class:`ContractAutoSchema` describes itself)."""
    return {
        (status, PROBLEM_CONTENT_TYPE): OpenApiResponse(
            response=ProblemSerializer, description=_DESCRIPTIONS[status]
        )
        for status in statuses
    }


def problem(
    status: int,
    *errors: type[DomainError],
    description: str = "",
    serializer: type[ProblemSerializer] = ProblemSerializer,
) -> dict:
    """A ``responses`` entry for the domain errors an operation raises with one
    status: each error's code and default detail in the description, and one
    example each (with the members the error adds, ``example_members``).
    ``serializer`` declares those members (a :class:`ProblemSerializer` subclass)."""
    said = " ".join(f"`{error.code}`: {error.default_detail}" for error in errors)
    return {
        (status, PROBLEM_CONTENT_TYPE): OpenApiResponse(
            response=serializer,
            description=" ".join(part for part in (said, description) if part),
            examples=_examples(
                status, [(e.code, e.default_detail, e.example_members) for e in errors]
            ),
        )
    }


# --- What every operation shares ------------------------------------------------
_REQUEST_ID_HEADER = {
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
    "description": (
        "The request's id: the one the client sent, when it was 1-128 letters, digits or "
        "`._:-`, else a new one. On an idempotent replay (`Idempotent-Replayed: true`) it "
        "names this request, while the replayed body's `request_id` names the original one."
    ),
}
_RETRY_AFTER_HEADER = {
    "schema": {"type": "integer", "minimum": 1},
    "description": "Seconds to wait before retrying.",
}
_REPLAYED_HEADER = {
    "schema": {"type": "string", "enum": ["true"]},
    "description": (
        "Present when this is the stored outcome of an earlier request with the same "
        "`Idempotency-Key` and body, replayed without doing the work again (status and body "
        "as they were then, the body's `request_id` included)."
    ),
}
# What the server sees of a header value: HTTP drops leading and trailing spaces.
_IDEMPOTENCY_KEY_PATTERN = "^[\\x21-\\x7e]([\\x20-\\x7e]{0,253}[\\x21-\\x7e])?$"
# (code, detail, extra members): one problem example.
Case = tuple[str, str, dict[str, Any]]
_BEARER_CODES: list[Case] = [
    ("not_authenticated", "Authentication credentials were not provided.", {}),
    ("token_not_valid", "Given token not valid for any token type", {}),
    ("token_revoked", "This token has been revoked; sign in again.", {}),
    ("account_unavailable", "This account is not active.", {}),
]
_BEARER_401 = (
    "`not_authenticated`, `token_not_valid`: no valid access token (expired: refresh it); "
    "`token_revoked`: every token of the account was revoked since it was issued; "
    "`account_unavailable`: the account was deactivated or deleted."
)


class ContractAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus what every operation shares:

    - request headers: ``X-Request-ID`` everywhere, ``Idempotency-Key`` on POSTs;
    - response headers: ``X-Request-ID`` on every response, ``Retry-After`` on 429
      and 503, ``Idempotent-Replayed`` on the responses a keyed POST can replay;
    - problems, with their codes and examples: 400 (a body: not JSON, invalid
      fields; query parameters; a malformed ``Idempotency-Key``), 401 (bearer
      token), 404 (a cursor the server did not issue), 413 and 415 (a body), 422
      (a reused key), 429 (the view has throttles), 503 (every operation);
    - a request body for DELETE when the view declares one.

    What idempotency replays is the idempotency app's rule; ``config`` states it
    in a subclass (:attr:`never_replayed`, :attr:`keyed_anonymous_paths`)."""

    #: Statuses an ``Idempotency-Key`` never replays (they invite a retry).
    never_replayed: ClassVar[frozenset[int]] = frozenset()

    def keyed_anonymous_paths(self) -> frozenset[str]:
        """Anonymous POSTs that honour ``Idempotency-Key`` (others validate it, then ignore it)."""
        return frozenset()

    def _get_request_body(self, direction="request"):
        # HTTP gives a DELETE body no defined meaning and drf-spectacular documents
        # none; a view that declares one (``DELETE /me``: ``extend_schema(request=...)``)
        # reads it like a POST's.
        if self.method != "DELETE" or self.get_request_serializer() is None:
            return super()._get_request_body(direction)
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        problem_ref = {"$ref": self.resolve_serializer(ProblemSerializer, "response").ref["$ref"]}
        facts = _Facts(self, operation, path)
        parameters = operation.setdefault("parameters", [])
        parameters.append(_request_id_parameter())
        if facts.post:
            parameters.append(
                _idempotency_key_parameter(facts.authenticated or facts.anonymous_keyed)
            )
        responses = operation["responses"]
        for status, description, cases in facts.problems():
            key = str(status)
            response = responses.setdefault(
                key,
                {"description": "", "content": {PROBLEM_CONTENT_TYPE: {"schema": problem_ref}}},
            )
            _merge_problem(response, status, description, cases)
        for key, response in responses.items():
            headers = response.setdefault("headers", {})
            headers["X-Request-ID"] = _REQUEST_ID_HEADER
            if key in ("429", "503"):
                headers["Retry-After"] = _RETRY_AFTER_HEADER
            if facts.replayable(int(key)):
                headers["Idempotent-Replayed"] = _REPLAYED_HEADER
        return operation


class _Facts:
    """What an operation's view, method and parameters say about its failures."""

    def __init__(self, schema: ContractAutoSchema, operation: dict, path: str):
        self.schema = schema
        security = operation.get("security", [])
        self.authenticated = bool(security) and {} not in security
        self.post = schema.method == "POST"
        self.body = schema.method in ("POST", "PUT", "PATCH", "DELETE")
        self.query = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        self.throttled = bool(schema.view.get_throttles())
        self.anonymous_keyed = path in schema.keyed_anonymous_paths()
        # A key is stored per user: on every POST that carries a valid access
        # token (an anonymous operation's too), and on the anonymous ones that
        # key by themselves (registration).
        self.keyed = self.post
        paginator = getattr(schema.view, "paginator", None)
        self.cursor = getattr(paginator, "cursor_query_param", None) in self.query

    def replayable(self, status: int) -> bool:
        if not self.keyed:
            return False
        if self.anonymous_keyed:  # only the success is stored
            return 200 <= status < 300
        return status < 500 and status not in self.schema.never_replayed

    def problems(self) -> list[tuple[int, str, list[tuple[str, str, dict]]]]:
        found: list[tuple[int, str, list[tuple[str, str, dict]]]] = []
        bad: list[tuple[str, str, dict]] = []
        said: list[str] = []
        if self.body:
            said.append(
                "`validation_error`: a field is missing, unknown, of the wrong type or "
                "invalid (`errors` names it); `malformed_request`: the body is not JSON"
            )
            said.append("`bad_request`: `Content-Length` is not a number")
            bad += [
                ("validation_error", "The request body is invalid.", _FIELD_ERRORS),
                ("malformed_request", "JSON parse error - Expecting value", {}),
                ("bad_request", "Content-Length is not a number.", {}),
            ]
        if self.query:
            said.append(
                "`validation_error` about query parameters (" + ", ".join(self.query) + "): "
                "`errors` names them"
            )
            bad.append(
                (
                    "validation_error",
                    "The query parameters are invalid.",
                    {"errors": {self.query[-1]: ["Must be one positive integer."]}},
                )
            )
        if self.post:
            said.append(
                "`invalid_idempotency_key`: `Idempotency-Key` is not 1-255 printable ASCII "
                "characters"
            )
            bad.append(
                (
                    "invalid_idempotency_key",
                    "Idempotency-Key must be 1 to 255 printable ASCII characters.",
                    {},
                )
            )
        if bad:
            found.append((400, "; ".join(said) + ".", bad))
        if self.authenticated:
            found.append((401, _BEARER_401, _BEARER_CODES))
        if self.cursor:
            found.append(
                (404, "`not_found`: a cursor the server did not issue.", [_INVALID_CURSOR])
            )
        if self.body:
            found.append(
                (
                    409,
                    "`constraint_conflict`: a database constraint refused the write (a race "
                    "no rule foresaw); nothing was changed: retry it. Logged as a bug.",
                    [
                        (
                            "constraint_conflict",
                            "The request conflicts with a concurrent change; nothing was "
                            "changed. Retry it.",
                            {},
                        )
                    ],
                )
            )
            found.append(
                (
                    411,
                    "`length_required`: a chunked body behind a server that cannot end it "
                    "(the shipped servers, granian and gunicorn, can: it does not happen "
                    "there); send a `Content-Length`.",
                    [
                        (
                            "length_required",
                            "This server cannot read chunked bodies; send a Content-Length.",
                            {},
                        )
                    ],
                )
            )
            found.append(
                (
                    413,
                    "`payload_too_large`: the body is over the limit (100 KB).",
                    [("payload_too_large", "Request bodies are limited to 102400 bytes.", {})],
                )
            )
            found.append(
                (
                    415,
                    "`unsupported_media_type`: the body is not `application/json`.",
                    [
                        (
                            "unsupported_media_type",
                            'Unsupported media type "text/plain" in request.',
                            {},
                        )
                    ],
                )
            )
        if self.keyed:
            found.append(
                (
                    422,
                    "`idempotency_key_reused`: this `Idempotency-Key` was used for a different "
                    "request; use a new key.",
                    [
                        (
                            "idempotency_key_reused",
                            "This Idempotency-Key was used for a different request.",
                            {},
                        )
                    ],
                )
            )
        if self.throttled:
            found.append(
                (
                    429,
                    "`throttled`: a rate limit was reached; retry after `Retry-After` seconds.",
                    [("throttled", "Request was throttled. Expected available in 42 seconds.", {})],
                )
            )
        found.append(
            (
                503,
                "`database_unavailable`: the database is unreachable or busy; nothing was "
                "changed. Retry after `Retry-After` seconds.",
                [
                    (
                        "database_unavailable",
                        "The database is not reachable right now; nothing was changed. "
                        "Retry shortly.",
                        {},
                    )
                ],
            )
        )
        return found


_FIELD_ERRORS = {"errors": {"field": ["This field is required."]}}
_INVALID_CURSOR: Case = ("not_found", "Invalid cursor", {})


def _merge_problem(response: dict, status: int, description: str, cases: list) -> None:
    """Add the shared codes of ``status`` to a response, keeping what the view said."""
    own = response.get("description", "")
    if own in ("", _DESCRIPTIONS.get(status)):
        response["description"] = description
    elif description not in own:
        response["description"] = f"{own} {description}"
    content = response.setdefault("content", {}).setdefault(PROBLEM_CONTENT_TYPE, {})
    examples = content.setdefault("examples", {})
    for code, detail, members in cases:
        key = "".join(part.capitalize() for part in code.split("_"))
        if "errors" in members and detail.startswith("The query"):
            key += "Query"
        examples.setdefault(
            key, {"value": problem_example(status, code, detail, **members), "summary": code}
        )


def _request_id_parameter() -> dict:
    return {
        "in": "header",
        "name": "X-Request-ID",
        "required": False,
        "schema": {"type": "string"},
        "description": (
            "An id for this request, echoed in the `X-Request-ID` response header and in "
            "problem bodies when it is 1-128 letters, digits or `._:-` (otherwise the server "
            "makes one)."
        ),
        "example": "client-7f3a-0001",
    }


def _idempotency_key_parameter(keyed: bool) -> dict:
    if keyed:
        description = (
            "Makes a retry safe: the first request with a key runs and its outcome is "
            "stored for 24 h; the same key with the same body replays it "
            "(`Idempotent-Replayed: true`) without doing the work again; the same key with "
            "another body is 422 `idempotency_key_reused`. A UUID per user action is ideal."
        )
    else:
        description = (
            "Accepted on every POST. Without an access token this operation ignores a "
            "well-formed key (a malformed one is 400 `invalid_idempotency_key`); with a "
            "valid `Authorization: Bearer` header the key is stored and replayed per user "
            "as on every authenticated POST (422 `idempotency_key_reused` for another body)."
        )
    return {
        "in": "header",
        "name": "Idempotency-Key",
        "required": False,
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "pattern": _IDEMPOTENCY_KEY_PATTERN,
        },
        "description": description,
    }


def describe_strict_requests(result, generator, request, public):
    """Say in the schema what StrictInputSerializer enforces on request bodies
    (``COMPONENT_SPLIT_REQUEST`` names their components ``...Request``):

    - ``additionalProperties: false``: undeclared fields are rejected;
    - strings never contain NUL (DRF refuses it in every CharField)."""
    from base.serializers import StrictInputSerializer

    inherited = (StrictInputSerializer.__doc__ or "").strip()
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if not (name.endswith("Request") and schema.get("type") == "object"):
            continue
        schema["additionalProperties"] = False
        if _same_text(schema.get("description", ""), inherited):
            schema["description"] = "Fields not declared here are refused (400)."
        for prop in schema.get("properties", {}).values():
            if prop.get("type") == "string" and not {"enum", "pattern", "format"} & set(prop):
                prop["pattern"] = "^[^\\u0000]*$"
    return result


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


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
