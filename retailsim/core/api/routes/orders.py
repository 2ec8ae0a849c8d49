"""Orders: ``POST /v1/orders`` (the storefront's order export), and an order's timeline and the agent's
actions on it (operations routes, behind the bearer token).

Rules kept: Idempotency-Key required (400 without); same key + same body → the stored answer again; other
body → 422; still in flight → 409; invalid body → 422 with field paths; 202 only after the order is
committed (it survives ``kill -9``). An order whose PaymentIntent, as the host's gateway holds it, was made
for another order number, amount or currency → 422, nothing changed. Orders that arrive while a batch is
being committed go together in the next one (``Batches``), one store transaction for the lot, each
answered only after that commit and as it would be alone (``IntegrationCore.submit_orders``).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from retailsim.core.adapters.sfcc import order_from_scapi
from retailsim.core.api.batches import Batches
from retailsim.core.api.edge import Api, Endpoint, Refused, read_keyed_json, reply_response
from retailsim.core.api.host import HostUnavailable
from retailsim.core.errors import InvalidPayload
from retailsim.core.service import IntegrationCore

MAX_ORDERS_PER_COMMIT = 32


def payment_mismatch(api: Api, body: Any) -> Refused | None:
    """422 when the order's PaymentIntent, as the gateway holds it, was made for another order number,
    amount or currency; None when it matches, or cannot be looked up now (the core's verification of the
    authorisation judges the order then)."""
    try:
        order = order_from_scapi(body)
    except InvalidPayload:
        return None  # the core refuses it, with its field errors
    if order.payment is None:
        return None
    try:
        intent = api.host.payment_intent(order.payment.reference)
    except HostUnavailable:
        return None
    if intent is None:
        return None
    held = intent.get("metadata")
    metadata: dict[str, Any] = held if isinstance(held, dict) else {}
    wanted = {
        "order_no": (metadata.get("order_no"), order.order_no),
        "amount": (intent.get("amount"), order.total_minor),
        "currency": (str(intent.get("currency", "")).lower(), order.currency.lower()),
    }
    errors = [
        {
            "loc": ["body", "paymentInstruments", 0, "c_paymentIntentId"],
            "msg": f"the PaymentIntent's {name} is {held!r}, the order's is {ours!r}",
            "type": "payment_mismatch",
        }
        for name, (held, ours) in wanted.items()
        if held != ours
    ]
    if not errors:
        return None
    return Refused(
        422,
        "payment_mismatch",
        "the PaymentIntent was authorised for another order or amount; nothing was changed",
        errors=errors,
    )


def endpoints(api: Api) -> list[Endpoint]:
    host = api.host

    def run_orders(orders: list[tuple[Any, str]]) -> list[Response | Exception]:
        core = api.running_core()
        host.orders_received([body for body, _ in orders])
        now = host.now()
        outcomes = core.submit_orders([(body, key, now) for body, key in orders])
        answers: list[Response | Exception] = []
        for (body, _), outcome in zip(orders, outcomes, strict=True):
            if isinstance(outcome, Exception):
                answers.append(outcome)
                continue
            host.order_answered(body, outcome)
            answers.append(reply_response(outcome))
        return answers

    order_batches: Batches[tuple[Any, str], Response] = Batches(
        run_orders, MAX_ORDERS_PER_COMMIT, key=lambda order: order[1]
    )

    async def submit_order(request: Request) -> Response:
        key, body = await read_keyed_json(request)
        mismatch = await run_in_threadpool(payment_mismatch, api, body)
        if mismatch is not None:
            raise mismatch
        return await order_batches((body, key))

    async def order_timeline(request: Request) -> Response:
        order_id = request.path_params["order_id"]

        def answer(core: IntegrationCore) -> Response:
            timeline = core.order_timeline(order_id)
            if timeline is None:
                raise Refused(404, "order_not_found", f"no order {order_id!r}")
            return JSONResponse(timeline)

        return await api.with_core(answer)

    async def agent_action(request: Request) -> Response:
        order_id = request.path_params["order_id"]
        key, body = await read_keyed_json(request)
        return await api.with_core(
            lambda core: reply_response(core.agent_action(order_id, body, key, host.now()))
        )

    return [
        Endpoint("/v1/orders", submit_order, ("POST",)),
        Endpoint("/v1/orders/{order_id}", order_timeline, ("GET",), operations=True),
        Endpoint("/v1/orders/{order_id}/actions", agent_action, ("POST",), operations=True),
    ]
