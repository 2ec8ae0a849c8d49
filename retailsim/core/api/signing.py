"""Webhook signatures: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{raw body}">``, Stripe's scheme.

Rules kept: the MAC is computed over the raw bytes as received (never over re-serialised JSON); digests
are compared in constant time; a timestamp further than ``TOLERANCE_S`` from now is refused, so a
captured request cannot be replayed later; several ``v1`` entries are accepted (secret rotation).
The clock is the caller's: ``now`` is a parameter.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "Webhook-Signature"
ALIASES = ("Stripe-Signature",)
TOLERANCE_S = 300.0


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value a sender puts on ``body`` at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(
    secret: str, header: str | None, body: bytes, now: float, tolerance_s: float = TOLERANCE_S
) -> str | None:
    """None when the signature is good; otherwise the reason it is refused (for the 401 body)."""
    if not header:
        return f"missing {SIGNATURE_HEADER} header"
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return "timestamp is not an integer"
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return "signature header must carry t=<timestamp> and v1=<signature>"
    if abs(now - timestamp) > tolerance_s:
        return f"timestamp outside the {tolerance_s:.0f} s tolerance"
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        return None
    return "signature does not match the body"
