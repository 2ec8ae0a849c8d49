"""SAP S/4HANA sales orders (OData V2, API_SALES_ORDER_SRV): create, look up, goods issue, cancel.

SAP does not reject a second sales order for the same storefront order, so the storefront order number
travels in ``PurchaseOrderByCustomer`` and the core looks it up before any retry of a create: the
lookup is what makes a lost reply harmless.
"""

from __future__ import annotations

from typing import Any

from retailsim.core.adapters.http import OutboundRequest, Reply
from retailsim.core.adapters.spec import (
    Answer,
    CommandInput,
    CommandSpec,
    Effect,
    ErpDialect,
    Lookup,
    OrderMeant,
    ReturnMeant,
    Subject,
)
from retailsim.core.models import Order
from retailsim.core.workflows.order_to_cash import OrderEvent
from retailsim.core.workflows.return_to_refund import ReturnEvent

SALES_ORDER_SRV = "/sap/opu/odata/sap/API_SALES_ORDER_SRV"
STOCK_SRV = "/sap/opu/odata/sap/API_MATERIAL_STOCK_SRV"
DELIVERY_SRV = "/sap/opu/odata/sap/API_OUTBOUND_DELIVERY_SRV;v=0002"


def _odata_date(seconds: float) -> str:
    return f"/Date({int(seconds * 1000)})/"


def create_sales_order(
    order: Order,
    plant: str,
    sales_org: str,
    requested_at: float,
    reference: str | None = None,
) -> OutboundRequest:
    """A standard order ("OR"), or with ``reference`` a free-of-charge subsequent delivery ("SDF") that
    refers to the document it makes good: the original sales order (a lost parcel) or the customer
    return (an exchange)."""
    items = [
        {
            "SalesOrderItem": str(10 * line.line_no),
            "Material": line.sku,
            "RequestedQuantity": str(line.quantity),
            "RequestedQuantityUnit": "EA",
            "ProductionPlant": plant,
            "NetAmount": f"{line.amount_minor / 100:.2f}",
        }
        for line in order.lines
    ]
    body: dict[str, Any] = {
        "SalesOrderType": "OR" if reference is None else "SDF",
        **_sales_document_header(sales_org, order.customer.customer_id, order.order_no, order.currency),
        "RequestedDeliveryDate": _odata_date(requested_at + 3 * 86400),
        "to_Item": {"results": items},
    }
    if reference is not None:
        body["ReferenceSDDocument"] = reference
    return OutboundRequest("POST", f"{SALES_ORDER_SRV}/A_SalesOrder", body)


def _sales_document_header(sales_org: str, sold_to: str, our_number: str, currency: str) -> dict[str, str]:
    """The header every SD document we create shares; our number goes in ``PurchaseOrderByCustomer``,
    which is what we look documents up by (SAP has no duplicate check of its own)."""
    return {
        "SalesOrganization": sales_org,
        "DistributionChannel": "10",
        "OrganizationDivision": "00",
        "SoldToParty": sold_to,
        "PurchaseOrderByCustomer": our_number,
        "TransactionCurrency": currency,
    }


def _find_by_our_number(entity_set: str, our_number: str) -> OutboundRequest:
    return OutboundRequest("GET", entity_set, query={"$filter": f"PurchaseOrderByCustomer eq '{our_number}'"})


def change_item_plant(sales_order: str, item: str, plant: str) -> OutboundRequest:
    """Move one sales order item to another plant (the order was rerouted); setting it twice is a no-op."""
    return OutboundRequest(
        "PATCH",
        f"{SALES_ORDER_SRV}/A_SalesOrderItem(SalesOrder='{sales_order}',SalesOrderItem='{item}')",
        {"ProductionPlant": plant},
    )


def find_by_purchase_order(order_no: str) -> OutboundRequest:
    return _find_by_our_number(f"{SALES_ORDER_SRV}/A_SalesOrder", order_no)


def found_sales_orders(reply: Reply) -> list[str]:
    body = reply.body if isinstance(reply.body, dict) else {}
    results = body.get("d", {}).get("results", [])
    return sorted(str(r["SalesOrder"]) for r in results if isinstance(r, dict) and "SalesOrder" in r)


def created_sales_order(reply: Reply) -> str | None:
    body = reply.body if isinstance(reply.body, dict) else {}
    number = body.get("d", {}).get("SalesOrder")
    return str(number) if number else None


