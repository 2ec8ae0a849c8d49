"""Stripe-style gateway: PaymentIntents, capture, cancel, refunds, Idempotency-Key, errors, webhooks."""

from __future__ import annotations

import random
from typing import Any

import simpy

from retailsim.systems import LOST_REPLY, PaymentGateway, Request, Response
from tests.unit.systems.support import answered, collect, served

INTENTS = "/v1/payment_intents"


def gateway(**knobs: Any) -> PaymentGateway:
    knobs.setdefault("decline_rate", 0.0)
    return PaymentGateway(simpy.Environment(), random.Random(1), **knobs)


def intent_body(amount: int = 1999, order_no: str = "00001") -> dict[str, Any]:
    return {
        "amount": amount,
        "currency": "usd",
        "capture_method": "manual",
        "metadata": {"order_no": order_no},
    }


def authorised(system: PaymentGateway, amount: int = 1999) -> str:
    response = system.dispatch(Request("POST", INTENTS, intent_body(amount)))
    assert response.status == 200
    return str(response.body["id"])


def captured(system: PaymentGateway, amount: int = 1999) -> str:
    intent_id = authorised(system, amount)
    assert system.dispatch(Request("POST", f"{INTENTS}/{intent_id}/capture", {})).status == 200
    return intent_id


def test_create_returns_a_payment_intent_awaiting_capture() -> None:
    system = gateway()
    response = system.dispatch(Request("POST", INTENTS, intent_body(2500, "00042")))
    assert response.status == 200
    intent = response.body
    assert intent["id"].startswith("pi_") and intent["object"] == "payment_intent"
    assert intent["status"] == "requires_capture"
    assert (intent["amount"], intent["amount_capturable"], intent["amount_received"]) == (2500, 2500, 0)
    assert intent["currency"] == "usd" and intent["metadata"] == {"order_no": "00042"}
    assert system.intents[intent["id"]]["status"] == "requires_capture"


def test_ids_are_deterministic_counters() -> None:
    first, second = gateway(), gateway()
    assert authorised(first) == authorised(second)
    assert authorised(first) != authorised(first)


def test_a_declined_card_is_402_card_error_and_leaves_the_intent_needing_a_method() -> None:
    system = gateway(decline_rate=1.0)
    response = system.dispatch(Request("POST", INTENTS, intent_body()))
    assert response.status == 402
    error = response.body["error"]
    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error",
        "card_declined",
        "generic_decline",
    )
    assert error["payment_intent"]["status"] == "requires_payment_method"
    assert system.intents[error["payment_intent"]["id"]]["status"] == "requires_payment_method"


def test_decline_rate_is_drawn_from_the_seeded_stream() -> None:
    def declines(seed: int) -> list[int]:
        system = PaymentGateway(simpy.Environment(), random.Random(seed), decline_rate=0.5)
        return [system.dispatch(Request("POST", INTENTS, intent_body())).status for _ in range(20)]

    assert declines(7) == declines(7)
    assert 402 in declines(7) and 200 in declines(7)


def test_get_intent_and_resource_missing() -> None:
    system = gateway()
    intent_id = authorised(system)
    assert system.dispatch(Request("GET", f"{INTENTS}/{intent_id}")).body["id"] == intent_id
    missing = system.dispatch(Request("GET", f"{INTENTS}/pi_nope"))
    assert missing.status == 404
    assert missing.body["error"]["type"] == "invalid_request_error"
    assert missing.body["error"]["code"] == "resource_missing"


def test_capture_succeeds_once_and_emits_payment_intent_succeeded() -> None:
    system = gateway()
    hooks = collect(system)
    intent_id = authorised(system, 1500)
    response = system.dispatch(Request("POST", f"{INTENTS}/{intent_id}/capture", {"amount_to_capture": 1200}))
    assert response.status == 200
    assert response.body["status"] == "succeeded" and response.body["amount_received"] == 1200
    assert system.captures == [{"payment_intent": intent_id, "amount": 1200, "at": 0.0}]
    assert system.captured_amount(intent_id) == 1200
    [hook] = hooks
    assert hook.topic == "payment_intent.succeeded"
    assert hook.body["object"] == "event" and hook.body["type"] == "payment_intent.succeeded"
    assert hook.event_id == hook.body["id"] and hook.event_id.startswith("evt_")
    assert isinstance(hook.body["created"], int)
    assert hook.body["data"]["object"]["id"] == intent_id


