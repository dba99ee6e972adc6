"""Request body parsers (``DEFAULT_PARSER_CLASSES``)."""

from collections.abc import Iterable
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def nesting_exceeds(data: Any, limit: int) -> bool:
    """Whether JSON containers in ``data`` nest more than ``limit`` deep (the
    top-level object or array is level 1). Iterative, so a deep body costs no
    stack here."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, but a deeply nested body is a 400 ``malformed_request``.

    The standard library parser recurses once per level: 1000 nested arrays
    (2 KB) raise RecursionError, which DRF does not catch (a 500). No request
    body of this API nests more than a couple of levels, so anything past
    ``max_depth`` is refused too, before a serializer walks it.
    """

    max_depth = 32

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        if nesting_exceeds(data, self.max_depth):
            raise ParseError(f"JSON parse error - nested deeper than {self.max_depth} levels.")
        return data
