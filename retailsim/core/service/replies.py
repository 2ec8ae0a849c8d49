"""The core's answers to its callers (the order, return, action and webhook APIs): :class:`ApiReply` and the
refusals every idempotent request shares.

Rules kept: a reply is a value (frozen); a 4xx refusal says what was wrong in ``error`` (a stable code) and
``detail`` (for a person); a refusal changed nothing, so the same idempotency key may be used again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ApiReply:
    """An answer: HTTP status, JSON body, headers (``Idempotent-Replayed``, ``Retry-After``)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def missing_key() -> ApiReply:
    return ApiReply(400, {"error": "missing_idempotency_key", "detail": "Idempotency-Key header is required"})


def key_reused() -> ApiReply:
    return ApiReply(
        422, {"error": "idempotency_key_reused", "detail": "this Idempotency-Key was used with another body"}
    )


def in_flight() -> ApiReply:
    return ApiReply(
        409, {"error": "request_in_flight", "detail": "a request with this key is being processed"}
    )
