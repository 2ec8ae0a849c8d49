"""Warehouse inventory adjustments as deltas, in the shape of Manhattan's PIX (perpetual inventory
transactions): one message per adjustment of one item — cycle count differences, damage, receipts.

Each adjustment is an additive fact: applying it twice moves stock twice, so the core applies it once
(inbox first) and posts it to the ERP once (the reference is looked up before a retry). Field names follow
PIX as integrators describe it (``TransactionType``/``TransactionCode``, ``ItemName``,
``InventoryAdjustmentQuantity`` with ``InventoryAdjustmentType`` "A" add / "S" subtract, ``ReasonCode``);
the exact spelling of the XML tags is unconfirmed. Reason codes map to SAP movement types: a cycle count
difference to 701 (gain) / 702 (loss), damage to 551 (scrapping), a receipt without order to 501.
"""

from __future__ import annotations

from typing import Any

from retailsim.core.adapters.http import OutboundRequest
from retailsim.core.adapters.spec import CommandSpec, Effect, Subject
from retailsim.core.errors import InvalidPayload

TOPIC_ADJUSTMENT = "inventory.adjustment"
CYCLE_COUNT, DAMAGE, RECEIPT = "CC", "DM", "RC"


def movement_type(reason: str, delta: int) -> str:
    if reason == DAMAGE:
        return "551"
    if reason == RECEIPT:
        return "501"
    return "701" if delta > 0 else "702"


def parse_adjustment(body: Any) -> dict[str, Any]:
    """The item, the signed delta, the reason and the adjustment's own reference, or InvalidPayload."""
    if not isinstance(body, dict):
        raise InvalidPayload("adjustment body must be a JSON object")
    for key in ("ItemName", "InventoryAdjustmentQuantity", "InventoryAdjustmentType", "TransactionNumber"):
        if key not in body:
            raise InvalidPayload(f"adjustment missing {key}", [{"loc": [key], "msg": "field required"}])
    kind = str(body["InventoryAdjustmentType"])
    if kind not in ("A", "S"):
        raise InvalidPayload("InventoryAdjustmentType must be A or S", [{"loc": ["InventoryAdjustmentType"]}])
    quantity = int(body["InventoryAdjustmentQuantity"])
    delta = quantity if kind == "A" else -quantity
    reason = str(body.get("ReasonCode", CYCLE_COUNT))
    return {
        "sku": str(body["ItemName"]),
        "delta": delta,
        "reason": reason,
        "movement_type": movement_type(reason, delta),
        "reference": f"PIX-{body['TransactionNumber']}",
        "number": int(body["TransactionNumber"]),
    }


def list_adjustments(since: int) -> OutboundRequest:
    """The WMS's adjustment messages after transaction number ``since``, each with the event id it was sent
    under (the recovery path for deltas a webhook never delivered, as event-list APIs offer)."""
    return OutboundRequest("GET", "/1.0/inventory/adjustments", query={"since": str(since)})


# ---- command specs ------------------------------------------------------------------------------------

COMMANDS = (
    CommandSpec(
        "FetchAdjustments",
        Subject.PAYLOAD,
        lambda command: list_adjustments(int(command.message.payload["since"])),
        effect=Effect.ADJUSTMENTS_FETCHED,
    ),
)
