"""Oracle NetSuite (SuiteTalk REST record API) behind the ERP port: the ``netsuite`` ERP dialect.

NetSuite's own idempotency is the external id, and the adapter leans on it rather than on look-ups:

* sales orders and inventory adjustments are **upserts** (``PUT .../{type}/eid:{our number}``): a retry
  after a lost reply updates the record the first attempt made, so no look-up is needed (``lookup=None``);
* return authorisations and credit memos are made by ``!transform`` from their source document, which has
  no upsert: they carry our return number as ``externalId`` (a second one is refused), and a retry looks
  the record up by it first (``GET .../{type}?q=externalId IS "..."``);
* fulfilment, return receipts and closing an order are refused "already ..." when done before — benign.

Its error judgement: bodies are RFC 7807-like with ``o:errorDetails``; concurrency governance answers 429
(or, RESTlet-style, 400 ``SSS_REQUEST_LIMIT_EXCEEDED``, see ``http.judge``), mostly without Retry-After,
so the core's own back-off paces the retry. Created records answer 204 with the new URL in ``Location``:
the internal id is its last segment.

The canonical commands are unchanged: ``ChangeSalesOrderPlant`` names the item as the core numbers it
(``10 × line``), which is NetSuite's line ``n``. (unconfirmed) The ``itemReceipt`` transform, the
``inventory`` sublist name of an adjustment and the ``inventorybalance`` SuiteQL table (see
systems/netsuite.py for what is confirmed); an adjustment's ``account`` (required by NetSuite, an
account's own choice) is left out. ``custbody_replaces`` is an account's custom field.

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
from retailsim.core.workflows.order_to_cash import OrderEvent
from retailsim.core.workflows.return_to_refund import ReturnEvent

RECORD = "/services/rest/record/v1"
SUITEQL = "/services/rest/query/v1/suiteql"
STOCK_QUERY = "SELECT item, location, quantityonhand FROM inventorybalance"


# ---- reply readers ------------------------------------------------------------------------------------


def created_id(reply: Reply) -> str | None:
    """The internal id of the record a create, upsert or transform made (last segment of ``Location``)."""
    location = reply.headers.get("Location")
    return location.rsplit("/", 1)[-1] if location else None


def found_ids(reply: Reply) -> list[str]:
    """The internal ids a record query (``?q=...``) found."""
    body = reply.body if isinstance(reply.body, dict) else {}
    return sorted(str(row["id"]) for row in body.get("items", []) if isinstance(row, dict) and "id" in row)


def error_details(reply: Reply) -> list[str]:
    body = reply.body if isinstance(reply.body, dict) else {}
    details = body.get("o:errorDetails", [])
    return (
        [str(d.get("detail", "")) for d in details if isinstance(d, dict)]
        if isinstance(details, list)
        else []
    )


def already_done(reply: Reply) -> bool:
    """NetSuite's refusal of a fulfilment, receipt or close that was already made (a replayed command)."""
    return reply.status == 400 and any("already" in detail.lower() for detail in error_details(reply))


def parse_stock(reply: Reply) -> list[tuple[str, str, int]]:
    """(item, location, on hand) rows of the SuiteQL stock snapshot."""
    body = reply.body if isinstance(reply.body, dict) else {}
    return [
        (str(row["item"]), str(row["location"]), int(float(row["quantityonhand"])))
        for row in body.get("items", [])
        if isinstance(row, dict)
    ]


# ---- request builders -----------------------------------------------------------------------------------


def stock_snapshot() -> OutboundRequest:
    return OutboundRequest("POST", SUITEQL, {"q": STOCK_QUERY}, headers={"Prefer": "transient"})


def find_by_external_id(record_type: str, external_id: str) -> OutboundRequest:
    return OutboundRequest("GET", f"{RECORD}/{record_type}", query={"q": f'externalId IS "{external_id}"'})


def _sales_order(command: CommandInput) -> OutboundRequest:
    """Upsert the order under our order number; the customer's currency applies (none is sent)."""
    record, order = command.record, command.order_doc
    assert order is not None
    location = command.context.sales_order_plant(record)
    body: dict[str, Any] = {
        "entity": {"id": order.customer.customer_id},
        "otherRefNum": order.order_no,
        "location": {"id": location},
        "item": {
            "items": [
                {
                    "item": {"id": line.sku},
                    "quantity": line.quantity,
                    "rate": line.unit_price_minor / 100,
                    "location": {"id": location},
                }
                for line in order.lines
            ]
        },
    }
    if record.erp_reference is not None:
        body["custbody_replaces"] = {"id": record.erp_reference}
    return OutboundRequest("PUT", f"{RECORD}/salesOrder/eid:{order.order_no}", body)


def _sales_order_posted(answer: Answer) -> OrderMeant:
    event = OrderEvent.SALES_ORDER_POSTED_SHORT if answer.record.short else OrderEvent.SALES_ORDER_POSTED
    return OrderMeant(event, {"erp_sales_order": created_id(answer.reply) or "", "posted_at": answer.now})


