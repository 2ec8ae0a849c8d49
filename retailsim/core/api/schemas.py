"""Request and response models of the HTTP API, and the OpenAPI document built from them.

The request models are the ones the API validates with (the order body is the core's own SCAPI model),
so the published schema cannot drift from what the server accepts; response models describe every
status an operation can answer, which is what lets schemathesis fuzz the API against the document.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from retailsim.core.adapters.sfcc import ScapiOrder
from retailsim.core.models import Return
from retailsim.core.service.service_desk import AgentAction

REF = "#/components/schemas/{model}"
# An identifier (header, path parameter) holds no control character and no lone surrogate, and does not
# start or end with white space (HTTP strips it from a header value: the server never sees it).
IDENTIFIER_PATTERN = "^[^\\s\\x00-\\x1f\\x7f-\\x9f]([^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f])?$"
TEXT_PATTERN = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    error: str
    detail: str = ""
    errors: list[dict[str, Any]] = []


class OrderReply(BaseModel):
    model_config = ConfigDict(extra="allow")

    order_id: str
    correlation_id: str
    status: str
    duplicate: bool = False
    reason: str | None = None


class WebhookReply(BaseModel):
    """What the core did with the event: ``processed`` (applied), ``duplicate`` (its id was in the inbox:
    applied before), ``stale`` (older than what the core holds) or ``ignored`` (it moves nothing), and why."""

    model_config = ConfigDict(extra="allow")

    status: str
    event_id: str
    reason: str | None = None


class TimelineEntry(BaseModel):
    at: float
    status: str
    event: str
    source: str = "order"  # order | fulfilment | return <no> | case <number>


class OrderTimeline(BaseModel):
    """The service agent's view: every system's record of the order the core knows, in one timeline."""

    model_config = ConfigDict(extra="allow")

    order_id: str
    correlation_id: str
    status: str
    lines: list[dict[str, Any]]
    payment: dict[str, Any]
    erp: dict[str, Any]
    wms: dict[str, Any]
    carrier: dict[str, Any]
    fulfilment: dict[str, Any]
    replacement: dict[str, Any]
    returns: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    timeline: list[TimelineEntry]


class ReturnReply(BaseModel):
    """The return as opened: ``status`` is ``rejected`` (with the reason on the timeline) or under way."""

    model_config = ConfigDict(extra="allow")

    return_id: str
    order_id: str
    correlation_id: str
    status: str


class ActionReply(BaseModel):
    """What the action did: a replacement order or a return; ``duplicate`` when an earlier one stands."""

    model_config = ConfigDict(extra="allow")

    order_id: str
    status: str
    replacement_order: str | None = None
    return_id: str | None = None
    duplicate: bool = False


class Inventory(BaseModel):
    sku: str
    available_to_promise: dict[str, int]


class OpsSummary(BaseModel):
    model_config = ConfigDict(extra="allow")

    core_up: bool
    outbox: dict[str, Any]
    dlq: dict[str, Any]
    breakers: dict[str, str]
    counters: dict[str, int]


class LiveView(BaseModel):
    """What the host sees around the core: per system the recent calls' latency percentiles (seconds) and
    every call's outcome by error class; token buckets and breakers; status moves per workflow; the business
    counts; the scenario's fault windows on the host's clock (``now``, seconds)."""

    model_config = ConfigDict(extra="allow")

    core_up: bool
    now: float
    speed: float
    systems: dict[str, Any]
    buckets: dict[str, Any]
    breakers: dict[str, Any]
    workflows: dict[str, dict[str, int]]
    business: dict[str, int]
    faults: list[dict[str, Any]]


class DeadLetterView(BaseModel):
    dlq_id: int
    destination: str
    kind: str
    aggregate_id: str
    correlation_id: str
    reason: str
    attempts: int
    status: str


class DeadLetterList(BaseModel):
    dead_letters: list[DeadLetterView]


class ReplayReply(BaseModel):
    dlq_id: int
    replayed: bool


class Reconciliation(BaseModel):
    model_config = ConfigDict(extra="allow")

    clean: bool
    checked: int
    drift: list[str]
    in_progress: dict[str, Any]


class Catalog(BaseModel):
    model_config = ConfigDict(extra="allow")

    scenario: str
    site_id: str
    currency: str
    products: list[dict[str, Any]]
    stores: list[str]


class PaymentIntentRequest(BaseModel):
    """A sandbox PaymentIntent (Stripe test mode): authorised, manual capture."""

    model_config = ConfigDict(extra="forbid")

    amount: int = Field(ge=50, le=100_000_000, description="minor units (cents)")
    currency: str = Field("usd", min_length=3, max_length=3, pattern="^[a-zA-Z]{3}$")
    order_no: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")


class PaymentIntent(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    status: str
    amount: int


class Health(BaseModel):
    status: str
    pid: int = Field(description="the process that answered (one of the workers behind the port)")


def _json(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF)
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}}


def _responses(
    components: dict[str, Any], ok: dict[int, type[BaseModel]], errors: tuple[int, ...]
) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for status, model in ok.items():
        answers[str(status)] = {
            "description": model.__doc__ or model.__name__,
            "content": _json(model, components),
        }
    for status in errors:
        answers[str(status)] = {"description": _REASONS[status], "content": _json(ErrorBody, components)}
    return answers


_REASONS = {
    402: "the mock gateway declined the card",
    400: "missing Idempotency-Key or one over 255 characters, unreadable webhook body or event id",
    401: "webhook signature missing, wrong or outside the time tolerance (it covers the event id and "
    "topic); or, on operations endpoints, no valid bearer token",
    404: "no such resource",
    405: "method not allowed",
    409: "a request with this Idempotency-Key is in flight, the webhook refers to something not yet known, "
    "a sandbox intent for this order number exists with other parameters, "
    "or the action is not allowed in the order's state (the reason is in the body; nothing changed)",
    413: "body larger than 1 MiB",
    415: "the body is not Content-Type: application/json",
    422: "invalid body (field errors; a lone surrogate or control character in any string, with its path), "
    "an Idempotency-Key reused with another body, or a PaymentIntent made for another order or amount",
    503: "the core process is down (restarting), or the store had no connection free in time; retry with the "
    "same key",
}


def _param(name: str, where: str, schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "schema": schema}


def openapi_document(
    title: str = "retailsim integration core", sources: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The OpenAPI 3.1 document served at ``/openapi.json``."""
    c: dict[str, Any] = {}
    identifier = {"type": "string", "minLength": 1, "pattern": IDENTIFIER_PATTERN}
    key = _param("Idempotency-Key", "header", {**identifier, "maxLength": 255})
    client = _param(
        "X-Client-Id",
        "header",
        {"type": "string", "pattern": r"^[A-Za-z0-9._\-]{1,64}$"},
        required=False,
    )
    client["description"] = "who sends the request: Idempotency-Keys are scoped per client when given"
    ops: list[dict[str, list[str]]] = [{"opsToken": []}]
    text = {"text/plain": {"schema": {"type": "string"}}}
    paths: dict[str, Any] = {
        "/healthz": {"get": {"operationId": "healthz", "responses": _responses(c, {200: Health}, ())}},
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "security": ops,
                "responses": {
                    "200": {"description": "Prometheus text", "content": text},
                    **_responses(c, {}, (401,)),
                },
            }
        },
        "/v1/catalog": {"get": {"operationId": "catalog", "responses": _responses(c, {200: Catalog}, ())}},
        "/v1/orders": {
            "post": {
                "operationId": "submitOrder",
                "summary": "A storefront order (SCAPI JSON). 202 means committed: it survives kill -9.",
                "parameters": [key, client],
                "requestBody": {"required": True, "content": _json(ScapiOrder, c)},
                "responses": _responses(
                    c, {200: OrderReply, 202: OrderReply}, (400, 409, 413, 415, 422, 503)
                ),
            }
        },
        "/v1/orders/{order_id}": {
            "get": {
                "operationId": "orderTimeline",
                "summary": "The service agent's timeline: order, payment, ERP, WMS, carrier, pickup, returns, actions.",
                "security": ops,
                "parameters": [_param("order_id", "path", identifier)],
                "responses": _responses(c, {200: OrderTimeline}, (401, 404, 422, 503)),
            }
        },
        "/v1/orders/{order_id}/actions": {
            "post": {
                "operationId": "agentAction",
                "summary": "A service agent's action: reship or refund a failed delivery, or take the order back.",
                "security": ops,
                "parameters": [_param("order_id", "path", identifier), key, client],
                "requestBody": {"required": True, "content": _json(AgentAction, c)},
                "responses": _responses(
                    c, {200: ActionReply, 202: ActionReply}, (400, 401, 404, 409, 413, 415, 422, 503)
                ),
            }
        },
        "/v1/returns": {
            "post": {
                "operationId": "requestReturn",
                "summary": "A return request (store, service agent or storefront); the order API's idempotency rules.",
                "parameters": [key, client],
                "requestBody": {"required": True, "content": _json(Return, c)},
                "responses": _responses(c, {202: ReturnReply}, (400, 404, 409, 413, 415, 422, 503)),
            }
        },
        "/v1/inventory/{sku}": {
            "get": {
                "operationId": "inventory",
                "parameters": [_param("sku", "path", identifier)],
                "responses": _responses(c, {200: Inventory}, (404, 422, 503)),
            }
        },
        "/v1/ops/summary": {
            "get": {
                "operationId": "opsSummary",
                "security": ops,
                "responses": _responses(c, {200: OpsSummary}, (401,)),
            }
        },
        "/v1/ops/live": {
            "get": {
                "operationId": "opsLive",
                "security": ops,
                "responses": _responses(c, {200: LiveView}, (401, 404)),
            }
        },
        "/v1/ops/dlq": {
            "get": {
                "operationId": "deadLetters",
                "security": ops,
                "responses": _responses(c, {200: DeadLetterList}, (401, 503)),
            }
        },
        "/v1/ops/dlq/{dlq_id}/replay": {
            "post": {
                "operationId": "replayDeadLetter",
                "security": ops,
                "parameters": [
                    _param("dlq_id", "path", {"type": "integer", "minimum": 0, "maximum": 2**63 - 1})
                ],
                "responses": _responses(c, {200: ReplayReply}, (401, 404, 422, 503)),
            }
        },
        "/v1/reconciliation": {
            "get": {
                "operationId": "reconciliation",
                "security": ops,
                "responses": _responses(c, {200: Reconciliation}, (401, 503)),
            }
        },
        "/v1/sandbox/payment_intents": {
            "post": {
                "operationId": "sandboxPaymentIntent",
                "summary": "Test double: create an authorised PaymentIntent in the mock gateway (Stripe test mode).",
                "requestBody": {"required": True, "content": _json(PaymentIntentRequest, c)},
                "responses": _responses(c, {200: PaymentIntent}, (400, 402, 404, 409, 413, 415, 422, 503)),
            }
        },
        "/v1/sandbox/ledgers/{order_no}": {
            "get": {
                "operationId": "sandboxLedgers",
                "summary": "Test double: what each mock system holds for an order (the simulation's god's-eye view).",
                "security": ops,
                "parameters": [_param("order_no", "path", identifier)],
                "responses": {
                    "200": {
                        "description": "ledgers",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **_responses(c, {}, (401, 404, 422, 503)),
                },
            }
        },
    }
    for source in sources or ("carrier", "wms", "payment"):
        paths[f"/v1/webhooks/{source}"] = _webhook_operation(source, c, identifier)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1"},
        "paths": paths,
        "components": {
            "schemas": {
                **{name: _plain_text(schema) for name, schema in c.items()},
                PLAIN_JSON: plain_json_schema(),
            },
            "securitySchemes": {
                "opsToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the operations token: RETAILSIM_OPS_TOKEN, or the one `serve` prints",
                }
            },
        },
    }


