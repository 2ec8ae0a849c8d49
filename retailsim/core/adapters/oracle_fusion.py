"""Oracle Fusion Cloud Order Management behind the ERP port: the ``oracle_fusion`` ERP dialect.

Fusion's own idempotency is the **source order**: an order imported into ``salesOrdersForOrderHub`` is
keyed by (``SourceTransactionSystem``, ``SourceTransactionId``), and the same key again is a revision of
that order, never a second one. The adapter leans on it rather than on look-ups:

* sales orders and return orders (RMAs) are imported under our own number (``SourceTransactionId`` = the
  storefront order or return number, system ``RETAILSIM``). A retry after a lost reply is answered
  400 "already exists": the order is there, which is all the retry wanted (``benign``). So the document
  is named by its **OrderKey** ``RETAILSIM:{number}`` — known before any reply, the key Fusion's GET and
  PATCH take — never by the ``HeaderId`` a lost reply would have carried;
* moving an order to another fulfilment organisation (a rerouted pickup) is a revision: the whole order
  again with ``Upsert-Mode: true``, its lines at the new organisation, as often as the command is retried;
* ship confirmations, RMA receipts and cancellations are refused "already ..." when done before — benign;
* Receivables credit memos and staged inventory transactions have no source-order key: the credit memo
  carries our return number as ``TransactionNumber`` and the adjustment the warehouse's reference as
  ``TransactionReference``, and a retry looks them up by it first (``?q=...``), as for SAP.

Its error judgement: the application's refusals are ADF error JSON (``o:errorDetails``) because every
request asks for ``application/vnd.oracle.adf.error+json``; what comes from in front of the application
(faults, 429, 503) is plain text, so a refusal is read from either shape (``error_text``). Fusion
publishes no throttling answer: a 429 usually has no ``Retry-After``, and the core's own back-off and
token bucket pace the retry (429 and 5xx retry, other 4xx are the request's fault, see ``http.judge``).

The canonical commands are unchanged. (unconfirmed) See systems/oracle_fusion.py: the ADF error JSON and
refusal texts, ``CanceledFlag``, the field names of ship confirmations, receipt requests and staged
transactions, ``UnitSellingPrice`` and the ``ReplacesOrderKey`` flexfield; the source system name
``RETAILSIM`` is an implementation's own registration.

Rules kept: pure request builders and reply readers (no store, no clock); the rendered request gets the
correlation id from the dispatcher.
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

FSCM = "/fscmRestApi/resources/11.13.18.05"
ORDER_HUB = f"{FSCM}/salesOrdersForOrderHub"
CREDIT_MEMOS = f"{FSCM}/receivablesCreditMemos"
SHIPMENTS = f"{FSCM}/shipmentTransactionRequests"
RECEIPTS = f"{FSCM}/receivingReceiptRequests"
STAGED = f"{FSCM}/inventoryStagedTransactions"
ONHAND = f"{FSCM}/onhandQuantityDetails"
ADF = {"Accept": "application/vnd.oracle.adf.error+json"}
SOURCE_SYSTEM = "RETAILSIM"
BUSINESS_UNIT = "BU1"  # (unconfirmed) the selling business unit, an implementation's own name
SUBINVENTORY = "STORES"


def order_key(number: str, system: str = SOURCE_SYSTEM) -> str:
    """The OrderKey of a source order: ``{SourceTransactionSystem}:{SourceTransactionId}``."""
    return f"{system}:{number}"


# ---- reply readers ------------------------------------------------------------------------------------


def error_text(reply: Reply) -> str:
    """A refusal's text: the ADF error details (JSON), or the plain-text body from in front of the app."""
    body = reply.body
    if isinstance(body, str):
        return body
    details = body.get("o:errorDetails") if isinstance(body, dict) else None
    if not isinstance(details, list):
        return ""
    return " ".join(str(d.get("detail", "")) for d in details if isinstance(d, dict))


def already_exists(reply: Reply) -> bool:
    """The source order (or RMA) is there already: a retried import after a lost reply."""
    return reply.status == 400 and "already exists" in error_text(reply).lower()


