"""The core's HTTP API (live mode): Starlette over a host that runs an ``IntegrationCore``.

What the API promises, each tested over real HTTP in tests/live:

* ``POST /v1/orders`` — Idempotency-Key required (400 without); same key + same body → the stored
  answer again; other body → 422; still in flight → 409; invalid body → 422 with field paths; over
  1 MiB → 413; 202 only after the order is committed (it survives ``kill -9``).
* ``POST /v1/returns`` (a return request from a store, a service agent or the storefront) and
  ``POST /v1/orders/{id}/actions`` (an agent's reship, refund or return) — the same rules as orders:
  one reading of key and body (``_keyed_json``) in front of the core's one idempotency mechanism.
* ``POST /v1/webhooks/{source}`` — HMAC-SHA256 over the raw body (see ``signing``), 300 s tolerance:
  bad → 401 and no effect; a duplicate event id → 200 and no effect. An id sent in a header is signed
  with the body; the topic is read from the signed body only (a topic header that differs → 401).
* Operations (``OPS_ROUTES``, bearer token compared in constant time, 401 otherwise): the agent's
  timeline and actions, ops summary, dead letters and replay, reconciliation, ``/metrics``, the sandbox
  ledgers. Open: orders, returns, stock, catalog, sandbox intents, webhooks (signed), ``/openapi.json``,
  ``/healthz``.
* Every input: not JSON → 415; a lone surrogate or control character in any string (``validation``) →
  422 with its path, before any store; Idempotency-Key over 255 characters → 400, scoped per
  ``X-Client-Id`` when one is given; an order whose PaymentIntent (as the host's gateway holds it) was
  made for another order number, amount or currency → 422, nothing changed.

Rules kept: this is the edge, so it may read the clock — the core's time comes from ``host.now()`` and is
passed into the core, which stays pure; webhook signatures are judged against Unix time (``time.time()``).
Core calls run in the thread pool, never on the event loop. Orders that arrive while a batch of orders is
being committed wait and go together in the next batch (``Batches``: no timer, so a lone order goes at
once), one store transaction and one commit for the lot, each answered only after that commit and as it
would be alone (``IntegrationCore.submit_orders``); under load that shares the commit, the biggest part
of an order's cost on SQLite. Webhooks and returns run one per request, not serialised here: the store's
transactions make concurrent requests safe. A retry that arrives while its first attempt is in flight —
in the same batch, or in the one being committed, which it does not wait for — gets 409 from the core's
claim on the key. Calls that
read or drive the host's runtime take ``host.lock``. Nothing here imports the simulation: the host is a
Protocol.
A host that cannot serve a call right now (``serve --workers``: the process owning the mocks is away)
raises ``HostUnavailable``, answered 503 with Retry-After, as a core that is down is. ``/healthz`` names
the process that answered (``pid``), so a client can tell the workers behind one port apart.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import os
import re
import time
from collections.abc import Awaitable, Callable, Hashable
from contextlib import AbstractContextManager
from typing import Any, Generic, Protocol, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Lifespan

from retailsim.core.adapters.sfcc import field_errors, order_from_scapi
from retailsim.core.api.metrics import ApiMetrics, MetricsMiddleware
from retailsim.core.api.schemas import PaymentIntentRequest, openapi_document
from retailsim.core.api.signing import ALIASES, SIGNATURE_HEADER, verify
from retailsim.core.api.validation import body_errors, identifier_errors
from retailsim.core.errors import InvalidPayload
from retailsim.core.service import ApiReply, IntegrationCore

MAX_BODY_BYTES = 1024 * 1024
MAX_ORDERS_PER_COMMIT = 32
T = TypeVar("T")
R = TypeVar("R")
MAX_ID = 2**63 - 1  # store ids are 64-bit integers
EVENT_ID_HEADERS = ("webhook-id", "x-shopify-webhook-id", "x-shipbob-webhook-id")
TOPIC_HEADERS = ("webhook-topic", "x-shopify-topic", "x-shipbob-topic")
TOPIC_FIELDS = ("description", "type", "topic")
TOPIC_FIELD_OF = {"carrier": "description", "wms": "topic", "payment": "type"}  # EasyPost, ShipBob, Stripe
MAX_IDEMPOTENCY_KEY = 255  # Stripe's limit, and the IETF Idempotency-Key draft's advice
CLIENT_ID_HEADER = "X-Client-Id"
CLIENT_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")
# Keys of different clients never meet: a client's key is stored as "<client id>\x1f<key>", and neither a
# client id nor a key can hold the unit separator (control characters are refused in identifiers).
CLIENT_KEY_SEPARATOR = "\x1f"


class CoreHost(Protocol):
    """What the API needs from whoever runs the core (the live runtime, or a test)."""

    @property
    def lock(self) -> AbstractContextManager[Any]:
        """Serialises calls that touch the host's runtime (its event loop, its mocks)."""

    def core(self) -> IntegrationCore | None:
        """The running core; None while its process is down (a crash fault): the API answers 503."""

    def now(self) -> float:
        """The host's clock, in the core's time base (seconds)."""

    def catalog(self) -> dict[str, Any]: ...

    def webhook_secret(self, source: str) -> str | None:
        """The signing secret of a webhook source; None for an unknown source (404)."""

    def webhook_sources(self) -> tuple[str, ...]: ...

    def orders_received(self, bodies: list[Any]) -> None:
        """Told before ingest: the storefront holds its orders before it exports them to the core."""

    def order_answered(self, body: Any, reply: ApiReply) -> None:
        """Told after every order answer (a storefront mock records what it placed)."""

    def reconciliation(self) -> dict[str, Any]: ...

    def ops_summary(self) -> dict[str, Any] | None:
        """The core's backlog, DLQ, breakers and counters; None while the core is down."""

    def sandbox_payment_intent(self, amount: int, currency: str, order_no: str) -> ApiReply | None:
        """Create an authorised PaymentIntent in a mock gateway; None when the host has no sandbox."""

    def sandbox_ledgers(self, order_no: str) -> dict[str, Any] | None: ...

    def payment_intent(self, intent_id: str) -> dict[str, Any] | None:
        """The gateway's record of a PaymentIntent (amount, currency, metadata); None when unknown or when
        the host cannot look it up (``HostUnavailable`` when it is away)."""