_SIGNING = (
    "Signed: Webhook-Signature: t=<unix>,v1=<hex HMAC-SHA256 of '{t}.{raw body}'>, or of "
    "'{webhook-id}.{t}.{raw body}' when the event id travels in the webhook-id header (Standard Webhooks' "
    "id.timestamp.body). The topic is read from the signed body only; a topic header that differs is 401."
)
# What each source's events must carry for the core to read them (the rest is the product's own).
_EVENTS: dict[str, tuple[str, dict[str, Any], bool]] = {
    "payment": (
        "StripeEvent",
        {
            "type": "object",
            "required": ["id"],
            "properties": {"id": {"type": "string", "minLength": 1}, "type": {"type": "string"}},
        },
        False,
    ),
    "carrier": (
        "EasyPostEvent",
        {
            "type": "object",
            "required": ["id", "result"],
            "properties": {
                "id": {"type": "string", "minLength": 1},
                "description": {"type": "string"},
                "result": {
                    "type": "object",
                    "required": ["tracking_code", "status"],
                    "properties": {
                        "tracking_code": {"type": "string", "minLength": 1},
                        "status": {"type": "string", "minLength": 1},
                    },
                },
            },
        },
        False,
    ),
    "wms": (
        "ShipBobEvent",
        {
            "type": "object",
            "required": ["reference_id", "order_id", "event_time"],
            "properties": {
                "id": False,  # ShipBob's id travels in the webhook-id header
                # order.shipped, order.shipment.on_hold move an order; other topics are acknowledged.
                "topic": {"type": "string"},
                "reference_id": {"type": "string", "minLength": 1},
                "order_id": {"type": "integer"},
                "event_time": {"type": "string"},
                "tracking": {
                    "anyOf": [
                        {"type": "null"},
                        {
                            "type": "object",
                            "properties": {
                                "tracking_id": {"type": "string"},
                                "carrier": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                            },
                        },
                    ]
                },
            },
            "if": {"properties": {"topic": {"const": "order.shipped"}}, "required": ["topic"]},
            "then": {
                "required": ["tracking"],
                "properties": {
                    "tracking": {
                        "type": "object",
                        "required": ["tracking_id"],
                        "properties": {"tracking_id": {"type": "string", "minLength": 1}},
                    }
                },
            },
        },
        True,
    ),
}


