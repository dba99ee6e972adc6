"""The current request id, readable from anywhere in the request's thread."""

from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