def already_done(reply: Reply) -> bool:
    """A ship confirmation, receipt or cancel that was already made (a replayed command)."""
    return reply.status == 400 and "already" in error_text(reply).lower()


def found_order_keys(reply: Reply) -> list[str]:
    """The OrderKeys an order-hub query found."""
    return sorted(str(row["OrderKey"]) for row in _items(reply) if "OrderKey" in row)


def found_field(reply: Reply, field: str) -> list[str]:
    return sorted(str(row[field]) for row in _items(reply) if field in row)


def _items(reply: Reply) -> list[dict[str, Any]]:
    body = reply.body if isinstance(reply.body, dict) else {}
    return [row for row in body.get("items", []) if isinstance(row, dict)]


def parse_stock(reply: Reply) -> list[tuple[str, str, int]]:
    """(item, organisation, on hand) rows of the on-hand snapshot."""
    return [
        (str(row["ItemNumber"]), str(row["OrganizationCode"]), int(float(row["OnhandQuantity"])))
        for row in _items(reply)
    ]


# ---- request builders -----------------------------------------------------------------------------------


def stock_snapshot() -> OutboundRequest:
    """On hand of every item and organisation. (unconfirmed) Real collections page by ``limit``/``offset``."""
    return OutboundRequest("GET", ONHAND, headers=dict(ADF))


def find_orders(number: str) -> OutboundRequest:
    """The orders and RMAs imported under a storefront number (``SourceTransactionNumber``)."""
    return OutboundRequest(
        "GET", ORDER_HUB, headers=dict(ADF), query={"q": f"SourceTransactionNumber='{number}'"}
    )


def _query(resource: str, field: str, value: str) -> OutboundRequest:
    return OutboundRequest("GET", resource, headers=dict(ADF), query={"q": f"{field}='{value}'"})


def import_order(
    order: Order, organisation: str, business_unit: str, replaces: str | None = None
) -> OutboundRequest:
    """Import the order under our order number; a repeat is "already exists", never a second order."""
    lines = [
        {
            "SourceTransactionLineId": str(line.line_no),
            "SourceTransactionLineNumber": str(line.line_no),
            "SourceScheduleNumber": "1",
            "SourceTransactionScheduleId": "1",
            "ProductNumber": line.sku,
            "OrderedQuantity": line.quantity,
            "OrderedUOMCode": "Ea",
            "UnitSellingPrice": line.unit_price_minor / 100,
            "RequestedFulfillmentOrganizationCode": organisation,
        }
        for line in order.lines
    ]
    body: dict[str, Any] = {
        "SourceTransactionNumber": order.order_no,
        "SourceTransactionSystem": SOURCE_SYSTEM,
        "SourceTransactionId": order.order_no,
        "BusinessUnitName": business_unit,
        "BuyingPartyNumber": order.customer.customer_id,
        "TransactionalCurrencyCode": order.currency,
        "SubmittedFlag": True,
        "lines": lines,
    }
    if replaces is not None:
        body["ReplacesOrderKey"] = replaces
    return OutboundRequest("POST", ORDER_HUB, body, headers=dict(ADF))


def _sales_order(command: CommandInput) -> OutboundRequest:
    record, order = command.record, command.order_doc
    assert order is not None
    plant = command.context.sales_order_plant(record)
    return import_order(order, plant, BUSINESS_UNIT, record.erp_reference)


def _sales_order_posted(answer: Answer) -> OrderMeant:
    """Created or already there: either way the order is the one under our number."""
    event = OrderEvent.SALES_ORDER_POSTED_SHORT if answer.record.short else OrderEvent.SALES_ORDER_POSTED
    return OrderMeant(event, {"erp_sales_order": order_key(answer.record.order_no), "posted_at": answer.now})


def _plant_change(command: CommandInput) -> OutboundRequest | None:
    """A revision of the whole order with its lines at the new organisation (``Upsert-Mode``)."""
    record, location, order = command.record, command.payload("location"), command.order_doc
    if location != record.location or not record.erp_sales_order or order is None:
        return None  # rerouted since (this location is no longer the order's), or nothing posted to move
    revision = import_order(order, location, BUSINESS_UNIT, record.erp_reference)
    return OutboundRequest(
        "POST", ORDER_HUB, revision.body, headers={**revision.headers, "Upsert-Mode": "true"}
    )


