"""Salesforce platform REST (Service Cloud): order status upserts by external id, and cases.

Upsert by external id (PATCH .../External_Id__c/{value}) is idempotent by nature, which is why the core
uses it rather than create: a replayed status update lands on the same record. Cases are opened by
customers and worked by agents in Service Cloud; the core only updates the case a return was opened
from (``Return_Status__c``, with its sequence so that an older status never overwrites a newer one).
Custom fields end in ``__c`` as on every Salesforce org.
"""

from __future__ import annotations

from typing import Any

from retailsim.core.adapters.http import OutboundRequest
from retailsim.core.adapters.spec import (
    CommandInput,
    CommandSpec,
    Effect,
    Subject,
    pickup_view,
    status_superseded,
)

API = "/services/data/v59.0"

_ORDER_STATUS = {
    "stock_reserved": "Draft",
    "posted_to_erp": "Activated",
    "backordered": "Activated",
    "shipped": "Activated",
    "in_transit": "Activated",
    "ready_for_pickup": "Activated",
    "delivery_failed": "Activated",
    "delivered": "Activated",
    "replaced": "Activated",
    "cancelled": "Cancelled",
}


def upsert_order_status(
    order_no: str,
    status: str,
    seq: int,
    total_minor: int,
    *,
    bopis: bool = False,
    pickup_store: str | None = None,
    replacement: str | None = None,
    replaces: str | None = None,
) -> OutboundRequest:
    body: dict[str, Any] = {
        "Status": _ORDER_STATUS.get(status, "Draft"),
        "OMS_Status__c": status,
        "OMS_Status_Seq__c": seq,
        "TotalAmount": round(total_minor / 100, 2),
    }
    if bopis:
        body["Pickup_Store__c"] = pickup_store
    if replacement is not None:
        body["Replacement_Order__c"] = replacement
    if replaces is not None:
        body["Replaces_Order__c"] = replaces
    return OutboundRequest("PATCH", f"{API}/sobjects/Order/External_Id__c/{order_no}", body)


def update_case_return_status(case_id: str, return_no: str, status: str, seq: int) -> OutboundRequest:
    return OutboundRequest(
        "PATCH",
        f"{API}/sobjects/Case/{case_id}",
        {"Return_Number__c": return_no, "Return_Status__c": status, "Return_Status_Seq__c": seq},
    )


def get_order(order_no: str) -> OutboundRequest:
    return OutboundRequest("GET", f"{API}/sobjects/Order/External_Id__c/{order_no}")


# ---- command specs ------------------------------------------------------------------------------------


def _order_status(command: CommandInput) -> OutboundRequest | None:
    if status_superseded(command):
        return None
    record = command.record
    bopis, pickup_store = pickup_view(command)
    return upsert_order_status(
        record.order_no,
        command.payload("status"),
        int(command.message.payload["seq"]),
        record.total_minor,
        bopis=bopis,
        pickup_store=pickup_store,
        replacement=record.replaced_by,
        replaces=record.replaces,
    )


def _case_return_status(command: CommandInput) -> OutboundRequest | None:
    record = command.return_record
    seq = int(command.message.payload["seq"])
    if record.case_id is None or seq < record.status_seq:
        return None  # only the newest status is worth writing on the case
    return update_case_return_status(record.case_id, record.return_no, command.payload("status"), seq)


COMMANDS = (
    CommandSpec(
        "UpsertOrderStatus", Subject.ORDER, _order_status, effect=Effect.STATUS_SYNCED, latest_only=True
    ),
    CommandSpec("UpdateCaseReturnStatus", Subject.RETURN, _case_return_status),
)
