"""ShipBob-style warehouse orders out, and warehouse webhooks in.

The warehouse refuses a second order with the same ``reference_id`` (the storefront order number), so
a retried release is safe: "already exists" means the first one landed.
"""

from __future__ import annotations

from typing import Any

from retailsim.core.adapters.http import OutboundRequest, Reply
from retailsim.core.adapters.spec import Answer, CommandInput, CommandSpec, Effect, OrderMeant, Subject
from retailsim.core.errors import InvalidPayload
from retailsim.core.models import Order
from retailsim.core.workflows.order_to_cash import OrderEvent

TOPIC_SHIPPED = "order.shipped"
TOPIC_ON_HOLD = "order.shipment.on_hold"
TOPIC_CANCELLED = "order.shipment.cancelled"
TOPIC_DELIVERED = "order.shipment.delivered"


def create_order(order: Order, shipping_method: str = "Standard") -> OutboundRequest:
    address = order.ship_to
    return OutboundRequest(
        "POST",
        "/1.0/order",
        {
            "reference_id": order.order_no,
            "shipping_method": shipping_method,
            "recipient": {
                "name": address.name,
                "email": order.customer.email,
                "address": {
                    "address1": address.line1,
                    "city": address.city,
                    "state": address.region,
                    "zip_code": address.postal_code,
                    "country": address.country,
                },
            },
            "products": [{"reference_id": line.sku, "quantity": line.quantity} for line in order.lines],
        },
    )


def created_order_id(reply: Reply) -> str | None:
    body: Any = reply.body
    if isinstance(body, dict) and "id" in body:
        return str(body["id"])
    return None


def already_exists(reply: Reply) -> bool:
    return (
        reply.status == 422 and "reference" in str(reply.body).lower() and "exist" in str(reply.body).lower()
    )


def cancel_order(order_id: str) -> OutboundRequest:
    return OutboundRequest("POST", f"/1.0/order/{order_id}/cancel")


def find_orders(reference_ids: list[str]) -> OutboundRequest:
    return OutboundRequest("GET", "/1.0/order", query={"ReferenceIds": ",".join(reference_ids)})


def parse_webhook(topic: str, body: Any) -> dict[str, Any]:
    """The fields the core needs from a ShipBob webhook, or InvalidPayload naming the missing one."""
    if not isinstance(body, dict):
        raise InvalidPayload("webhook body must be a JSON object")
    for key in ("reference_id", "order_id", "event_time"):
        if key not in body:
            raise InvalidPayload(f"webhook missing {key}", [{"loc": [key], "msg": "field required"}])
    tracking = body.get("tracking")
    tracking = {} if tracking is None else tracking
    # The types the published schema states (ShipBob's own): a field of another type is refused, not read.
    typed = [
        ("reference_id", isinstance(body["reference_id"], str) and bool(body["reference_id"])),
        ("order_id", isinstance(body["order_id"], int) and not isinstance(body["order_id"], bool)),
        ("event_time", isinstance(body["event_time"], str)),
        ("tracking", isinstance(tracking, dict)),
    ]
    if isinstance(tracking, dict):
        typed.append(("tracking.tracking_id", isinstance(tracking.get("tracking_id", "x"), str)))
        typed.append(("tracking.carrier", isinstance(tracking.get("carrier", ""), str | None)))
    wrong = [name for name, ok in typed if not ok]
    if wrong:
        raise InvalidPayload(
            f"webhook field of the wrong type: {', '.join(wrong)}",
            [{"loc": name.split("."), "msg": "wrong type"} for name in wrong],
        )
    if topic == TOPIC_SHIPPED and not tracking.get("tracking_id"):
        raise InvalidPayload("shipped webhook without tracking", [{"loc": ["tracking", "tracking_id"]}])
    facts = {
        "order_no": str(body["reference_id"]),
        "wms_order_id": str(body["order_id"]),
        "tracking_code": tracking.get("tracking_id"),
        "carrier": tracking.get("carrier"),
        "status": body.get("status"),
    }
    if body.get("shipment_id") is not None:  # one parcel of an order shipped in several
        units: dict[str, int] = {}
        for product in body.get("products") or []:
            sku = str(product.get("reference_id"))
            units[sku] = units.get(sku, 0) + int(product.get("quantity", 0))
        facts.update(shipment_id=str(body["shipment_id"]), units=units)
    return facts


# ---- returns (ShipBob Returns API) ------------------------------------------------------------------

TOPIC_RETURN_CREATED = "return.created"
TOPIC_RETURN_COMPLETED = "return.completed"


def create_return(
    return_no: str, fulfillment_center: str, lines: list[tuple[str, int]], original_order_id: str | None
) -> OutboundRequest:
    """A return order the warehouse expects; ``reference_id`` is the return number (refused if it exists)."""
    return OutboundRequest(
        "POST",
        "/1.0/return",
        {
            "reference_id": return_no,
            "fulfillment_center": {"id": fulfillment_center},
            "original_shipment_id": original_order_id,
            "inventory": [
                {"id": sku, "quantity": quantity, "requested_action": "Restock"} for sku, quantity in lines
            ],
        },
    )


def parse_return_webhook(body: Any) -> dict[str, Any]:
    """The return number and the inspected lines of a ``return.completed`` webhook."""
    if not isinstance(body, dict) or "reference_id" not in body:
        raise InvalidPayload("return webhook without reference_id", [{"loc": ["reference_id"]}])
    lines = []
    for item in body.get("inventory") or []:
        if not isinstance(item, dict) or "id" not in item:
            raise InvalidPayload("return inventory item without id", [{"loc": ["inventory", "id"]}])
        lines.append(
            (str(item["id"]), int(item.get("quantity", 0)), str(item.get("condition", "resellable")))
        )
    return {"return_no": str(body["reference_id"]), "return_id": str(body.get("id", "")), "lines": lines}


# ---- command specs ------------------------------------------------------------------------------------


def _release(command: CommandInput) -> OutboundRequest:
    assert command.order_doc is not None
    return create_order(command.order_doc)


def _accepted(answer: Answer) -> OrderMeant:
    created = created_order_id(answer.reply) if answer.reply.ok else None
    return OrderMeant(OrderEvent.WAREHOUSE_ACCEPTED, {"wms_order_id": created} if created else {})


def _cancel(command: CommandInput) -> OutboundRequest | None:
    wms_order_id = command.record.wms_order_id
    return cancel_order(wms_order_id) if wms_order_id is not None else None


def _already_cancelled(reply: Reply) -> bool:
    return reply.status == 422


def _return(command: CommandInput) -> OutboundRequest:
    record = command.return_record
    return create_return(
        record.return_no, record.location, [(line.sku, line.quantity) for line in record.lines], None
    )


COMMANDS = (
    CommandSpec(
        "ReleaseToWarehouse",
        Subject.ORDER,
        _release,
        needs_order_doc=True,
        benign=already_exists,
        means=_accepted,
    ),
    CommandSpec(
        "FetchWarehouseOrder",
        Subject.ORDER,
        lambda command: find_orders([command.record.order_no]),
        effect=Effect.WAREHOUSE_ORDER_FETCHED,
    ),
    CommandSpec("CancelWarehouseOrder", Subject.ORDER, _cancel, benign=_already_cancelled),
    CommandSpec(
        "CreateWarehouseReturn",
        Subject.RETURN,
        _return,
        benign=already_exists,
        effect=Effect.WAREHOUSE_RETURN_CREATED,
    ),
)
