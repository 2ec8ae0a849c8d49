"""Stripe-style payments: verify an authorisation, capture, cancel, refund — each with an Idempotency-Key.

Keys are derived from the order number and the command, so every retry of one command reuses its key
and the gateway replays its first answer instead of charging or refunding again.
"""

from __future__ import annotations

from typing import Any

from retailsim.core.adapters.http import OutboundRequest, Reply
from retailsim.core.adapters.spec import Answer, CommandInput, CommandSpec, OrderMeant, ReturnMeant, Subject
from retailsim.core.workflows.order_to_cash import OrderEvent
from retailsim.core.workflows.return_to_refund import ReturnEvent


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


# ---- command specs ------------------------------------------------------------------------------------


def _payment_ref(command: CommandInput) -> str:
    return command.record.payment_ref or "missing"


def _capture(command: CommandInput) -> OutboundRequest:
    key = command.context.payment_idempotency_key(command.record, "capture") or ""
    return capture(_payment_ref(command), command.record.total_minor, key)


def _cancel(command: CommandInput) -> OutboundRequest:
    return cancel(
        _payment_ref(command), command.context.payment_idempotency_key(command.record, "cancel") or ""
    )


def _refund(command: CommandInput) -> OutboundRequest:
    record = command.return_record
    key = command.context.refund_idempotency_key(record)
    return refund(record.payment_ref or "missing", record.amount_minor, record.return_no, key)


def _authorization(answer: Answer) -> OrderMeant:
    authorized = intent_status(answer.reply) == "requires_capture"
    return OrderMeant(OrderEvent.PAYMENT_AUTHORIZED if authorized else OrderEvent.PAYMENT_FAILED)


def _authorization_missing(reply: Reply) -> OrderEvent | None:
    return OrderEvent.PAYMENT_FAILED if reply.status == 404 else None


def _no_hold_left(reply: Reply) -> bool:
    """Already cancelled or captured, or the gateway never had it: no hold is left on the card."""
    return error_code(reply) in ("payment_intent_unexpected_state", "resource_missing")


def _refunded(answer: Answer) -> ReturnMeant:
    body = answer.reply.body if isinstance(answer.reply.body, dict) else {}
    facts = {"refund_id": str(body.get("id", "")), "refunded_at": answer.now}
    return ReturnMeant(ReturnEvent.REFUND_SUCCEEDED, facts)


COMMANDS = (
    CommandSpec(
        "VerifyPaymentAuthorization",
        Subject.ORDER,
        lambda command: retrieve_intent(_payment_ref(command)),
        refused_means=_authorization_missing,
        means=_authorization,
    ),
    CommandSpec("CapturePayment", Subject.ORDER, _capture),
    CommandSpec("VoidPaymentAuthorization", Subject.ORDER, _cancel, benign=_no_hold_left),
    CommandSpec("RefundPayment", Subject.RETURN, _refund, means=_refunded),
)