def post_goods_issue(sales_order: str) -> OutboundRequest:
    return OutboundRequest(
        "POST", f"{DELIVERY_SRV}/PostGoodsIssue", query={"DeliveryDocument": f"'{sales_order}'"}
    )


def cancel_sales_order(sales_order: str) -> OutboundRequest:
    return OutboundRequest(
        "PATCH",
        f"{SALES_ORDER_SRV}/A_SalesOrder('{sales_order}')",
        {"OverallSDDocumentRejectionSts": "C"},
    )


def get_sales_order(sales_order: str) -> OutboundRequest:
    return OutboundRequest("GET", f"{SALES_ORDER_SRV}/A_SalesOrder('{sales_order}')")


def error_message(reply: Reply) -> str:
    body: Any = reply.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message", {})
        return str(message.get("value", "")) if isinstance(message, dict) else str(message)
    return ""


def already_done(reply: Reply) -> bool:
    """SAP's answer to a goods issue or cancellation that was already posted (a replayed command)."""
    text = error_message(reply).lower()
    return reply.status == 400 and ("already" in text)


def stock_snapshot() -> OutboundRequest:
    return OutboundRequest("GET", f"{STOCK_SRV}/A_MatlStkInAcctMod")


def parse_stock(reply: Reply) -> list[tuple[str, str, int]]:
    """(material, plant, on hand) rows of a stock snapshot."""
    body = reply.body if isinstance(reply.body, dict) else {}
    rows = body.get("d", {}).get("results", [])
    return [
        (str(r["Material"]), str(r["Plant"]), int(float(r["MatlWrhsStkQtyInMatlBaseUnit"])))
        for r in rows
        if isinstance(r, dict)
    ]


# ---- returns: customer return (API_CUSTOMER_RETURN_SRV), returns delivery, credit memo request -------

CUSTOMER_RETURN_SRV = "/sap/opu/odata/sap/API_CUSTOMER_RETURN_SRV"
RETURNS_DELIVERY_SRV = "/sap/opu/odata/sap/API_CUSTOMER_RETURNS_DELIVERY_SRV;v=0002"
CREDIT_MEMO_SRV = "/sap/opu/odata/sap/API_CREDIT_MEMO_REQUEST_SRV"


def create_customer_return(
    return_no: str,
    sales_order: str,
    sold_to: str,
    lines: list[tuple[str, int, str]],
    plant: str,
    sales_org: str,
    currency: str,
) -> OutboundRequest:
    """A customer return with reference to the sales order; the return number in PurchaseOrderByCustomer.

    ``lines`` are (material, quantity, return reason). Like sales orders, SAP has no duplicate check on
    returns: the core looks a return up by ``PurchaseOrderByCustomer`` before it re-creates one.
    """
    items = [
        {
            "CustomerReturnItem": str(10 * (index + 1)),
            "Material": material,
            "RequestedQuantity": str(quantity),
            "RequestedQuantityUnit": "EA",
            "ReturnReason": reason,
            "ProductionPlant": plant,
            "ReferenceSDDocument": sales_order,
        }
        for index, (material, quantity, reason) in enumerate(lines)
    ]
    body = {
        "CustomerReturnType": "CBAR",
        **_sales_document_header(sales_org, sold_to, return_no, currency),
        "ReferenceSDDocument": sales_order,
        "SDDocumentReason": "R01",
        "to_Item": {"results": items},
    }
    return OutboundRequest("POST", f"{CUSTOMER_RETURN_SRV}/A_CustomerReturn", body)


def find_customer_return(return_no: str) -> OutboundRequest:
    return _find_by_our_number(f"{CUSTOMER_RETURN_SRV}/A_CustomerReturn", return_no)


def created_document(reply: Reply, field: str) -> str | None:
    body = reply.body if isinstance(reply.body, dict) else {}
    number = body.get("d", {}).get(field)
    return str(number) if number else None


def found_documents(reply: Reply, field: str) -> list[str]:
    body = reply.body if isinstance(reply.body, dict) else {}
    results = body.get("d", {}).get("results", [])
    return sorted(str(r[field]) for r in results if isinstance(r, dict) and field in r)


