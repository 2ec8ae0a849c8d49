"""Schemathesis hooks for fuzzing a live server from the command line (``SCHEMATHESIS_HOOKS``): webhook
cases are signed with ``RETAILSIM_WEBHOOK_SECRET`` over the exact bytes ``requests`` will send, so the
fuzzer reaches the API's parsing instead of stopping at 401. A case without a ``Webhook-Signature``
header (the fuzzer testing a missing header, or ``ignored_auth`` removing it) stays unsigned. A valid
Idempotency-Key is made unique per case: the fuzzer repeats short values ("0"), and the same key with
another body is rightly 422, which the fuzzer would take for a valid request refused; so is a webhook's
event id (a seen id is a duplicate: 200, whatever the body). An order's
``orderTotal`` (and its payment's amount) is made to add up, as a storefront computes it: a rule between
fields that JSON Schema cannot state (a total that does not add up is 422, tested in test_hardening).

    SCHEMATHESIS_HOOKS=tests.live.schemathesis_hooks schemathesis --config-file tests/live/schemathesis.toml \\
        run http://127.0.0.1:8080/openapi.json --checks all --max-time 180
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import uuid
from typing import Any

import schemathesis

from retailsim.core.api import sign
from retailsim.core.api.schemas import IDENTIFIER_PATTERN

WEBHOOKS = "/v1/webhooks/"
VALID_KEY = re.compile(IDENTIFIER_PATTERN)


def signed_headers(case: Any, secret: str) -> dict[str, Any] | None:
    """The case's headers with a valid signature over the body ``requests`` sends (``json=`` → the
    standard library's ``json.dumps``); None when there is nothing to sign."""
    headers = dict(case.headers or {})
    if not case.operation.path.startswith(WEBHOOKS) or "Webhook-Signature" not in headers:
        return None
    if isinstance(case.body, bytes):
        raw = case.body
    else:
        try:
            raw = json.dumps(case.body, allow_nan=False).encode()
        except (TypeError, ValueError):
            return None
    event_id = headers.get("webhook-id")
    headers["Webhook-Signature"] = sign(
        secret, raw, int(time.time()), None if event_id is None else str(event_id)
    )
    return headers


def _number(value: Any) -> bool:
    """A finite JSON number (the generator also draws huge floats whose cents overflow to infinity)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value) * 100)
    except OverflowError:  # an int too large for a float
        return False


def consistent_totals(case: Any) -> None:
    """Set an order's total to what its lines, shipping and tax add up to, when they are all numbers."""
    body = case.body
    if case.operation.path != "/v1/orders" or not isinstance(body, dict):
        return
    items = body.get("productItems")
    if not isinstance(items, list) or not all(isinstance(i, dict) and _number(i.get("price")) for i in items):
        return
    extras = [body.get("shippingTotal", 0.0), body.get("taxTotal", 0.0)]
    if not all(_number(x) for x in extras) or not _number(body.get("orderTotal")):
        return
    cents = sum(round(float(i["price"]) * 100) for i in items) + sum(round(float(x) * 100) for x in extras)
    # Over the schema's maximum when the parts are: then the case is schema-invalid, and refused as such.
    updated = {**body, "orderTotal": cents / 100}
    instruments = body.get("paymentInstruments")
    if isinstance(instruments, list) and instruments:
        first = instruments[0]
        if isinstance(first, dict) and _number(first.get("amount")):
            updated["paymentInstruments"] = [{**first, "amount": cents / 100}, *instruments[1:]]
    case.body = updated


def fresh_key(case: Any) -> None:
    """A unique Idempotency-Key in place of a valid one (an invalid one is kept: it is the test)."""
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and len(key) <= 255 and VALID_KEY.fullmatch(key):
        case.headers = {**case.headers, "Idempotency-Key": f"fuzz-{uuid.uuid4().hex}"}


def fresh_event_id(case: Any) -> None:
    """A unique event id in place of a valid one: a seen id is a duplicate, 200 whatever the body says."""
    if not case.operation.path.startswith(WEBHOOKS):
        return
    header = (case.headers or {}).get("webhook-id")
    if isinstance(header, str) and VALID_KEY.fullmatch(header):
        case.headers = {**case.headers, "webhook-id": f"evt-{uuid.uuid4().hex}"}
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("id"), str) and VALID_KEY.fullmatch(body["id"]):
        case.body = {**body, "id": f"evt_{uuid.uuid4().hex}"}


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    fresh_key(case)
    fresh_event_id(case)
    consistent_totals(case)
    headers = signed_headers(case, os.environ.get("RETAILSIM_WEBHOOK_SECRET", "whsec_retailsim_dev"))
    if headers is not None:
        case.headers = headers
