"""The API's one text check: no lone surrogates, NUL or other control characters in any string a client
sends — body values and keys, identifiers in headers (Idempotency-Key, X-Client-Id, webhook-id) and path
parameters — answered 422 with the field's path, before anything reaches a store.

Why here, once: a lone surrogate (``"\\ud800"`` is valid JSON) cannot be encoded as UTF-8 by SQLite's
driver or PostgreSQL, and PostgreSQL refuses NUL in text and JSONB; both surfaced as 500s from deep in a
store. Checking every string at the edge means no store, mapping or log line ever sees one.

Rules kept: free text in bodies may carry tab, line feed and carriage return; identifiers may not. The
walk is iterative (a deeply nested body cannot exhaust the stack) and stops after ``MAX_ERRORS`` findings.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls but tab/LF/CR, DEL, C1 controls, and surrogates (only lone ones survive json.loads).
_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_IN_IDENTIFIER = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
MAX_ERRORS = 20
ERROR_TYPE = "string_forbidden_character"


def _describe(char: str) -> str:
    code = ord(char)
    kind = "lone surrogate" if 0xD800 <= code <= 0xDFFF else "control character"
    return f"{kind} U+{code:04X} is not allowed"


def _printable(part: str | int) -> str | int:
    """A path segment safe to echo in the 422 (a key may itself hold the character refused)."""
    if isinstance(part, int):
        return part
    return _IN_IDENTIFIER.sub(lambda m: f"\\u{ord(m.group()):04x}", part)


def _finding(loc: list[str | int], match: re.Match[str], where: str = "") -> dict[str, Any]:
    return {"loc": [_printable(p) for p in loc], "msg": _describe(match.group()) + where, "type": ERROR_TYPE}


def identifier_errors(value: str, loc: list[str | int]) -> list[dict[str, Any]]:
    """Findings in one identifier (a header value, a path parameter)."""
    found = _IN_IDENTIFIER.search(value)
    return [] if found is None else [_finding(loc, found)]


def body_errors(body: Any, root: str = "body") -> list[dict[str, Any]]:
    """Findings in every string of a parsed JSON body (values and object keys), with their paths."""
    errors: list[dict[str, Any]] = []
    stack: list[tuple[list[str | int], Any]] = [([root], body)]
    while stack and len(errors) < MAX_ERRORS:
        loc, value = stack.pop()
        if isinstance(value, str):
            found = _IN_TEXT.search(value)
            if found is not None:
                errors.append(_finding(loc, found))
        elif isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                found = _IN_TEXT.search(key)
                if found is not None:
                    errors.append(_finding([*loc, key], found, " (in the key)"))
                stack.append(([*loc, key], item))
        elif isinstance(value, list):
            for index in range(len(value) - 1, -1, -1):
                stack.append(([*loc, index], value[index]))
    return errors[:MAX_ERRORS]