def post_return_goods_receipt(
    customer_return: str, lines: list[tuple[str, int]], plant: str
) -> OutboundRequest:
    """Goods receipt of returned goods into unrestricted stock (restock disposition) for one return."""
    return OutboundRequest(
        "POST",
        f"{RETURNS_DELIVERY_SRV}/PostGoodsReceipt",
        {
            "to_DeliveryDocumentItem": {
                "results": [
                    {"Material": material, "ActualDeliveryQuantity": str(quantity), "Plant": plant}
                    for material, quantity in lines
                ]
            }
        },
        query={"DeliveryDocument": f"'{customer_return}'"},
    )


def create_credit_memo_request(
    return_no: str,
    customer_return: str,
    sold_to: str,
    lines: list[tuple[str, int, int]],
    sales_org: str,
    currency: str,
) -> OutboundRequest:
    """A credit memo request referring to the customer return; ``lines`` are (material, qty, cents)."""
    items = [
        {
            "CreditMemoRequestItem": str(10 * (index + 1)),
            "Material": material,
            "RequestedQuantity": str(quantity),
            "RequestedQuantityUnit": "EA",
            "NetAmount": f"{amount_minor / 100:.2f}",
        }
        for index, (material, quantity, amount_minor) in enumerate(lines)
    ]
    body = {
        "CreditMemoRequestType": "CR",
        **_sales_document_header(sales_org, sold_to, return_no, currency),
        "ReferenceSDDocument": customer_return,
        "SDDocumentReason": "R01",
        "to_Item": {"results": items},
    }
    return OutboundRequest("POST", f"{CREDIT_MEMO_SRV}/A_CreditMemoRequest", body)


def find_credit_memo_request(return_no: str) -> OutboundRequest:
    return _find_by_our_number(f"{CREDIT_MEMO_SRV}/A_CreditMemoRequest", return_no)


# ---- goods movements (API_MATERIAL_DOCUMENT_SRV) ----------------------------------------------------

MATERIAL_DOCUMENT_SRV = "/sap/opu/odata/sap/API_MATERIAL_DOCUMENT_SRV"
# Movement types that raise stock (other goods receipts, code "05") and that lower it (goods issues, "03").
RECEIPT_MOVEMENTS = frozenset({"501", "701"})
ISSUE_MOVEMENTS = frozenset({"551", "702"})


def post_goods_movement(
    reference: str, material: str, plant: str, movement_type: str, quantity: int, now: float
) -> OutboundRequest:
    """One material document for one warehouse adjustment. SAP does not refuse a second posting with the
    same text, so the adjustment's reference travels in ``MaterialDocumentHeaderText`` and the core looks
    it up before any retry (as for sales orders)."""
    code = "05" if movement_type in RECEIPT_MOVEMENTS else "03"
    return OutboundRequest(
        "POST",
        f"{MATERIAL_DOCUMENT_SRV}/A_MaterialDocumentHeader",
        {
            "GoodsMovementCode": code,
            "PostingDate": _odata_date(now),
            "DocumentDate": _odata_date(now),
            "MaterialDocumentHeaderText": reference,
            "to_MaterialDocumentItem": {
                "results": [
                    {
                        "Material": material,
                        "Plant": plant,
                        "StorageLocation": "0001",
                        "GoodsMovementType": movement_type,
                        "QuantityInEntryUnit": str(quantity),
                        "EntryUnit": "EA",
                    }
                ]
            },
        },
    )


def find_goods_movement(reference: str) -> OutboundRequest:
    return OutboundRequest(
        "GET",
        f"{MATERIAL_DOCUMENT_SRV}/A_MaterialDocumentHeader",
        query={"$filter": f"MaterialDocumentHeaderText eq '{reference}'"},
    )


# ---- command specs (the ERP port: every ERP dialect serves these kinds; see adapters/registry.py) ------


def _sales_order(command: CommandInput) -> OutboundRequest:
    record, order = command.record, command.order_doc
    assert order is not None
    plant = command.context.sales_order_plant(record)
    return create_sales_order(
        order, plant, command.context.config.sales_organization, command.now, record.erp_reference
    )


def _sales_order_posted(answer: Answer) -> OrderMeant:
    if answer.step == "lookup":
        number = found_sales_orders(answer.reply)[0]
    else:
        number = created_sales_order(answer.reply) or ""
    event = OrderEvent.SALES_ORDER_POSTED_SHORT if answer.record.short else OrderEvent.SALES_ORDER_POSTED
    return OrderMeant(event, {"erp_sales_order": number, "posted_at": answer.now})