def _webhook_operation(source: str, c: dict[str, Any], identifier: dict[str, Any]) -> dict[str, Any]:
    """One operation per source, so that each documents the events it takes (the server's route is
    ``/v1/webhooks/{source}``)."""
    name, schema, id_in_header = _EVENTS.get(source, ("WebhookEvent", {"type": "object"}, False))
    c[name] = schema
    parameters = [_param("Webhook-Signature", "header", {"type": "string"})]
    if id_in_header:
        parameters.append(_param("webhook-id", "header", identifier))
    return {
        "post": {
            "operationId": f"receive{source.title()}Event",
            "summary": f"A {source} event. {_SIGNING}",
            "parameters": parameters,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": REF.format(model=name)}}},
            },
            "responses": _responses(c, {200: WebhookReply}, (400, 401, 409, 413, 415, 422, 503)),
        }
    }


PLAIN_JSON = "PlainJson"
_SCHEMA_MAPS = ("properties", "$defs", "patternProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains")


def plain_json_schema() -> dict[str, Any]:
    """Any JSON value whose strings (and keys) are plain text: what a free-form part of a body may hold."""
    ref = {"$ref": REF.format(model=PLAIN_JSON)}
    return {
        "anyOf": [
            {"type": "string", "pattern": TEXT_PATTERN},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "null"},
            {"type": "array", "items": ref},
            {"type": "object", "propertyNames": {"pattern": TEXT_PATTERN}, "additionalProperties": ref},
        ]
    }