def _ship_confirm(command: CommandInput) -> OutboundRequest:
    """The warehouse shipped the order: one shipment with every line of the source order."""
    record = command.record
    shipment = {
        "Shipment": record.order_no,
        "OrganizationCode": record.location,
        "unpackedLines": [{"SourceOrder": record.erp_sales_order or ""}],
    }
    return OutboundRequest("POST", SHIPMENTS, {"shipments": [shipment]}, headers=dict(ADF))


def _cancel(command: CommandInput) -> OutboundRequest:
    return OutboundRequest(
        "PATCH",
        f"{ORDER_HUB}/{command.record.erp_sales_order or ''}",
        {"CanceledFlag": True, "CancelReasonCode": "CUSTOMER_REQUEST"},
        headers=dict(ADF),
    )


def _return_order(command: CommandInput) -> OutboundRequest:
    """An RMA: an order of return lines, each referring to the original order, under our return number."""
    record = command.return_record
    buyer, currency = command.sale_buyer()
    system, _, original = (record.erp_sales_order or "").rpartition(":")
    lines = [
        {
            "SourceTransactionLineId": str(index + 1),
            "SourceTransactionLineNumber": str(index + 1),
            "SourceScheduleNumber": "1",
            "SourceTransactionScheduleId": "1",
            "ProductNumber": line.sku,
            "OrderedQuantity": line.quantity,
            "OrderedUOMCode": "Ea",
            "UnitSellingPrice": line.unit_price_minor / 100,
            "TransactionCategoryCode": "RETURN",
            "ReturnReasonCode": record.reason or "RETURN",
            "RequestedFulfillmentOrganizationCode": record.location,
            "DocumentReference": [
                {
                    "DocumentReferenceType": "ORIGINAL_SALES_ORDER",
                    "DocumentAdditionalIdentifier": system or SOURCE_SYSTEM,
                    "DocumentIdentifier": original or record.order_no,
                    "DocumentNumber": record.order_no,
                }
            ],
        }
        for index, line in enumerate(record.lines)
    ]
    body = {
        "SourceTransactionNumber": record.return_no,
        "SourceTransactionSystem": SOURCE_SYSTEM,
        "SourceTransactionId": record.return_no,
        "BusinessUnitName": BUSINESS_UNIT,
        "BuyingPartyNumber": buyer,
        "TransactionalCurrencyCode": currency,
        "SubmittedFlag": True,
        "lines": lines,
    }
    return OutboundRequest("POST", ORDER_HUB, body, headers=dict(ADF))


def _credit_memo(command: CommandInput) -> OutboundRequest:
    record = command.return_record
    buyer, currency = command.sale_buyer()
    lines = [
        {
            "LineNumber": index + 1,
            "ItemNumber": line.sku,
            "LineDescription": line.sku,
            "LineQuantityCredit": line.quantity,
            "UnitSellingPrice": -line.unit_price_minor / 100,
        }
        for index, line in enumerate(record.lines)
    ]
    body = {
        "BusinessUnit": BUSINESS_UNIT,
        "TransactionSource": "Manual",
        "TransactionType": "Credit Memo",
        "TransactionNumber": record.return_no,
        "CreditMemoCurrency": currency,
        "BillToCustomerNumber": buyer,
        "CreditMemoComments": f"Return {record.return_no} ({record.erp_return_order or 'no RMA'})",
        "receivablesCreditMemoLines": lines,
    }
    return OutboundRequest("POST", CREDIT_MEMOS, body, headers=dict(ADF))


def _credit_memo_id(answer: Answer) -> str:
    """The credit memo the look-up found, or the one the create made."""
    if answer.step == "lookup":
        found = found_field(answer.reply, "CustomerTransactionId")
        return found[0] if found else ""
    body = answer.reply.body if isinstance(answer.reply.body, dict) else {}
    return str(body.get("CustomerTransactionId", ""))