class Batches(Generic[T, R]):
    """Runs ``run`` in the thread pool on what has arrived: requests that come while a batch is running
    wait and go together in the next one, at most ``limit`` at a time. No timer: a request that finds
    nothing running goes at once, so batching adds no latency; under load it shares one commit. ``run``
    answers each item with its result or the exception to raise in that item's request.

    An item whose ``key`` is in the batch that is running, or waiting for the next one, does not join
    it: it runs at once, alone (a retry of a request still in flight must be told so — 409 — not held
    until the first attempt's batch has committed).
    """

    def __init__(
        self, run: Callable[[list[T]], list[R | Exception]], limit: int, key: Callable[[T], Hashable]
    ) -> None:
        self._run = run
        self._limit = limit
        self._key = key
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._waiting_keys: set[Hashable] = set()
        self._running: set[Hashable] = set()
        self._drainer: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        key = self._key(item)
        if key in self._running or key in self._waiting_keys:
            return self._unwrap((await run_in_threadpool(self._run, [item]))[0])
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._waiting.append((item, future))
        self._waiting_keys.add(key)
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
        return await future

    @staticmethod
    def _unwrap(result: R | Exception) -> R:
        if isinstance(result, Exception):
            raise result
        return result

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self._limit], self._waiting[self._limit :]
                self._running = {self._key(item) for item, _ in batch}
                self._waiting_keys -= self._running
                try:
                    results = await run_in_threadpool(self._run, [item for item, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                finally:
                    self._running = set()
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # a client that went away cancelled its wait
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._drainer = None


# What operators and service agents use, behind the bearer token: dead letters and their replay,
# reconciliation, the ops summary, metrics (backlog, DLQ size, breaker states: operational detail a
# scraper can send a token for), an order's timeline and an agent's actions on it (customer data,
# refunds), and the god's-eye ledgers. Storefront (orders, returns, stock, catalog, the sandbox's
# payment intents) and webhook (signed) endpoints keep their own rules; /healthz and /openapi.json are open.
OPS_ROUTES = frozenset(
    {
        "/metrics",
        "/v1/orders/{order_id}",
        "/v1/orders/{order_id}/actions",
        "/v1/ops/summary",
        "/v1/ops/dlq",
        "/v1/ops/dlq/{dlq_id}/replay",
        "/v1/reconciliation",
        "/v1/sandbox/ledgers/{order_no}",
    }
)


class BodyTooLarge(Exception):
    pass


class HostUnavailable(Exception):
    """The host cannot serve this call now (a process it relies on is restarting): 503, retry later."""


def _error(status: int, error: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **extra}, status_code=status)


def _reply(reply: ApiReply) -> JSONResponse:
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers or None)