def test_a_capture_retried_without_a_key_is_an_unexpected_state() -> None:
    system = gateway()
    intent_id = captured(system)
    retry = system.dispatch(Request("POST", f"{INTENTS}/{intent_id}/capture", {}))
    assert retry.status == 400
    assert retry.body["error"]["code"] == "payment_intent_unexpected_state"
    assert len(system.captures) == 1


def test_a_capture_retried_with_its_key_is_replayed() -> None:
    system = gateway()
    intent_id = authorised(system)
    request = Request("POST", f"{INTENTS}/{intent_id}/capture", {}, {"Idempotency-Key": "cap-1"})
    first = system.dispatch(request)
    again = system.dispatch(
        Request("POST", f"{INTENTS}/{intent_id}/capture", {}, {"Idempotency-Key": "cap-1"})
    )
    assert first.status == again.status == 200 and again.body == first.body
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert system.idempotency_replays == 1 and len(system.captures) == 1


def test_the_same_key_with_other_parameters_is_an_idempotency_error() -> None:
    system = gateway()
    headers = {"Idempotency-Key": "k1"}
    assert system.dispatch(Request("POST", INTENTS, intent_body(1000), headers)).status == 200
    other = system.dispatch(Request("POST", INTENTS, intent_body(2000), dict(headers)))
    assert other.status == 400 and other.body["error"]["type"] == "idempotency_error"
    assert len(system.intents) == 1 and system.idempotency_replays == 0


def test_cancel_from_requires_capture_and_refused_after_capture() -> None:
    system = gateway()
    hooks = collect(system)
    intent_id = authorised(system)
    response = system.dispatch(
        Request("POST", f"{INTENTS}/{intent_id}/cancel", {"cancellation_reason": "abandoned"})
    )
    assert response.status == 200 and response.body["status"] == "canceled"
    assert [h.topic for h in hooks] == ["payment_intent.canceled"]
    late = system.dispatch(Request("POST", f"{INTENTS}/{captured(system)}/cancel", {}))
    assert late.status == 400 and late.body["error"]["code"] == "payment_intent_unexpected_state"


def test_a_declined_intent_can_be_canceled() -> None:
    system = gateway(decline_rate=1.0)
    intent_id = system.dispatch(Request("POST", INTENTS, intent_body())).body["error"]["payment_intent"]["id"]
    assert system.dispatch(Request("POST", f"{INTENTS}/{intent_id}/cancel", {})).body["status"] == "canceled"


def test_refund_creates_a_refund_object_and_emits_charge_refunded() -> None:
    system = gateway()
    hooks = collect(system)
    intent_id = captured(system, 3000)
    body = {
        "payment_intent": intent_id,
        "amount": 1000,
        "reason": "requested_by_customer",
        "metadata": {"return_no": "R1"},
    }
    response = system.dispatch(Request("POST", "/v1/refunds", body))
    assert response.status == 200
    refund = response.body
    assert refund["id"].startswith("re_") and refund["object"] == "refund"
    assert (refund["amount"], refund["currency"], refund["payment_intent"]) == (1000, "usd", intent_id)
    assert refund["reason"] == "requested_by_customer" and refund["status"] == "succeeded"
    assert refund["metadata"] == {"return_no": "R1"}
    assert system.refunds == [refund] and system.refunded_amount(intent_id) == 1000
    assert [h.topic for h in hooks][-1] == "charge.refunded"
    assert hooks[-1].body["data"]["object"]["id"] == refund["id"]


