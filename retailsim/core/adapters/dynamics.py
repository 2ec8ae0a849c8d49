"""Microsoft Dynamics 365 Finance & Supply Chain (OData data entities) behind the ERP port: the ``d365`` dialect.

D365's documents take several requests — a header entity, then one POST per line entity (header first,
single thread: the documented pattern for ``SalesOrderHeadersV2``/``SalesOrderLines``) — and a header
POST has no duplicate check (its number comes from the number sequence), so the adapter keeps two rules:

* **look up before (re)creating**: a retried header create asks
  ``GET /data/SalesOrderHeadersV2?$filter=CustomersOrderReference eq '{our number}'`` first (the
  dispatcher's :class:`Lookup`), and the same for return orders and credit notes;
* **every line is a step of its own**, in a chain: the header's accepted reply (created, or found by the
  look-up) leaves a follow-up command for line 1 (:class:`FollowUp`, appended in the transaction that
  accepts the reply), line 1's leaves line 2, and so on; only the last line's reply means the document
  is posted (``SALES_ORDER_POSTED`` with the header's number, ``AUTHORIZATION_POSTED``,
  ``CREDIT_MEMO_POSTED``). So nothing the order's next state sends to the ERP (its goods issue, a cancel,
  a plant change) can overtake a line, and a line refused for good (dead-lettered, replayed later) holds
  the document back as SAP's refused create does. A line carries its ``LineCreationSequenceNumber``, the
  line's key: a line made by an attempt whose reply was lost is refused "already exists" — benign. So a
  crash or a lost reply between the header and its lines completes the document; it never duplicates it.

One request per line rather than an OData ``$batch`` changeset: D365 accepts ``$batch``, but the
entity docs prescribe header then lines single-threaded, and whether a changeset's lines see the header
number its first request draws is not documented (unconfirmed) — separate steps need no such promise.

Shipping, cancelling and a return's receipt are
bound actions (``.../Microsoft.Dynamics.DataEntities.PostPackingSlip``, ``.../Cancel``), refused
"already" when done before — benign. Throttling is service protection's 429 with ``Retry-After``, which
the dispatcher honours as it is (``http.judge``); errors are OData bodies whose ``innererror`` says why.

(unconfirmed) See systems/dynamics.py for which names are documented: the action names, the line key,
the return/credit-note line entities and fields, the adjustment journal entity and its ``Text`` field,
and ``CustomerRequisitionNumber`` carrying the document a replacement order makes good. The company
(``dataAreaId``) is a constant: one legal entity per deployment.

Rules kept: pure request builders and reply readers (no store, no clock); the rendered request gets the
correlation id from the dispatcher.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from retailsim.core.adapters.http import OutboundRequest, Reply
from retailsim.core.adapters.spec import (
    Answer,
    CommandInput,
    CommandSpec,
    Effect,
    ErpDialect,
    FollowUp,
    Lookup,
    Meaning,
    OrderMeant,
    ReturnMeant,
    Subject,
)
from retailsim.core.workflows.order_to_cash import OrderEvent
from retailsim.core.workflows.return_to_refund import ReturnEvent

DATA = "/data"
ACTIONS = "Microsoft.Dynamics.DataEntities"
COMPANY = "usmf"
ADJUSTMENTS = f"{DATA}/InventoryAdjustmentJournalEntries"


@dataclass(frozen=True, slots=True)
class Entities:
    """One D365 document type as the adapter writes it: header and line entities, the header's number
    field, and the follow-up command kind that adds one of its lines."""

    headers: str
    lines: str
    number: str
    customer: str
    quantity: str
    price: str
    line_kind: str


SALES_ORDER = Entities(
    "SalesOrderHeadersV2",
    "SalesOrderLines",
    "SalesOrderNumber",
    "OrderingCustomerAccountNumber",
    "OrderedSalesQuantity",
    "SalesPrice",
    "PostSalesOrderLine",
)
RETURN_ORDER = Entities(
    "ReturnOrderHeaders",
    "ReturnOrderLines",
    "ReturnOrderNumber",
    "CustomerAccountNumber",
    "ReturnQuantity",
    "SalesPrice",
    "CreateReturnOrderLine",
)
CREDIT_NOTE = Entities(
    "FreeTextInvoiceHeaders",
    "FreeTextInvoiceLines",
    "FreeTextNumber",
    "CustomerAccount",
    "Quantity",
    "UnitPrice",
    "CreateFreeTextInvoiceLine",
)


# ---- reply readers ------------------------------------------------------------------------------------


def _body(reply: Reply) -> dict[str, Any]:
    return reply.body if isinstance(reply.body, dict) else {}


def error_message(reply: Reply) -> str:
    """The reason D365 gives: ``innererror.message`` (the outer message is a generic one)."""
    error = _body(reply).get("error")
    if not isinstance(error, dict):
        return ""
    inner = error.get("innererror")
    return str(inner.get("message", "")) if isinstance(inner, dict) else str(error.get("message", ""))


def already_done(reply: Reply) -> bool:
    """The refusal of a step that was done before: a line that exists, a packing slip or cancel posted."""
    text = error_message(reply).lower()
    return reply.status == 400 and ("already" in text)


def found_numbers(field: str) -> Callable[[Reply], list[str]]:
    """The document numbers a ``$filter`` query found (sorted: the first is the oldest)."""

    def found(reply: Reply) -> list[str]:
        rows = _body(reply).get("value", [])
        return sorted(str(row[field]) for row in rows if isinstance(row, dict) and field in row)

    return found


def _document_number(answer: Answer, entities: Entities) -> str:
    """The header the look-up found, or the one the create made."""
    if answer.step == "lookup":
        found = found_numbers(entities.number)(answer.reply)
        return found[0] if found else ""
    return str(_body(answer.reply).get(entities.number, ""))


def parse_stock(reply: Reply) -> list[tuple[str, str, int]]:
    """(item, warehouse, on hand) rows of ``WarehousesOnHandV2``."""
    return [
        (str(row["ItemNumber"]), str(row["InventoryWarehouseId"]), int(float(row["OnHandQuantity"])))
        for row in _body(reply).get("value", [])
        if isinstance(row, dict)
    ]


# ---- request builders -----------------------------------------------------------------------------------


def stock_snapshot() -> OutboundRequest:
    return OutboundRequest("GET", f"{DATA}/WarehousesOnHandV2")


def find_by_reference(entities: Entities, our_number: str) -> OutboundRequest:
    """The headers that carry our number in ``CustomersOrderReference`` (D365 has no upsert by it)."""
    return OutboundRequest(
        "GET", f"{DATA}/{entities.headers}", query={"$filter": f"CustomersOrderReference eq '{our_number}'"}
    )


def header_key(entities: Entities, number: str) -> str:
    return f"{DATA}/{entities.headers}(dataAreaId='{COMPANY}',{entities.number}='{number}')"


def _header(
    entities: Entities, customer: str, currency: str, our_number: str, **fields: Any
) -> OutboundRequest:
    """A header without a number (the number sequence draws one), our number as its reference."""
    body = {
        "dataAreaId": COMPANY,
        entities.customer: customer,
        "CurrencyCode": currency,
        "CustomersOrderReference": our_number,
        **fields,
    }
    return OutboundRequest("POST", f"{DATA}/{entities.headers}", body)


def _line(entities: Entities, number: str, sequence: int, item: str, quantity: int, price: float,
          **fields: Any) -> OutboundRequest:  # fmt: skip
    """One line under its key (``LineCreationSequenceNumber``): a repeat is refused, never doubled."""
    body = {
        "dataAreaId": COMPANY,
        entities.number: number,
        "LineCreationSequenceNumber": str(sequence),
        "ItemNumber": item,
        entities.quantity: quantity,
        entities.price: price,
        **fields,
    }
    return OutboundRequest("POST", f"{DATA}/{entities.lines}", body)


def _first_line(entities: Entities, count: Callable[[Answer], int]) -> Callable[[Answer], list[FollowUp]]:
    """An accepted header (created, or found by the look-up) leaves its first line to add."""

    def follow_ups(answer: Answer) -> list[FollowUp]:
        lines = count(answer)
        number = _document_number(answer, entities)
        return [FollowUp(entities.line_kind, {"document": number, "line": 1, "of": lines})] if lines else []

    return follow_ups


def _next_line(answer: Answer) -> list[FollowUp]:
    """An accepted line (or one that was there already) leaves the next, until the last."""
    payload = answer.message.payload
    line, lines = int(payload["line"]), int(payload["of"])
    return [FollowUp(answer.message.kind, {**payload, "line": line + 1})] if line < lines else []


def _when_complete(meant: Callable[[Answer, str], Meaning]) -> Callable[[Answer], Meaning | None]:
    """The document's meaning once its last line is in, with the header's number."""

    def means(answer: Answer) -> Meaning | None:
        payload = answer.message.payload
        return meant(answer, str(payload["document"])) if int(payload["line"]) >= int(payload["of"]) else None

    return means


# ---- sales orders -------------------------------------------------------------------------------------


def _sales_order(command: CommandInput) -> OutboundRequest:
    record, order = command.record, command.order_doc
    assert order is not None
    plant = command.context.sales_order_plant(record)
    fields: dict[str, Any] = {"DefaultShippingSiteId": plant, "DefaultShippingWarehouseId": plant}
    if record.erp_reference is not None:
        fields["CustomerRequisitionNumber"] = record.erp_reference  # the document this one makes good
    return _header(SALES_ORDER, order.customer.customer_id, order.currency, order.order_no, **fields)


def _sales_order_line(command: CommandInput) -> OutboundRequest:
    order, sequence = command.order_doc, int(command.message.payload["line"])
    assert order is not None
    line, plant = order.lines[sequence - 1], command.context.sales_order_plant(command.record)
    return _line(SALES_ORDER, command.payload("document"), sequence, line.sku, line.quantity,
                 line.unit_price_minor / 100, ShippingSiteId=plant, ShippingWarehouseId=plant)  # fmt: skip


def _sales_order_posted(answer: Answer, number: str) -> OrderMeant:
    event = OrderEvent.SALES_ORDER_POSTED_SHORT if answer.record.short else OrderEvent.SALES_ORDER_POSTED
    return OrderMeant(event, {"erp_sales_order": number, "posted_at": answer.now})


def _order_action(action: str) -> Callable[[CommandInput], OutboundRequest]:
    def render(command: CommandInput) -> OutboundRequest:
        path = f"{header_key(SALES_ORDER, command.record.erp_sales_order or '')}/{ACTIONS}.{action}"
        return OutboundRequest("POST", path, {})

    return render


def _plant_change(command: CommandInput) -> OutboundRequest | None:
    record, location = command.record, command.payload("location")
    if location != record.location or not record.erp_sales_order:
        return None  # rerouted since (this warehouse is no longer the order's), or nothing posted to move
    line = int(command.payload("item")) // 10  # the core numbers items 10 × line
    key = f"dataAreaId='{COMPANY}',SalesOrderNumber='{record.erp_sales_order}',LineCreationSequenceNumber={line}"
    return OutboundRequest(
        "PATCH",
        f"{DATA}/SalesOrderLines({key})",
        {"ShippingSiteId": location, "ShippingWarehouseId": location},
    )


# ---- returns and credit notes ---------------------------------------------------------------------------


def _return_order(command: CommandInput) -> OutboundRequest:
    record = command.return_record
    customer, currency = command.sale_buyer()
    return _header(RETURN_ORDER, customer, currency, record.return_no,
                   OriginalSalesOrderNumber=record.erp_sales_order or "",
                   ReturnReasonCodeId=record.reason or "R01", InventoryWarehouseId=record.location)  # fmt: skip


def _credit_note(command: CommandInput) -> OutboundRequest:
    record = command.return_record
    customer, currency = command.sale_buyer()
    return _header(CREDIT_NOTE, customer, currency, record.return_no,
                   ReturnOrderNumber=record.erp_return_order or "")  # fmt: skip


def _return_line(entities: Entities, sign: int) -> Callable[[CommandInput], OutboundRequest]:
    """A return order line (the price as sold) or a credit note line (the price negated)."""

    def render(command: CommandInput) -> OutboundRequest:
        sequence = int(command.message.payload["line"])
        line = command.return_record.lines[sequence - 1]
        return _line(entities, command.payload("document"), sequence, line.sku, line.quantity,
                     sign * line.unit_price_minor / 100)  # fmt: skip

    return render


def _return_receipt(command: CommandInput) -> OutboundRequest | None:
    record = command.return_record
    restock = [
        {"ItemNumber": line.sku, "ReceivedQuantity": line.quantity, "InventoryWarehouseId": record.location}
        for line in record.lines
        if line.disposition == "restock"
    ]
    if not restock or not record.erp_return_order:
        return None
    path = f"{header_key(RETURN_ORDER, record.erp_return_order)}/{ACTIONS}.PostPackingSlip"
    return OutboundRequest("POST", path, {"Lines": restock})


def _return_lines(answer: Answer) -> int:
    return len(answer.return_record.lines)


def _authorised(answer: Answer, number: str) -> ReturnMeant:
    return ReturnMeant(ReturnEvent.AUTHORIZATION_POSTED, {"erp_return_order": number})


def _credited(answer: Answer, number: str) -> ReturnMeant:
    return ReturnMeant(ReturnEvent.CREDIT_MEMO_POSTED, {"erp_credit_memo": number})


# ---- inventory adjustments -------------------------------------------------------------------------------


def _adjustment(command: CommandInput) -> OutboundRequest:
    """One adjustment journal line; the warehouse's reference in ``Text`` is what a retry looks up."""
    payload = command.message.payload
    plant = str(payload["plant"])
    body = {
        "dataAreaId": COMPANY,
        "JournalNameId": "IAdj",
        "ItemNumber": str(payload["sku"]),
        "InventorySiteId": plant,
        "InventoryWarehouseId": plant,
        "InventoryQuantity": int(payload["delta"]),
        "Text": str(payload["reference"]),
    }
    return OutboundRequest("POST", ADJUSTMENTS, body)