def _fulfilment(command: CommandInput) -> OutboundRequest:
    return OutboundRequest(
        "POST", f"{RECORD}/salesOrder/{command.record.erp_sales_order or ''}/!transform/itemFulfillment", {}
    )


def _update_lines(command: CommandInput, lines: list[dict[str, Any]]) -> OutboundRequest:
    return OutboundRequest(
        "PATCH", f"{RECORD}/salesOrder/{command.record.erp_sales_order or ''}", {"item": {"items": lines}}
    )


def _close(command: CommandInput) -> OutboundRequest:
    """Close every line: NetSuite's cancel of an approved order (it releases the commitments)."""
    order = command.order_doc
    assert order is not None
    return _update_lines(command, [{"line": n + 1, "isClosed": True} for n in range(len(order.lines))])


def _plant_change(command: CommandInput) -> OutboundRequest | None:
    record, location = command.record, command.payload("location")
    if location != record.location or not record.erp_sales_order:
        return None  # rerouted since (this location is no longer the order's), or nothing posted to move
    line = int(command.payload("item")) // 10
    return _update_lines(command, [{"line": line, "location": {"id": location}}])


def _transform_body(command: CommandInput) -> dict[str, Any]:
    record = command.return_record
    return {
        "externalId": record.return_no,
        "otherRefNum": record.return_no,
        "item": {
            "items": [
                {"item": {"id": line.sku}, "quantity": line.quantity, "rate": line.unit_price_minor / 100}
                for line in record.lines
            ]
        },
    }


def _return_authorisation(command: CommandInput) -> OutboundRequest:
    source = command.return_record.erp_sales_order or ""
    path = f"{RECORD}/salesOrder/{source}/!transform/returnAuthorization"
    return OutboundRequest("POST", path, _transform_body(command))


def _credit_memo(command: CommandInput) -> OutboundRequest:
    source = command.return_record.erp_return_order or ""
    path = f"{RECORD}/returnAuthorization/{source}/!transform/creditMemo"
    return OutboundRequest("POST", path, _transform_body(command))


def _record_id(answer: Answer) -> str:
    """The record the look-up found, or the one the transform made."""
    if answer.step == "lookup":
        found = found_ids(answer.reply)
        return found[0] if found else ""
    return created_id(answer.reply) or ""


def _return_receipt(command: CommandInput) -> OutboundRequest | None:
    record = command.return_record
    restock = [
        {"item": {"id": line.sku}, "quantity": line.quantity, "location": {"id": record.location}}
        for line in record.lines
        if line.disposition == "restock"
    ]
    if not restock or not record.erp_return_order:
        return None
    path = f"{RECORD}/returnAuthorization/{record.erp_return_order}/!transform/itemReceipt"
    return OutboundRequest("POST", path, {"item": {"items": restock}})


def _inventory_adjustment(command: CommandInput) -> OutboundRequest:
    """Upsert the adjustment under the warehouse's reference: a retry moves no stock twice."""
    payload = command.message.payload
    plant = str(payload["plant"])
    line = {
        "item": {"id": str(payload["sku"])},
        "location": {"id": plant},
        "adjustQtyBy": int(payload["delta"]),
    }
    body = {"adjLocation": {"id": plant}, "memo": str(payload["reference"]), "inventory": {"items": [line]}}
    return OutboundRequest("PUT", f"{RECORD}/inventoryAdjustment/eid:{payload['reference']}", body)


# ---- command specs (the ERP port; see adapters/registry.py) -----------------------------------------------

COMMANDS = (
    CommandSpec(
        "PostSalesOrder", Subject.ORDER, _sales_order, needs_order_doc=True, means=_sales_order_posted
    ),
    CommandSpec("PostGoodsIssue", Subject.ORDER, _fulfilment, benign=already_done),
    CommandSpec("CancelSalesOrder", Subject.ORDER, _close, needs_order_doc=True, benign=already_done),
    CommandSpec("ChangeSalesOrderPlant", Subject.ORDER, _plant_change),
    CommandSpec(
        "CreateCustomerReturn",
        Subject.RETURN,
        _return_authorisation,
        lookup=Lookup(
            lambda command: find_by_external_id("returnAuthorization", command.return_record.return_no),
            found_ids,
        ),
        means=lambda answer: ReturnMeant(
            ReturnEvent.AUTHORIZATION_POSTED, {"erp_return_order": _record_id(answer)}
        ),
    ),
    CommandSpec(
        "CreateCreditMemoRequest",
        Subject.RETURN,
        _credit_memo,
        lookup=Lookup(
            lambda command: find_by_external_id("creditMemo", command.return_record.return_no), found_ids
        ),
        means=lambda answer: ReturnMeant(
            ReturnEvent.CREDIT_MEMO_POSTED, {"erp_credit_memo": _record_id(answer)}
        ),
    ),
    CommandSpec(
        "PostReturnGoodsReceipt",
        Subject.RETURN,
        _return_receipt,
        benign=already_done,
        effect=Effect.RETURN_GOODS_BOOKED,
    ),
    CommandSpec("PostGoodsMovement", Subject.PAYLOAD, _inventory_adjustment),
)

DIALECT = ErpDialect("netsuite", COMMANDS, stock_snapshot, parse_stock)
