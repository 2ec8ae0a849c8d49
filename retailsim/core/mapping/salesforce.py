"""Salesforce platform REST (Service Cloud): order status upserts by external id, and cases.

Upsert by external id (PATCH .../External_Id__c/{value}) is idempotent by nature, which is why the core
uses it rather than create: a replayed status update lands on the same record.
"""

from __future__ import annotations

from retailsim.core.mapping.http import OutboundRequest

API = "/services/data/v59.0"

_ORDER_STATUS = {
    "stock_reserved": "Draft",
    "posted_to_erp": "Activated",
    "backordered": "Activated",
    "shipped": "Activated",
    "in_transit": "Activated",
    "delivered": "Activated",
    "cancelled": "Cancelled",
}


def upsert_order_status(order_no: str, status: str, seq: int, total_minor: int) -> OutboundRequest:
    return OutboundRequest(
        "PATCH",
        f"{API}/sobjects/Order/External_Id__c/{order_no}",
        {
            "Status": _ORDER_STATUS.get(status, "Draft"),
            "OMS_Status__c": status,
            "OMS_Status_Seq__c": seq,
            "TotalAmount": round(total_minor / 100, 2),
        },
    )


def get_order(order_no: str) -> OutboundRequest:
    return OutboundRequest("GET", f"{API}/sobjects/Order/External_Id__c/{order_no}")
