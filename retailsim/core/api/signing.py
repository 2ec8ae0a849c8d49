"""Webhook signatures: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of the signed content>``, Stripe's header.

The signed content is ``"{t}.{raw body}"`` (Stripe) when the event's id is in the body, and
``"{webhook-id}.{t}.{raw body}"`` (Standard Webhooks' ``id.timestamp.body``) when the sender puts the id
in a header: whatever the API reads to identify an event — its id, its topic, its time — is covered by
the MAC, so a captured delivery cannot be replayed under a new id or relabelled (the API reads the topic
only from the signed body).

Rules kept: the MAC is computed over the raw bytes as received (never over re-serialised JSON); digests
are compared in constant time, as bytes (``compare_digest`` raises on non-ASCII text); parsing cannot
raise — a timestamp is at most ``MAX_TIMESTAMP_DIGITS`` ASCII digits (a 400-digit one overflowed a float
before any MAC check), anything else is a refusal with a reason; a timestamp further than
``TOLERANCE_S`` from now is refused, so a captured request cannot be replayed later; several ``v1``
entries are accepted (secret rotation). The clock is the caller's: ``now`` is a parameter.
"""

from __future__ import annotations

import hashlib
import hmac
import re

SIGNATURE_HEADER = "Webhook-Signature"
ALIASES = ("Stripe-Signature",)
TOLERANCE_S = 300.0
MAX_TIMESTAMP_DIGITS = 12
_TIMESTAMP = re.compile(rf"[0-9]{{1,{MAX_TIMESTAMP_DIGITS}}}")
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


def signed_content(body: bytes, timestamp: int, event_id: str | None = None) -> bytes:
    """What the MAC covers: ``{t}.{body}``, or ``{id}.{t}.{body}`` when the id travels in a header."""
    prefix = f"{timestamp}." if event_id is None else f"{event_id}.{timestamp}."
    return prefix.encode("utf-8", "surrogateescape") + body


def sign(secret: str, body: bytes, timestamp: int, event_id: str | None = None) -> str:
    """The header value a sender puts on ``body`` at ``timestamp`` (``event_id``: the header-borne id)."""
    content = signed_content(body, timestamp, event_id)
    mac = hmac.new(secret.encode(), content, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    now: float,
    tolerance_s: float = TOLERANCE_S,
    event_id: str | None = None,
) -> str | None:
    """None when the signature is good; otherwise the reason it is refused (for the 401 body)."""
    if not header:
        return f"missing {SIGNATURE_HEADER} header"
    timestamp: int | None = None
    candidates: list[bytes] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            if not _TIMESTAMP.fullmatch(value):
                return f"timestamp is not an integer of at most {MAX_TIMESTAMP_DIGITS} digits"
            timestamp = int(value)
        elif name == "v1" and _HEX_DIGEST.fullmatch(value):
            candidates.append(value.lower().encode("ascii"))
    if timestamp is None or not candidates:
        return "signature header must carry t=<timestamp> and v1=<64 hex digits>"
    if abs(now - timestamp) > tolerance_s:
        return f"timestamp outside the {tolerance_s:.0f} s tolerance"
    expected = sign(secret, body, timestamp, event_id).split("v1=", 1)[1].encode("ascii")
    if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        return None
    if event_id is not None:
        return "signature does not match '{webhook-id}.{t}.{body}'"
    return "signature does not match the body"