def find_adjustment(reference: str) -> OutboundRequest:
    return OutboundRequest("GET", ADJUSTMENTS, query={"$filter": f"Text eq '{reference}'"})


# ---- command specs (the ERP port; see adapters/registry.py) -----------------------------------------------


def _line_step(
    entities: Entities,
    subject: Subject,
    render: Callable[[CommandInput], OutboundRequest],
    meant: Callable[[Answer, str], Meaning],
    needs_order_doc: bool = False,
) -> CommandSpec:
    """A line of a multi-request document: a repeat after a lost reply is refused "already exists" (benign);
    each line leaves the next, and the last one says what the whole document means."""
    return CommandSpec(
        entities.line_kind,
        subject,
        render,
        needs_order_doc=needs_order_doc,
        benign=already_done,
        means=_when_complete(meant),
        follow_ups=_next_line,
    )


COMMANDS = (
    CommandSpec(
        "PostSalesOrder",
        Subject.ORDER,
        _sales_order,
        needs_order_doc=True,
        lookup=Lookup(
            lambda command: find_by_reference(SALES_ORDER, command.record.order_no),
            found_numbers(SALES_ORDER.number),
        ),
        follow_ups=_first_line(SALES_ORDER, lambda answer: len(answer.record.lines)),
    ),
    _line_step(SALES_ORDER, Subject.ORDER, _sales_order_line, _sales_order_posted, needs_order_doc=True),
    CommandSpec("PostGoodsIssue", Subject.ORDER, _order_action("PostPackingSlip"), benign=already_done),
    CommandSpec("CancelSalesOrder", Subject.ORDER, _order_action("Cancel"), benign=already_done),
    CommandSpec("ChangeSalesOrderPlant", Subject.ORDER, _plant_change),
    CommandSpec(
        "CreateCustomerReturn",
        Subject.RETURN,
        _return_order,
        lookup=Lookup(
            lambda command: find_by_reference(RETURN_ORDER, command.return_record.return_no),
            found_numbers(RETURN_ORDER.number),
        ),
        follow_ups=_first_line(RETURN_ORDER, _return_lines),
    ),
    _line_step(RETURN_ORDER, Subject.RETURN, _return_line(RETURN_ORDER, 1), _authorised),
    CommandSpec(
        "CreateCreditMemoRequest",
        Subject.RETURN,
        _credit_note,
        lookup=Lookup(
            lambda command: find_by_reference(CREDIT_NOTE, command.return_record.return_no),
            found_numbers(CREDIT_NOTE.number),
        ),
        follow_ups=_first_line(CREDIT_NOTE, _return_lines),
    ),
    _line_step(CREDIT_NOTE, Subject.RETURN, _return_line(CREDIT_NOTE, -1), _credited),
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
        _adjustment,
        lookup=Lookup(
            lambda command: find_adjustment(command.payload("reference")),
            found_numbers("JournalNumber"),
            create_when_due=True,
        ),
    ),
)

DIALECT = ErpDialect(
    "d365",
    COMMANDS,
    stock_snapshot,
    parse_stock,
    step_kinds=frozenset(entities.line_kind for entities in (SALES_ORDER, RETURN_ORDER, CREDIT_NOTE)),
)
