"""Webhooks: ``POST /v1/webhooks/{source}``, signed events from the carrier (EasyPost), the WMS (ShipBob)
and the payment gateway (Stripe).

Rules kept: HMAC-SHA256 over the raw body (see ``signing``), 300 s tolerance, judged against Unix time
(``time.time()``: the sender's clock, whatever the core's time base): bad → 401 and no effect; a duplicate
event id → 200 and no effect. An id sent in a header is signed with the body (it cannot be swapped); the
topic is read from the signed body only (a topic header that differs → 401). Unknown source → 404.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from retailsim.core.api import edge
from retailsim.core.api.edge import Api, Endpoint, Refused
from retailsim.core.api.signing import ALIASES, SIGNATURE_HEADER, verify
from retailsim.core.api.validation import body_errors, identifier_errors

EVENT_ID_HEADERS = ("webhook-id", "x-shopify-webhook-id", "x-shipbob-webhook-id")
TOPIC_HEADERS = ("webhook-topic", "x-shopify-topic", "x-shipbob-topic")
TOPIC_FIELDS = ("description", "type", "topic")
TOPIC_FIELD_OF = {"carrier": "description", "wms": "topic", "payment": "type"}  # EasyPost, ShipBob, Stripe


def endpoints(api: Api) -> list[Endpoint]:
    async def receive_webhook(request: Request) -> Response:
        source = request.path_params["source"]
        secret = api.host.webhook_secret(source)
        if secret is None:
            raise Refused(404, "unknown_source", f"no webhook source {source!r}")
        raw = await edge.read_json_body(request)
        header = request.headers.get(SIGNATURE_HEADER) or next(
            (request.headers[a] for a in ALIASES if a in request.headers), None
        )
        id_header = next((request.headers[h] for h in EVENT_ID_HEADERS if h in request.headers), None)
        refused = verify(secret, header, raw, time.time(), event_id=id_header)
        if refused is not None:
            raise Refused(401, "invalid_signature", refused)
        try:
            body = edge.parse_json(raw)
        except ValueError as exc:
            raise Refused(400, "invalid_json", str(exc)) from exc
        errors = body_errors(body)
        if id_header is not None:
            errors = identifier_errors(id_header, ["header", "webhook-id"]) + errors
        if errors:
            raise edge.invalid_text(errors)
        fields = body if isinstance(body, dict) else {}
        body_id = fields.get("id") if isinstance(fields.get("id"), str) else None
        if body_id and id_header is not None and body_id != id_header:
            raise Refused(400, "event_id_mismatch", "the webhook-id header and the body's id differ")
        event_id = body_id or id_header
        if not event_id:
            raise Refused(400, "missing_event_id", "the event needs an id (body 'id' or header webhook-id)")
        own = TOPIC_FIELD_OF.get(source)
        if own in fields and not isinstance(fields[own], str):
            raise Refused(400, "invalid_payload", f"the event's {own!r} must be a string")
        topic = next((str(fields[k]) for k in TOPIC_FIELDS if isinstance(fields.get(k), str)), "")
        label = next((request.headers[h] for h in TOPIC_HEADERS if h in request.headers), None)
        if label is not None and label != topic:
            raise Refused(
                401, "invalid_signature", "the topic header is not signed and differs from the signed body's"
            )
        return await api.with_core(
            lambda core: edge.reply_response(
                core.receive_webhook(source, event_id, topic, body, api.host.now())
            )
        )

    return [Endpoint("/v1/webhooks/{source}", receive_webhook, ("POST",))]