def _return_receipt(command: CommandInput) -> OutboundRequest | None:
    record = command.return_record
    restock = [line for line in record.lines if line.disposition == "restock"]
    if not restock or not record.erp_return_order:
        return None
    lines = [
        {
            "ReceiptSourceCode": "CUSTOMER",
            "SourceDocumentCode": "RMA",
            "TransactionType": "RECEIVE",
            "AutoTransactCode": "DELIVER",
            "RMANumber": record.erp_return_order,
            "OrganizationCode": record.location,
            "Subinventory": SUBINVENTORY,
            "ItemNumber": line.sku,
            "Quantity": line.quantity,
            "UnitOfMeasure": "Ea",
        }
        for line in restock
    ]
    body = {"ReceiptSourceCode": "CUSTOMER", "OrganizationCode": record.location, "lines": lines}
    return OutboundRequest("POST", RECEIPTS, body, headers=dict(ADF))


def _staged_transaction(command: CommandInput) -> OutboundRequest:
    """One warehouse adjustment as a miscellaneous receipt or issue, its reference kept for the look-up."""
    payload = command.message.payload
    delta = int(payload["delta"])
    body = {
        "OrganizationCode": str(payload["plant"]),
        "ItemNumber": str(payload["sku"]),
        "SubinventoryCode": SUBINVENTORY,
        "TransactionQuantity": delta,
        "TransactionUnitOfMeasure": "Ea",
        "TransactionTypeName": "Miscellaneous Receipt" if delta > 0 else "Miscellaneous Issue",
        "TransactionReference": str(payload["reference"]),
        "SourceCode": SOURCE_SYSTEM,
        "SourceHeaderId": str(payload["reference"]),
        "SourceLineId": "1",
        "TransactionMode": "ONLINE",
    }
    return OutboundRequest("POST", STAGED, body, headers=dict(ADF))


# ---- command specs (the ERP port; see adapters/registry.py) -----------------------------------------------

COMMANDS = (
    CommandSpec(
        "PostSalesOrder",
        Subject.ORDER,
        _sales_order,
        needs_order_doc=True,
        benign=already_exists,
        means=_sales_order_posted,
    ),
    CommandSpec("PostGoodsIssue", Subject.ORDER, _ship_confirm, benign=already_done),
    CommandSpec("CancelSalesOrder", Subject.ORDER, _cancel, benign=already_done),
    CommandSpec("ChangeSalesOrderPlant", Subject.ORDER, _plant_change, needs_order_doc=True),
    CommandSpec(
        "CreateCustomerReturn",
        Subject.RETURN,
        _return_order,
        benign=already_exists,
        means=lambda answer: ReturnMeant(
            ReturnEvent.AUTHORIZATION_POSTED,
            {"erp_return_order": order_key(answer.return_record.return_no)},
        ),
    ),
    CommandSpec(
        "CreateCreditMemoRequest",
        Subject.RETURN,
        _credit_memo,
        lookup=Lookup(
            lambda command: _query(CREDIT_MEMOS, "TransactionNumber", command.return_record.return_no),
            lambda reply: found_field(reply, "CustomerTransactionId"),
        ),
        means=lambda answer: ReturnMeant(
            ReturnEvent.CREDIT_MEMO_POSTED, {"erp_credit_memo": _credit_memo_id(answer)}
        ),
    ),
    CommandSpec(
        "PostReturnGoodsReceipt",
        Subject.RETURN,
        _return_receipt,
        benign=already_done,
        effect=Effect.RETURN_GOODS_BOOKED,
    ),
    CommandSpec(
        "PostGoodsMovement",
        Subject.PAYLOAD,
        _staged_transaction,
        lookup=Lookup(
            lambda command: _query(STAGED, "TransactionReference", command.payload("reference")),
            lambda reply: found_field(reply, "TransactionInterfaceId"),
            create_when_due=True,
        ),
    ),
)

DIALECT = ErpDialect("oracle_fusion", COMMANDS, stock_snapshot, parse_stock)
