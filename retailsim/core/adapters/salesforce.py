"""Salesforce platform REST (Service Cloud): order status upserts by external id, and cases.

Upsert by external id (PATCH .../External_Id__c/{value}) is idempotent by nature, which is why the core
uses it rather than create: a replayed status update lands on the same record. Cases are opened by
customers and worked by agents in Service Cloud; the core only updates the case a return was opened
from (``Return_Status__c``, with its sequence so that an older status never overwrites a newer one).
Custom fields end in ``__c`` as on every Salesforce org.

Status upserts also have their collection form (``Batch``): sObject Collections, ``PATCH
.../composite/sobjects/Order/External_Id__c`` with ``{"allOrNone": false, "records": [...]}``, up to 200
records, each with ``attributes.type`` and its external id; the org answers 200 with one UpsertResult
(``id``, ``success``, ``errors``, ``created``) per record, in the records' order, and counts the request as
one API call (Salesforce REST API guide, "Upsert Records Using sObject Collections", API v46+). A record's
error is ``{"statusCode", "message", "fields"}``. Which record errors are transient is our reading, not
Salesforce's word: ``UNABLE_TO_LOCK_ROW`` (another transaction holds the row) and ``UNKNOWN_EXCEPTION``
are retried, every other code is the record's own fault. The request's one ``X-Correlation-ID`` header
lists the records' correlation ids, comma-separated, in the records' order (Salesforce ignores the
header; our middleware's logs and the mock's per-record faults read it).
"""

from __future__ import annotations

from typing import Any

from retailsim.core.adapters.http import OutboundRequest, Reply
from retailsim.core.adapters.spec import (
    Batch,
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


ORDER_COLLECTION = f"{API}/composite/sobjects/Order/External_Id__c"
COLLECTION_LIMIT = 200  # records per sObject Collections request
# Record errors that another try can get past (our reading; see the module docstring).
TRANSIENT_RECORD_ERRORS = frozenset({"UNABLE_TO_LOCK_ROW", "UNKNOWN_EXCEPTION"})


def upsert_order_statuses(upserts: list[OutboundRequest]) -> OutboundRequest:
    """Single status upserts (``upsert_order_status``) as one sObject Collections upsert, in their order."""
    records = [
        {"attributes": {"type": "Order"}, "External_Id__c": single.path.rsplit("/", 1)[1], **single.body}
        for single in upserts
    ]
    return OutboundRequest("PATCH", ORDER_COLLECTION, {"allOrNone": False, "records": records})


def record_replies(reply: Reply, count: int) -> list[Reply] | None:
    """A collection's 200 read back as the single upsert's reply per record: 201 created / 204 updated, a
    retriable 503 for a transient record error, else 400 — errors in the single API's shape
    (``errorCode``). None when the body is not one UpsertResult per record."""
    results = reply.body
    if not isinstance(results, list) or len(results) != count:
        return None
    replies: list[Reply] = []
    for result in results:
        if not isinstance(result, dict):
            return None
        if result.get("success"):
            created = bool(result.get("created"))
            replies.append(Reply(201, result) if created else Reply(204, None))
            continue
        errors = [
            {
                "message": str(e.get("message", "")),
                "errorCode": str(e.get("statusCode", "UNKNOWN_EXCEPTION")),
                "fields": list(e.get("fields") or []),
            }
            for e in result.get("errors") or [{}]
            if isinstance(e, dict)
        ]
        transient = any(e["errorCode"] in TRANSIENT_RECORD_ERRORS for e in errors)
        replies.append(Reply(503 if transient else 400, errors))
    return replies


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
        "UpsertOrderStatus",
        Subject.ORDER,
        _order_status,
        effect=Effect.STATUS_SYNCED,
        latest_only=True,
        batch=Batch(upsert_order_statuses, record_replies, COLLECTION_LIMIT),
    ),
    CommandSpec("UpdateCaseReturnStatus", Subject.RETURN, _case_return_status),
)