def _plant_change(command: CommandInput) -> OutboundRequest | None:
    record, location = command.record, command.payload("location")
    if location != record.location or not record.erp_sales_order:
        return None  # rerouted since (this plant is no longer the order's), or nothing posted to move
    return change_item_plant(record.erp_sales_order, command.payload("item"), location)


def _customer_return(command: CommandInput) -> OutboundRequest:
    record = command.return_record
    sold_to, currency = command.sale_buyer()
    return create_customer_return(
        record.return_no,
        record.erp_sales_order or "",
        sold_to,
        [(line.sku, line.quantity, record.reason or "R01") for line in record.lines],
        record.location,
        command.context.config.sales_organization,
        currency,
    )


def _credit_memo(command: CommandInput) -> OutboundRequest:
    record = command.return_record
    sold_to, currency = command.sale_buyer()
    return create_credit_memo_request(
        record.return_no,
        record.erp_return_order or "",
        sold_to,
        [(line.sku, line.quantity, line.quantity * line.unit_price_minor) for line in record.lines],
        command.context.config.sales_organization,
        currency,
    )


def _document_number(answer: Answer, field: str) -> str:
    """The document the look-up found, or the one the create made."""
    if answer.step == "lookup":
        found = found_documents(answer.reply, field)
        return found[0] if found else ""
    return created_document(answer.reply, field) or ""


def _return_goods_receipt(command: CommandInput) -> OutboundRequest | None:
    record = command.return_record
    restock = [(line.sku, line.quantity) for line in record.lines if line.disposition == "restock"]
    if not restock or not record.erp_return_order:
        return None
    return post_return_goods_receipt(record.erp_return_order, restock, record.location)


def _goods_movement(command: CommandInput) -> OutboundRequest:
    """The ERP posting of one warehouse adjustment (its reference in the header text)."""
    payload = command.message.payload
    return post_goods_movement(
        str(payload["reference"]),
        str(payload["sku"]),
        str(payload["plant"]),
        str(payload["movement_type"]),
        abs(int(payload["delta"])),
        command.now,
    )


COMMANDS = (
    CommandSpec(
        "PostSalesOrder",
        Subject.ORDER,
        _sales_order,
        needs_order_doc=True,
        lookup=Lookup(lambda command: find_by_purchase_order(command.record.order_no), found_sales_orders),
        means=_sales_order_posted,
    ),
    CommandSpec(
        "PostGoodsIssue",
        Subject.ORDER,
        lambda command: post_goods_issue(command.record.erp_sales_order or ""),
        benign=already_done,
    ),
    CommandSpec(
        "CancelSalesOrder",
        Subject.ORDER,
        lambda command: cancel_sales_order(command.record.erp_sales_order or ""),
        benign=already_done,
    ),
    CommandSpec("ChangeSalesOrderPlant", Subject.ORDER, _plant_change),
    CommandSpec(
        "CreateCustomerReturn",
        Subject.RETURN,
        _customer_return,
        lookup=Lookup(
            lambda command: find_customer_return(command.return_record.return_no),
            lambda reply: found_documents(reply, "CustomerReturn"),
        ),
        means=lambda answer: ReturnMeant(
            ReturnEvent.AUTHORIZATION_POSTED, {"erp_return_order": _document_number(answer, "CustomerReturn")}
        ),
    ),
    CommandSpec(
        "CreateCreditMemoRequest",
        Subject.RETURN,
        _credit_memo,
        lookup=Lookup(
            lambda command: find_credit_memo_request(command.return_record.return_no),
            lambda reply: found_documents(reply, "CreditMemoRequest"),
        ),
        means=lambda answer: ReturnMeant(
            ReturnEvent.CREDIT_MEMO_POSTED, {"erp_credit_memo": _document_number(answer, "CreditMemoRequest")}
        ),
    ),
    CommandSpec(
        "PostReturnGoodsReceipt",
        Subject.RETURN,
        _return_goods_receipt,
        benign=already_done,
        effect=Effect.RETURN_GOODS_BOOKED,
    ),
    CommandSpec(
        "PostGoodsMovement",
        Subject.PAYLOAD,
        _goods_movement,
        lookup=Lookup(
            lambda command: find_goods_movement(command.payload("reference")),
            lambda reply: found_documents(reply, "MaterialDocument"),
            create_when_due=True,
        ),
    ),
)

DIALECT = ErpDialect("sap", COMMANDS, stock_snapshot, parse_stock)
