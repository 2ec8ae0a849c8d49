"""Outbound HTTP-shaped requests, and how a reply is judged: success, retry later, or give up.

The judgement follows what the products mean by their codes: 429 and 503 are "come back later"
(with Retry-After when given); Salesforce says the same with 403 ``REQUEST_LIMIT_EXCEEDED`` and NetSuite's
RESTlets with 400 ``SSS_REQUEST_LIMIT_EXCEEDED``; 5xx and a
lost reply are retried; other 4xx are the request's own fault and retrying the same bytes cannot help,
so the message goes to the dead-letter queue for a person to repair and replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    method: str
    path: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reply:
    """What came back from a downstream system; ``status`` None means no reply (timeout, lost)."""

    status: int | None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Verdict(StrEnum):
    SUCCESS = "success"
    RETRY = "retry"
    PERMANENT = "permanent"


def retry_after_s(reply: Reply) -> float | None:
    value = reply.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def is_salesforce_limit(reply: Reply) -> bool:
    body = reply.body
    return (
        reply.status == 403
        and isinstance(body, list)
        and any(isinstance(e, dict) and e.get("errorCode") == "REQUEST_LIMIT_EXCEEDED" for e in body)
    )


NETSUITE_LIMITS = frozenset({"SSS_REQUEST_LIMIT_EXCEEDED", "CONCURRENCY_LIMIT_EXCEEDED"})


def is_netsuite_limit(reply: Reply) -> bool:
    """NetSuite's concurrency governance as a RESTlet answers it: 400 with a limit code, not 429."""
    body = reply.body
    details = body.get("o:errorDetails") if isinstance(body, dict) else None
    return (
        reply.status == 400
        and isinstance(details, list)
        and any(isinstance(d, dict) and d.get("o:errorCode") in NETSUITE_LIMITS for d in details)
    )


def judge(reply: Reply) -> Verdict:
    if reply.ok:
        return Verdict.SUCCESS
    if reply.status is None or reply.status in (408, 409, 425, 429) or reply.status >= 500:
        return Verdict.RETRY
    if is_salesforce_limit(reply) or is_netsuite_limit(reply):
        return Verdict.RETRY
    return Verdict.PERMANENT


def error_text(reply: Reply) -> str:
    if reply.status is None:
        return "no reply (timeout or lost response)"
    return f"HTTP {reply.status}: {str(reply.body)[:200]}"