def test_a_refund_retried_without_a_key_refunds_twice_but_never_above_the_capture() -> None:
    system = gateway()
    intent_id = captured(system, 1000)
    body = {"payment_intent": intent_id, "amount": 400, "reason": "requested_by_customer"}
    assert system.dispatch(Request("POST", "/v1/refunds", body)).status == 200
    assert system.dispatch(Request("POST", "/v1/refunds", dict(body))).status == 200  # a real second refund
    assert system.refunded_amount(intent_id) == 800
    too_much = system.dispatch(Request("POST", "/v1/refunds", dict(body)))
    assert too_much.status == 400 and too_much.body["error"]["code"] == "amount_too_large"
    assert len(system.refunds) == 2


def test_a_refund_retried_with_its_key_is_replayed_not_repeated() -> None:
    system = gateway()
    intent_id = captured(system, 1000)
    body = {"payment_intent": intent_id, "amount": 400, "reason": "duplicate"}
    first = system.dispatch(Request("POST", "/v1/refunds", body, {"Idempotency-Key": "r-1"}))
    again = system.dispatch(Request("POST", "/v1/refunds", dict(body), {"Idempotency-Key": "r-1"}))
    assert again.body["id"] == first.body["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert len(system.refunds) == 1


def test_a_refund_without_an_amount_refunds_what_is_left() -> None:
    system = gateway()
    intent_id = captured(system, 1000)
    system.dispatch(Request("POST", "/v1/refunds", {"payment_intent": intent_id, "amount": 300}))
    rest = system.dispatch(Request("POST", "/v1/refunds", {"payment_intent": intent_id}))
    assert rest.status == 200 and rest.body["amount"] == 700


def test_refund_refusals_unexpected_state_and_bad_reason() -> None:
    system = gateway()
    uncaptured = authorised(system)
    early = system.dispatch(Request("POST", "/v1/refunds", {"payment_intent": uncaptured, "amount": 100}))
    assert early.status == 400 and early.body["error"]["code"] == "payment_intent_unexpected_state"
    intent_id = captured(system)
    bad = system.dispatch(
        Request("POST", "/v1/refunds", {"payment_intent": intent_id, "amount": 100, "reason": "changed_mind"})
    )
    assert bad.status == 400 and bad.body["error"]["type"] == "invalid_request_error"
    assert system.refunds == []


def test_rate_limit_is_429_rate_limit_error_with_retry_after() -> None:
    system = gateway(rate_limit_per_s=1)
    assert answered(system, Request("POST", INTENTS, intent_body())).status == 200
    refused = answered(system, Request("POST", INTENTS, intent_body()))
    assert refused.status == 429
    assert (
        refused.body["error"]["type"] == "rate_limit_error" and refused.body["error"]["code"] == "rate_limit"
    )
    assert int(refused.headers["Retry-After"]) >= 1
    assert len(system.intents) == 1


def test_outage_and_server_errors_are_api_errors() -> None:
    system = gateway()
    system.faults.outage = True
    down = answered(system, Request("POST", INTENTS, intent_body()))
    assert (
        down.status == 503 and down.body["error"]["type"] == "api_error" and "message" in down.body["error"]
    )
    system.faults.outage = False
    system.faults.error_rate = 1.0
    broken = answered(system, Request("POST", INTENTS, intent_body()))
    assert broken.status == 500 and broken.body["error"]["type"] == "api_error"
    assert system.intents == {}


def test_a_lost_reply_still_captured_the_money() -> None:
    system = gateway()
    intent_id = authorised(system)
    system.faults.lost_reply_rate = 1.0
    assert served(system, Request("POST", f"{INTENTS}/{intent_id}/capture", {})) is LOST_REPLY
    assert system.captured_amount(intent_id) == 1999 and system.intents[intent_id]["status"] == "succeeded"


def test_the_call_path_takes_simulated_time() -> None:
    system = gateway()
    response = served(system, Request("POST", INTENTS, intent_body()))
    assert isinstance(response, Response) and response.status == 200
    assert system.env.now > 0