def _invalid_text(errors: list[dict[str, Any]]) -> JSONResponse:
    return _error(
        422, "invalid_text", "lone surrogates and control characters are not allowed", errors=errors
    )


def is_json(request: Request) -> bool:
    """The body is declared JSON (``application/json`` or an ``application/*+json`` type)."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _unsupported_media() -> JSONResponse:
    return _error(415, "unsupported_media_type", "send the body as Content-Type: application/json")


def bearer_token_matches(request: Request, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time (as bytes: any header text is safe)."""
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode("latin-1", "replace"), token.encode("utf-8"))


def _core_down(detail: str = "the core process is restarting; retry with the same key") -> JSONResponse:
    response = _error(503, "core_unavailable", detail)
    response.headers["Retry-After"] = "5"
    return response


def _finite_float(text: str) -> float | int:
    """A JSON number with a fraction or exponent: finite, and an integer when it is one (``2.0`` → 2), as
    JSON Schema reads it — JSON has one number type, and strict validation must not refuse ``2.0`` for an
    integer field (floats fields take integers)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:40]}")
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> Any:
    """Strict JSON: no NaN/Infinity, no number that overflows a float. Raises ValueError."""
    try:
        return json.loads(raw, parse_float=_finite_float, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refusing (before buffering it) anything larger than ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> JSONResponse:
    return _error(413, "body_too_large", f"request bodies are limited to {MAX_BODY_BYTES} bytes")


def create_app(
    host: CoreHost,
    *,
    ops_token: str,
    title: str = "retailsim integration core",
    lifespan: Lifespan[Starlette] | None = None,
) -> Starlette:
    """The Starlette app for ``host``; each app has its own Prometheus registry. ``ops_token``: the bearer
    token of the operations endpoints (``OPS_ROUTES``). ``lifespan``: the host's start-up and shut-down
    (e.g. flushing what it still owes another process), run by the ASGI server."""
    if not ops_token:
        raise ValueError("the operations endpoints need a token")

    def read_core_state() -> dict[str, Any] | None:
        try:
            return host.ops_summary()
        except HostUnavailable:
            return None

    metrics = ApiMetrics(read_core_state)
    schema = openapi_document(title, host.webhook_sources())
    pid = os.getpid()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "pid": pid})

    async def openapi(request: Request) -> Response:
        return JSONResponse(schema)

    async def prometheus(request: Request) -> Response:
        payload = await run_in_threadpool(generate_latest, metrics.registry)
        return Response(payload, media_type=CONTENT_TYPE_LATEST)

    async def catalog(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(host.catalog))

    def run_orders(orders: list[tuple[Any, str]]) -> list[Response | Exception]:
        core = host.core()
        if core is None:
            return [_core_down() for _ in orders]
        host.orders_received([body for body, _ in orders])
        now = host.now()
        outcomes = core.submit_orders([(body, key, now) for body, key in orders])
        answers: list[Response | Exception] = []
        for (body, _), outcome in zip(orders, outcomes, strict=True):
            if isinstance(outcome, Exception):
                answers.append(outcome)
                continue
            host.order_answered(body, outcome)
            answers.append(_reply(outcome))
        return answers

    order_batches: Batches[tuple[Any, str], Response] = Batches(
        run_orders, MAX_ORDERS_PER_COMMIT, key=lambda order: order[1]
    )

    async def keyed_json(request: Request) -> tuple[str, Any] | Response:
        """Idempotency-Key (scoped to the client, when one says who it is) and JSON body of a keyed POST,
        or the refusal: 415 not JSON, 413, 400 without a key or with one over 255 characters, 422."""
        if not is_json(request):
            return _unsupported_media()
        try:
            raw = await read_body(request)
        except BodyTooLarge:
            return _too_large()
        key = request.headers.get("idempotency-key")
        if not key:
            return _error(400, "missing_idempotency_key", "Idempotency-Key header is required")
        if len(key) > MAX_IDEMPOTENCY_KEY:
            return _error(
                400,
                "idempotency_key_too_long",
                f"Idempotency-Key is limited to {MAX_IDEMPOTENCY_KEY} characters (got {len(key)})",
            )
        errors = identifier_errors(key, ["header", "Idempotency-Key"])
        client = request.headers.get(CLIENT_ID_HEADER)
        if client is not None and not CLIENT_ID.fullmatch(client):
            errors.append(
                {
                    "loc": ["header", CLIENT_ID_HEADER],
                    "msg": "1 to 64 characters from A-Z a-z 0-9 . _ -",
                    "type": "string_pattern_mismatch",
                }
            )
        if errors:
            return _invalid_text(errors)
        try:
            body = parse_json(raw)
        except ValueError as exc:
            return _error(
                422,
                "invalid_json",
                str(exc),
                errors=[{"loc": ["body"], "msg": str(exc), "type": "json_invalid"}],
            )
        errors = body_errors(body)
        if errors:
            return _invalid_text(errors)
        return (key if client is None else f"{client}{CLIENT_KEY_SEPARATOR}{key}"), body

    async def submit_order(request: Request) -> Response:
        read = await keyed_json(request)
        if isinstance(read, Response):
            return read
        key, body = read
        mismatch = await run_in_threadpool(payment_mismatch, body)
        if mismatch is not None:
            return mismatch
        return await order_batches((body, key))

    def payment_mismatch(body: Any) -> Response | None:
        """422 when the order's PaymentIntent, as the gateway holds it, was made for another order
        number, amount or currency; None when it matches, or cannot be looked up now (the core's
        verification of the authorisation judges the order then)."""
        try:
            order = order_from_scapi(body)
        except InvalidPayload:
            return None  # the core refuses it, with its field errors
        if order.payment is None:
            return None
        try:
            intent = host.payment_intent(order.payment.reference)
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
        return _error(
            422,
            "payment_mismatch",
            "the PaymentIntent was authorised for another order or amount; nothing was changed",
            errors=errors,
        )

    async def receive_webhook(request: Request) -> Response:
        source = request.path_params["source"]
        secret = host.webhook_secret(source)
        if secret is None:
            return _error(404, "unknown_source", f"no webhook source {source!r}")
        if not is_json(request):
            return _unsupported_media()
        try:
            raw = await read_body(request)
        except BodyTooLarge:
            return _too_large()
        header = request.headers.get(SIGNATURE_HEADER) or next(
            (request.headers[a] for a in ALIASES if a in request.headers), None
        )
        # An id sent in a header is part of what is signed ("{id}.{t}.{body}"): it cannot be swapped.
        id_header = next((request.headers[h] for h in EVENT_ID_HEADERS if h in request.headers), None)
        # Signature timestamps are Unix time as the sender's clock reads it, whatever the core's time base.
        refused = verify(secret, header, raw, time.time(), event_id=id_header)
        if refused is not None:
            return _error(401, "invalid_signature", refused)
        try:
            body = parse_json(raw)
        except ValueError as exc:
            return _error(400, "invalid_json", str(exc))
        errors = body_errors(body)
        if id_header is not None:
            errors = identifier_errors(id_header, ["header", "webhook-id"]) + errors
        if errors:
            return _invalid_text(errors)
        fields = body if isinstance(body, dict) else {}
        body_id = fields.get("id") if isinstance(fields.get("id"), str) else None
        if body_id and id_header is not None and body_id != id_header:
            return _error(400, "event_id_mismatch", "the webhook-id header and the body's id differ")
        event_id = body_id or id_header
        if not event_id:
            return _error(400, "missing_event_id", "the event needs an id (body 'id' or header webhook-id)")
        own = TOPIC_FIELD_OF.get(source)
        if own in fields and not isinstance(fields[own], str):
            return _error(400, "invalid_payload", f"the event's {own!r} must be a string")
        # The topic is read from the signed body only; a topic header that says otherwise is a relabel.
        topic = next((str(fields[k]) for k in TOPIC_FIELDS if isinstance(fields.get(k), str)), "")
        label = next((request.headers[h] for h in TOPIC_HEADERS if h in request.headers), None)
        if label is not None and label != topic:
            return _error(
                401, "invalid_signature", "the topic header is not signed and differs from the signed body's"
            )

        def run() -> Response:
            core = host.core()
            if core is None:
                return _core_down()
            return _reply(core.receive_webhook(source, event_id, topic, body, host.now()))

        return await run_in_threadpool(run)

    async def request_return(request: Request) -> Response:
        read = await keyed_json(request)
        if isinstance(read, Response):
            return read
        key, body = read

        def run() -> Response:
            core = host.core()
            if core is None:
                return _core_down()
            return _reply(core.request_return(body, key, host.now()))

        return await run_in_threadpool(run)

    async def agent_action(request: Request) -> Response:
        order_id = request.path_params["order_id"]
        read = await keyed_json(request)
        if isinstance(read, Response):
            return read
        key, body = read

        def run() -> Response:
            core = host.core()
            if core is None:
                return _core_down()
            return _reply(core.agent_action(order_id, body, key, host.now()))

        return await run_in_threadpool(run)

    async def order_timeline(request: Request) -> Response:
        order_id = request.path_params["order_id"]

        def run() -> Response:
            core = host.core()
            if core is None:
                return _core_down()
            timeline = core.order_timeline(order_id)
            if timeline is None:
                return _error(404, "order_not_found", f"no order {order_id!r}")
            return JSONResponse(timeline)

        return await run_in_threadpool(run)

    async def inventory(request: Request) -> Response:
        sku = request.path_params["sku"]

        def run() -> Response:
            core = host.core()
            if core is None:
                return _core_down()
            positions = core.available_to_promise(sku)
            if not positions:
                return _error(404, "sku_not_found", f"no stock position for {sku!r}")
            return JSONResponse({"sku": sku, "available_to_promise": positions})

        return await run_in_threadpool(run)

    async def ops_summary(request: Request) -> Response:
        summary = await run_in_threadpool(read_core_state)
        if summary is None:
            return JSONResponse({"core_up": False, "outbox": {}, "dlq": {}, "breakers": {}, "counters": {}})
        return JSONResponse({"core_up": True, **summary})

    async def dead_letters(request: Request) -> Response:
        def run() -> Response:
            core = host.core()
            if core is None:
                return _core_down()
            return JSONResponse(
                {
                    "dead_letters": [
                        {
                            "dlq_id": d.dlq_id,
                            "destination": d.destination,
                            "kind": d.kind,
                            "aggregate_id": d.aggregate_id,
                            "correlation_id": d.correlation_id,
                            "reason": d.reason,
                            "attempts": d.attempts,
                            "status": d.status,
                        }
                        for d in core.store.dead_letters()
                    ]
                }
            )

        return await run_in_threadpool(run)

    async def replay_dead_letter(request: Request) -> Response:
        try:
            dlq_id = int(request.path_params["dlq_id"])
        except ValueError:
            dlq_id = -1
        if not 0 <= dlq_id <= MAX_ID:
            return _error(404, "dead_letter_not_found", "dead letter ids are integers from 0 to 2**63-1")

        def run() -> Response:
            with host.lock:
                core = host.core()
                if core is None:
                    return _core_down()
                replayed = core.replay_dead_letter(dlq_id, host.now())
            if not replayed:
                return _error(404, "dead_letter_not_found", f"no dead letter {dlq_id} waiting for replay")
            return JSONResponse({"dlq_id": dlq_id, "replayed": True})

        return await run_in_threadpool(run)

    async def reconciliation(request: Request) -> Response:
        def run() -> Response:
            if host.core() is None:
                return _core_down()
            return JSONResponse(host.reconciliation())

        return await run_in_threadpool(run)

    async def sandbox_intent(request: Request) -> Response:
        if not is_json(request):
            return _unsupported_media()
        try:
            raw = await read_body(request)
        except BodyTooLarge:
            return _too_large()
        try:
            parsed = parse_json(raw)
            errors = body_errors(parsed)
            if errors:
                return _invalid_text(errors)
            wanted = PaymentIntentRequest.model_validate(parsed)
        except ValueError as exc:
            errors = (
                field_errors(exc)
                if isinstance(exc, ValidationError)
                else [{"loc": ["body"], "msg": str(exc)}]
            )
            return _error(422, "invalid_request", "invalid payment intent request", errors=errors)
        reply = await run_in_threadpool(
            host.sandbox_payment_intent, wanted.amount, wanted.currency.lower(), wanted.order_no
        )
        if reply is None:
            return _error(404, "no_sandbox", "this host has no payment sandbox")
        if reply.status >= 400:  # the gateway's refusal, in this API's error shape
            held = reply.body.get("error")
            error: dict[str, Any] = held if isinstance(held, dict) else {}
            # Stripe's 400 for a key reused with other parameters is a conflict with an earlier intent.
            status = 409 if error.get("type") == "idempotency_error" else reply.status
            status = status if status in (400, 402, 404, 409) else 400
            return _error(status, "gateway_refused", str(error.get("message", "the gateway refused")))
        return _reply(reply)

    async def sandbox_ledgers(request: Request) -> Response:
        ledgers = await run_in_threadpool(host.sandbox_ledgers, request.path_params["order_no"])
        if ledgers is None:
            return _error(404, "no_sandbox", "this host has no sandbox ledgers")
        return JSONResponse(ledgers)

    async def host_unavailable(request: Request, exc: Exception) -> Response:
        return _core_down(f"{exc}; retry (orders: with the same key)")

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        response = _error(status, "http_error", str(detail))
        if isinstance(exc, HTTPException) and exc.headers:
            response.headers.update(exc.headers)
        return response

    Handler = Callable[[Request], Awaitable[Response]]

    def checked(handler: Handler, path: str) -> Handler:
        """Path parameters through the text check, and the operations routes behind the bearer token."""
        guarded = path in OPS_ROUTES

        async def run(request: Request) -> Response:
            if guarded and not bearer_token_matches(request, ops_token):
                response = _error(
                    401, "unauthorized", "operations endpoints need Authorization: Bearer <ops token>"
                )
                response.headers["WWW-Authenticate"] = 'Bearer realm="retailsim-ops"'
                return response
            errors = [
                error
                for name, value in request.path_params.items()
                for error in identifier_errors(str(value), ["path", name])
            ]
            if errors:
                return _invalid_text(errors)
            return await handler(request)

        return run

    table: list[tuple[str, Handler, list[str]]] = [
        ("/healthz", healthz, ["GET"]),
        ("/openapi.json", openapi, ["GET"]),
        ("/metrics", prometheus, ["GET"]),
        ("/v1/catalog", catalog, ["GET"]),
        ("/v1/orders", submit_order, ["POST"]),
        ("/v1/orders/{order_id}", order_timeline, ["GET"]),
        ("/v1/orders/{order_id}/actions", agent_action, ["POST"]),
        ("/v1/returns", request_return, ["POST"]),
        ("/v1/inventory/{sku}", inventory, ["GET"]),
        ("/v1/webhooks/{source}", receive_webhook, ["POST"]),
        ("/v1/ops/summary", ops_summary, ["GET"]),
        ("/v1/ops/dlq", dead_letters, ["GET"]),
        ("/v1/ops/dlq/{dlq_id}/replay", replay_dead_letter, ["POST"]),
        ("/v1/reconciliation", reconciliation, ["GET"]),
        ("/v1/sandbox/payment_intents", sandbox_intent, ["POST"]),
        ("/v1/sandbox/ledgers/{order_no}", sandbox_ledgers, ["GET"]),
    ]
    app = Starlette(
        routes=[Route(path, checked(handler, path), methods=methods) for path, handler, methods in table],
        exception_handlers={HTTPException: http_error, HostUnavailable: host_unavailable},
        lifespan=lifespan,
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.state.metrics = metrics
    return app
