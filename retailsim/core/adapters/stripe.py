"""Stripe-style payments: verify an authorisation, capture, cancel, refund — each with an Idempotency-Key.

Keys are derived from the order number and the command, so every retry of one command reuses its key
and the gateway replays its first answer instead of charging or refunding again.
"""

from __future__ import annotations

from typing import Any

from retailsim.core.adapters.http import OutboundRequest, Reply


def idempotency_key(order_no: str, command: str) -> str:
    return f"{order_no}:{command}"


def retrieve_intent(intent_id: str) -> OutboundRequest:
    return OutboundRequest("GET", f"/v1/payment_intents/{intent_id}")


def capture(intent_id: str, amount_minor: int, key: str) -> OutboundRequest:
    return OutboundRequest(
        "POST",
        f"/v1/payment_intents/{intent_id}/capture",
        {"amount_to_capture": amount_minor},
        {"Idempotency-Key": key},
    )


def cancel(intent_id: str, key: str) -> OutboundRequest:
    return OutboundRequest(
        "POST",
        f"/v1/payment_intents/{intent_id}/cancel",
        {"cancellation_reason": "abandoned"},
        {"Idempotency-Key": key},
    )


def refund(intent_id: str, amount_minor: int, return_no: str, key: str | None) -> OutboundRequest:
    headers = {"Idempotency-Key": key} if key else {}
    return OutboundRequest(
        "POST",
        "/v1/refunds",
        {
            "payment_intent": intent_id,
            "amount": amount_minor,
            "reason": "requested_by_customer",
            "metadata": {"return_no": return_no},
        },
        headers,
    )


def intent_status(reply: Reply) -> str | None:
    body: Any = reply.body
    return str(body.get("status")) if isinstance(body, dict) and "status" in body else None


def error_code(reply: Reply) -> str:
    body: Any = reply.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("code", ""))
    return ""
