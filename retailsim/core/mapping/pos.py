"""Store / POS system: in-store return transactions in, restock adjustments and return status out.

The POS posts a store return as two events (``return.created`` at the counter, ``return.received``
once the associate has checked the goods in), each with a stable ``event_id`` and delivered at least
once. Field names follow common retail POS APIs (``store_id``, ``transaction_id``, ``line_items`` with
``sku``/``quantity``/``condition``). Restock adjustments carry an ``Idempotency-Key`` derived from the
return number, so a retried adjustment never puts the goods on the shelf twice.
"""

from __future__ import annotations

from typing import Any

from retailsim.core.errors import InvalidPayload
from retailsim.core.mapping.http import OutboundRequest

TOPIC_RETURN_CREATED = "return.created"
TOPIC_RETURN_RECEIVED = "return.received"


def parse_return(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidPayload("POS event body must be a JSON object")
    missing = [k for k in ("return_id", "order_reference", "store_id", "line_items") if k not in body]
    if missing:
        raise InvalidPayload(f"POS return missing {', '.join(missing)}", [{"loc": [k]} for k in missing])
    lines = []
    for item in body["line_items"] or []:
        if not isinstance(item, dict) or not item.get("sku") or not isinstance(item.get("quantity"), int):
            raise InvalidPayload("POS return line needs sku and integer quantity", [{"loc": ["line_items"]}])
        lines.append((str(item["sku"]), int(item["quantity"]), str(item.get("condition", "resellable"))))
    if not lines:
        raise InvalidPayload("POS return without lines", [{"loc": ["line_items"]}])
    return {
        "return_no": str(body["return_id"]),
        "order_no": str(body["order_reference"]),
        "store_id": str(body["store_id"]),
        "reason": str(body.get("reason", "")),
        "lines": lines,
    }


def restock(store_id: str, return_no: str, lines: list[tuple[str, int]], key: str | None) -> OutboundRequest:
    headers = {"Idempotency-Key": key} if key else {}
    return OutboundRequest(
        "POST",
        f"/v1/stores/{store_id}/inventory/adjustments",
        {
            "reason": "customer_return",
            "reference": return_no,
            "adjustments": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
        },
        headers,
    )


def update_return(return_no: str, status: str, seq: int) -> OutboundRequest:
    return OutboundRequest("PATCH", f"/v1/returns/{return_no}", {"status": status, "status_seq": seq})
