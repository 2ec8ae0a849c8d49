"""Stripe-style payment gateway: PaymentIntents (manual capture), refunds, Idempotency-Key, webhooks.

Behaves as Stripe documents: the first response to an ``Idempotency-Key`` is stored and replayed for the
same key and parameters (``Idempotent-Replayed: true``), the same key with other parameters is an
``idempotency_error``; without a key nothing protects a retry — a second refund is a second refund.
Stripe documents that it saves the first response's status code and body and compares a retry's
parameters with the original request's; how it stores them is not documented. Here a key's record keeps
the response serialized (a replay answers an equal, fresh body) and a digest of the request's path and
parameters, not the request itself. Captures are kept as ``(intent, amount, time)`` tuples and rendered as
dicts when ``captures`` is read.
A declined card answers 402 ``card_error`` and leaves the PaymentIntent in ``requires_payment_method``.

Rules kept: imports SimPy, the standard library and ``retailsim.systems`` only; every draw comes from
``self.rng``; ids are counters (``pi_0000001``); times come from the simulated clock (``clock.py``).
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

import simpy

from retailsim.systems.base import Latency, MockSystem, Request, Response
from retailsim.systems.clock import epoch_seconds

REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def _signature(path: str, body: Any) -> bytes:
    """What a key's record compares a retry with: a digest of the request's path and parameters (as
    canonical JSON, keys sorted) — the record keeps 16 bytes, not the request."""
    canonical = json.dumps([path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(canonical.encode(), digest_size=16).digest()


class PaymentGateway(MockSystem):
    name = "payment"
    routes = (
        ("POST", r"/v1/payment_intents", "create_intent"),
        ("GET", r"/v1/payment_intents/([\w]+)", "get_intent"),
        ("POST", r"/v1/payment_intents/([\w]+)/capture", "capture"),
        ("POST", r"/v1/payment_intents/([\w]+)/cancel", "cancel"),
        ("POST", r"/v1/refunds", "refund"),
    )

    def __init__(
        self,
        env: simpy.Environment,
        rng: random.Random,
        *,
        concurrency: int = 64,
        latency: Latency = Latency(0.15, 0.7),
        rate_limit_per_s: float | None = None,
        decline_rate: float = 0.02,
    ) -> None:
        super().__init__(
            env, rng, concurrency=concurrency, latency=latency, rate_limit_per_s=rate_limit_per_s
        )
        self.decline_rate = decline_rate
        self.intents: dict[str, dict[str, Any]] = {}
        # Captures, in order: (intent id, amount, when) — ``captures`` renders them as dicts when read.
        self._captured: list[tuple[str, int, float]] = []
        self.refunds: list[dict[str, Any]] = []
        self.idempotency_replays = 0
        # Idempotency-Key → (request signature, status, body, headers) of its first response, serialized
        # as a gateway keeps it (the request and a Response with its dicts were 1.6 KB an order at rest).
        self._keys: dict[str, tuple[bytes, int, str, tuple[tuple[str, str], ...]]] = {}

    # ---- Stripe's error shapes --------------------------------------------------------------------

    def error(self, status: int, code: str, message: str) -> Response:
        kind = "api_error" if status >= 500 else "invalid_request_error"
        return Response(status, {"error": {"type": kind, "code": code, "message": message}})

    def rate_limited(self, retry_after_s: float) -> Response:
        response = Response(
            429, {"error": {"type": "rate_limit_error", "code": "rate_limit", "message": "Too many requests"}}
        )
        response.headers["Retry-After"] = str(max(1, round(retry_after_s + 0.499)))
        return response

    def unavailable(self) -> Response:
        return Response(503, {"error": {"type": "api_error", "message": "Stripe is temporarily unavailable"}})

    # ---- idempotency ------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return super().dispatch(request)
        stored = self._keys.get(key)
        signature = _signature(request.path, request.body)
        if stored is not None:
            first, status, body, headers = stored
            if first != signature:
                return Response(
                    400,
                    {
                        "error": {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                        }
                    },
                )
            self.idempotency_replays += 1
            return Response(status, json.loads(body), {**dict(headers), "Idempotent-Replayed": "true"})
        response = super().dispatch(request)
        if response.status < 500:
            self._keys[key] = (
                signature,
                response.status,
                json.dumps(response.body, separators=(",", ":")),
                tuple(response.headers.items()),
            )
        return response

    # ---- handlers ---------------------------------------------------------------------------------

    def create_intent(self, request: Request) -> Response:
        body = request.body or {}
        amount = body.get("amount")
        if not isinstance(amount, int) or amount < 50:
            return self.error(400, "parameter_invalid_integer", "amount must be an integer of at least 50")
        intent = {
            "id": self.next_id("pi_"),
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": amount,
            "amount_received": 0,
            "currency": str(body.get("currency", "usd")),
            "capture_method": body.get("capture_method", "manual"),
            "status": "requires_capture",
            "created": epoch_seconds(self.env.now),
            "metadata": dict(body.get("metadata") or {}),
        }
        self.intents[intent["id"]] = intent
        if self.rng.random() < self.decline_rate:
            intent.update(status="requires_payment_method", amount_capturable=0)
            return Response(
                402,
                {
                    "error": {
                        "type": "card_error",
                        "code": "card_declined",
                        "decline_code": "generic_decline",
                        "message": "Your card was declined.",
                        "payment_intent": dict(intent),
                    }
                },
            )
        return Response(200, dict(intent))

    def _intent(self, intent_id: str) -> dict[str, Any] | None:
        return self.intents.get(intent_id)

    def _missing(self, intent_id: str) -> Response:
        return Response(
            404,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "param": "intent",
                    "message": f"No such payment_intent: '{intent_id}'",
                }
            },
        )

    def _unexpected(self, intent: dict[str, Any], action: str) -> Response:
        return Response(
            400,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "payment_intent_unexpected_state",
                    "message": f"This PaymentIntent could not be {action} because it has a status of {intent['status']}.",
                }
            },
        )

    def get_intent(self, request: Request, intent_id: str) -> Response:
        intent = self._intent(intent_id)
        return self._missing(intent_id) if intent is None else Response(200, dict(intent))

    def capture(self, request: Request, intent_id: str) -> Response:
        intent = self._intent(intent_id)
        if intent is None:
            return self._missing(intent_id)
        if intent["status"] != "requires_capture":
            return self._unexpected(intent, "captured")
        amount = int((request.body or {}).get("amount_to_capture") or intent["amount_capturable"])
        if amount > intent["amount_capturable"]:
            return self.error(400, "amount_too_large", "amount_to_capture exceeds the capturable amount")
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self._captured.append((intent_id, amount, self.env.now))
        self._event("payment_intent.succeeded", intent)
        return Response(200, dict(intent))

    def cancel(self, request: Request, intent_id: str) -> Response:
        intent = self._intent(intent_id)
        if intent is None:
            return self._missing(intent_id)
        if intent["status"] not in ("requires_capture", "requires_payment_method", "requires_confirmation"):
            return self._unexpected(intent, "canceled")
        intent.update(
            status="canceled",
            amount_capturable=0,
            cancellation_reason=(request.body or {}).get("cancellation_reason"),
        )
        self._event("payment_intent.canceled", intent)
        return Response(200, dict(intent))

    def refund(self, request: Request) -> Response:
        body = request.body or {}
        intent = self._intent(str(body.get("payment_intent", "")))
        if intent is None:
            return self._missing(str(body.get("payment_intent", "")))
        if intent["status"] != "succeeded":
            return self._unexpected(intent, "refunded")
        remaining = intent["amount_received"] - self.refunded_amount(intent["id"])
        raw_amount = body.get("amount", remaining)
        if not isinstance(raw_amount, int) or isinstance(raw_amount, bool) or raw_amount < 1:
            return self.error(400, "parameter_invalid_integer", "amount must be a positive integer")
        reason = body.get("reason", "requested_by_customer")
        if reason not in REFUND_REASONS:
            return self.error(
                400,
                "parameter_invalid_string",
                "reason must be one of duplicate, fraudulent, requested_by_customer",
            )
        amount = raw_amount
        if amount > remaining:
            return self.error(
                400, "amount_too_large", "Refund amount is greater than unrefunded amount on charge"
            )
        refund = {
            "id": self.next_id("re_"),
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "reason": reason,
            "status": "succeeded",
            "created": epoch_seconds(self.env.now),
            "metadata": dict(body.get("metadata") or {}),
        }
        self.refunds.append(refund)
        self._event("charge.refunded", refund)
        return Response(200, dict(refund))

    # ---- ledger helpers and webhooks --------------------------------------------------------------

    @property
    def captures(self) -> list[dict[str, Any]]:
        """Every capture, in order: ``{payment_intent, amount, at}`` (a new list of new dicts)."""
        return [{"payment_intent": i, "amount": amount, "at": at} for i, amount, at in self._captured]

    def captured_amount(self, intent_id: str) -> int:
        return sum(amount for captured, amount, _ in self._captured if captured == intent_id)

    def refunded_amount(self, intent_id: str) -> int:
        return sum(r["amount"] for r in self.refunds if r["payment_intent"] == intent_id)

    def _event(self, kind: str, obj: dict[str, Any]) -> None:
        event_id = self.next_id("evt_")
        self.emit(
            kind,
            {
                "id": event_id,
                "object": "event",
                "type": kind,
                "created": epoch_seconds(self.env.now),
                "data": {"object": dict(obj)},
            },
            event_id,
        )
