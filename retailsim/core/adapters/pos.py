"""Store / POS system: in-store returns and store pickups in; restocks, pickup orders and statuses out.

The POS posts a store return as two events (``return.created`` at the counter, ``return.received``
once the associate has checked the goods in), each with a stable ``event_id`` and delivered at least
once. Field names follow common retail POS APIs (``store_id``, ``transaction_id``, ``line_items`` with
``sku``/``quantity``/``condition``). Restock adjustments carry an ``Idempotency-Key`` derived from the
return number, so a retried adjustment never puts the goods on the shelf twice.

Buy online, pick up in store: the core sends the store a pickup order (``Idempotency-Key``
``{order}:pickup:{store}``, so a retry is the same pickup order); the store answers with events
``pickup.ready`` (picked and set aside), ``pickup.declined`` (the shelf could not cover it; each short
line says how many the store counted) and ``pickup.collected`` (the customer took it over the counter).
"""

from __future__ import annotations

from typing import Any

from retailsim.core.adapters.http import OutboundRequest, Reply
from retailsim.core.adapters.spec import Answer, CommandInput, CommandSpec, Effect, OrderMeant, Subject
from retailsim.core.errors import InvalidPayload
from retailsim.core.workflows.order_to_cash import OrderEvent

TOPIC_RETURN_CREATED = "return.created"
TOPIC_RETURN_RECEIVED = "return.received"
TOPIC_RETURN_UNIT_RECEIVED = "return.unit_received"  # one unit checked in at the counter (per-unit stores)
TOPIC_PICKUP_READY = "pickup.ready"
TOPIC_PICKUP_DECLINED = "pickup.declined"
TOPIC_PICKUP_COLLECTED = "pickup.collected"
PICKUP_TOPICS = (TOPIC_PICKUP_READY, TOPIC_PICKUP_DECLINED, TOPIC_PICKUP_COLLECTED)


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


def parse_unit(body: Any) -> dict[str, Any]:
    """One returned unit checked in: the return, the SKU and the condition the associate recorded."""
    if not isinstance(body, dict):
        raise InvalidPayload("POS event body must be a JSON object")
    missing = [k for k in ("return_id", "sku") if not body.get(k)]
    if missing:
        raise InvalidPayload(
            f"POS unit receipt missing {', '.join(missing)}", [{"loc": [k]} for k in missing]
        )
    return {
        "return_no": str(body["return_id"]),
        "sku": str(body["sku"]),
        "condition": str(body.get("condition", "resellable")),
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


def create_pickup(
    store_id: str, order_no: str, lines: list[tuple[str, int]], customer: dict[str, str]
) -> OutboundRequest:
    return OutboundRequest(
        "POST",
        f"/v1/stores/{store_id}/pickups",
        {
            "order_reference": order_no,
            "customer": dict(customer),
            "line_items": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
        },
        {"Idempotency-Key": f"{order_no}:pickup:{store_id}"},
    )


def already_exists(reply: Reply) -> bool:
    """The store already holds a pickup order for this order (a retried create): it is done."""
    body = reply.body if isinstance(reply.body, dict) else {}
    return reply.status == 422 and any(
        isinstance(e, dict) and e.get("code") == "duplicate_order_reference" for e in body.get("errors") or []
    )


def parse_pickup(body: Any) -> dict[str, Any]:
    """A pickup event: order, store, and for a decline the store's count of each short line."""
    if not isinstance(body, dict):
        raise InvalidPayload("POS event body must be a JSON object")
    missing = [k for k in ("order_reference", "store_id") if not body.get(k)]
    if missing:
        raise InvalidPayload(f"POS pickup missing {', '.join(missing)}", [{"loc": [k]} for k in missing])
    short: list[tuple[str, int]] = []
    for item in body.get("line_items") or []:
        if isinstance(item, dict) and isinstance(item.get("available"), int):
            short.append((str(item["sku"]), max(0, int(item["available"]))))
    return {"order_no": str(body["order_reference"]), "store_id": str(body["store_id"]), "short": short}


def find_pickups(order_no: str) -> OutboundRequest:
    return OutboundRequest("GET", "/v1/pickups", query={"order_reference": order_no})


def found_pickup(reply: Reply, store_id: str) -> dict[str, Any] | None:
    """The newest pickup order the store holds for the order, as an event body (for ``parse_pickup``)."""
    body = reply.body if isinstance(reply.body, dict) else {}
    here = [p for p in body.get("pickups") or [] if isinstance(p, dict) and p.get("store_id") == store_id]
    if not here:
        return None
    pickup = here[-1]
    lines = pickup.get("short_items") if pickup.get("status") == "declined" else pickup.get("line_items")
    return {**pickup, "line_items": lines or []}


def inventory_snapshot(store_id: str) -> OutboundRequest:
    return OutboundRequest("GET", f"/v1/stores/{store_id}/inventory")


def parse_inventory(body: Any) -> list[tuple[str, str, int]]:
    """(sku, store, on hand) rows of a store's inventory listing."""
    if not isinstance(body, dict):
        return []
    store = str(body.get("store_id", ""))
    return [
        (str(item["sku"]), store, int(item["on_hand"]))
        for item in body.get("items") or []
        if isinstance(item, dict) and "sku" in item and isinstance(item.get("on_hand"), int)
    ]


# ---- command specs ------------------------------------------------------------------------------------


def _release(command: CommandInput) -> OutboundRequest | None:
    record, location = command.record, command.payload("location")
    if location != record.location:
        return None  # rerouted since: this store is no longer the order's
    customer = command.order_doc.customer if command.order_doc is not None else None
    contact = {"name": customer.name if customer else "", "email": customer.email if customer else ""}
    return create_pickup(location, record.order_no, list(record.lines), contact)


def _accepted(answer: Answer) -> OrderMeant | None:
    """The store took the pickup order — unless the order has moved on to another location since."""
    if str(answer.message.payload["location"]) != answer.record.location:
        return None
    return OrderMeant(OrderEvent.PICKUP_ACCEPTED)


def _restock_unit(command: CommandInput) -> OutboundRequest:
    record = command.return_record
    key = command.context.restock_idempotency_key(record)
    unit = f"{key}:unit-{command.message.payload['unit']}" if key else None
    return restock(record.location, record.return_no, [(command.payload("sku"), 1)], unit)


def _restock_goods(command: CommandInput) -> OutboundRequest | None:
    record = command.return_record
    lines = [(line.sku, line.quantity) for line in record.lines if line.disposition == "restock"]
    if not lines:
        return None
    return restock(record.location, record.return_no, lines, command.context.restock_idempotency_key(record))


def _store_return(command: CommandInput) -> OutboundRequest:
    return update_return(
        command.return_record.return_no, command.payload("status"), int(command.message.payload["seq"])
    )


COMMANDS = (
    CommandSpec(
        "ReleaseToStore",
        Subject.ORDER,
        _release,
        needs_order_doc=True,
        benign=already_exists,
        means=_accepted,
    ),
    CommandSpec(
        "FetchPickup",
        Subject.ORDER,
        lambda command: find_pickups(command.record.order_no),
        effect=Effect.PICKUP_FETCHED,
    ),
    CommandSpec("RestockReturnedUnit", Subject.RETURN, _restock_unit),
    CommandSpec("RestockReturnedGoods", Subject.RETURN, _restock_goods),
    CommandSpec("UpdateStoreReturn", Subject.RETURN, _store_return),
)