def _plain_text(schema: Any) -> Any:
    """Every string of a body carries ``TEXT_PATTERN``, every object's keys too, and free-form parts
    (``Any``, extra properties) are ``PlainJson``: the document says what ``api.validation`` refuses (a
    lone surrogate or a control character other than tab, LF, CR)."""
    if not isinstance(schema, dict):
        return schema  # True/False schemas
    if schema == {}:
        return {"$ref": REF.format(model=PLAIN_JSON)}
    out: dict[str, Any] = {}
    for keyword, value in schema.items():
        if keyword in _SCHEMA_MAPS and isinstance(value, dict):
            out[keyword] = {name: _plain_text(sub) for name, sub in value.items()}
        elif keyword in _SCHEMA_LISTS and isinstance(value, list):
            out[keyword] = [_plain_text(sub) for sub in value]
        elif keyword in _SCHEMA_ONE:
            out[keyword] = _plain_text(value)
        else:
            out[keyword] = value
    if out.get("type") == "string" and "pattern" not in out and "enum" not in out and "const" not in out:
        out["pattern"] = TEXT_PATTERN
    if out.get("type") == "object":
        out.setdefault("propertyNames", {"pattern": TEXT_PATTERN})
        if out.get("additionalProperties", True) is True:
            out["additionalProperties"] = {"$ref": REF.format(model=PLAIN_JSON)}
    if out.get("type") == "array" and "items" not in out:
        out["items"] = {"$ref": REF.format(model=PLAIN_JSON)}
    return out
