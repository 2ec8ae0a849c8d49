"""The payment sandbox: ``POST /v1/sandbox/payment_intents`` (an authorised PaymentIntent from the host's
mock gateway, for a load test's shopper to pay with) and ``GET /v1/sandbox/ledgers/{order_no}`` (the
god's-eye ledgers of an order, an operations route).

Rules kept: the request is validated by its published model (``schemas.PaymentIntentRequest``); the
gateway's refusal is answered in this API's error shape (a key reused with other parameters → 409); a
host without a sandbox → 404.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from retailsim.core.adapters.sfcc import field_errors
from retailsim.core.api.edge import (
    Api,
    Endpoint,
    Refused,
    invalid_text,
    parse_json,
    read_json_body,
    reply_response,
)
from retailsim.core.api.schemas import PaymentIntentRequest
from retailsim.core.api.validation import body_errors

GATEWAY_STATUSES = (400, 402, 404, 409)  # the gateway's refusals passed on as they are; others → 400


def endpoints(api: Api) -> list[Endpoint]:
    host = api.host

    async def sandbox_intent(request: Request) -> Response:
        raw = await read_json_body(request)
        try:
            parsed = parse_json(raw)
            errors = body_errors(parsed)
            if errors:
                raise invalid_text(errors)
            wanted = PaymentIntentRequest.model_validate(parsed)
        except ValueError as exc:
            errors = (
                field_errors(exc)
                if isinstance(exc, ValidationError)
                else [{"loc": ["body"], "msg": str(exc)}]
            )
            raise Refused(422, "invalid_request", "invalid payment intent request", errors=errors) from exc
        reply = await run_in_threadpool(
            host.sandbox_payment_intent, wanted.amount, wanted.currency.lower(), wanted.order_no
        )
        if reply is None:
            raise Refused(404, "no_sandbox", "this host has no payment sandbox")
        if reply.status >= 400:  # the gateway's refusal, in this API's error shape
            held = reply.body.get("error")
            error: dict[str, Any] = held if isinstance(held, dict) else {}
            # Stripe's 400 for a key reused with other parameters is a conflict with an earlier intent.
            status = 409 if error.get("type") == "idempotency_error" else reply.status
            status = status if status in GATEWAY_STATUSES else 400
            raise Refused(status, "gateway_refused", str(error.get("message", "the gateway refused")))
        return reply_response(reply)

    async def sandbox_ledgers(request: Request) -> Response:
        ledgers = await run_in_threadpool(host.sandbox_ledgers, request.path_params["order_no"])
        if ledgers is None:
            raise Refused(404, "no_sandbox", "this host has no sandbox ledgers")
        return JSONResponse(ledgers)

    return [
        Endpoint("/v1/sandbox/payment_intents", sandbox_intent, ("POST",)),
        Endpoint("/v1/sandbox/ledgers/{order_no}", sandbox_ledgers, ("GET",), operations=True),
    ]
