"""Microsoft Dynamics 365 Finance & Supply Chain (OData data entities): the ``d365`` dialect of the mock ERP.

What the product does, and so what this mock does (reference: shared/reference/erp-dialects.md §2):

* A document is **a header entity and a line entity, each POSTed on its own, header first**
  (``SalesOrderHeadersV2`` then one ``SalesOrderLines`` per line). A lost reply between the steps leaves a
  header without lines in the ERP — the client must look the header up and add what is missing.
* The header exists once POSTed; its number comes from the number sequence, or from the client when the
  sequence is manual. A second POST with a number that exists breaks the entity key and is refused
  ("The record already exists"); a POST without a number is never refused, so it can duplicate.
* No upsert by reference: the client looks up first,
  ``GET /data/SalesOrderHeadersV2?$filter=CustomersOrderReference eq 'SHOP-1001'``.
* Errors are OData bodies ``{"error": {"code", "message", "innererror": {"message", "type", "stacktrace"}}}``.
* Service protection answers **429 "Too many requests" with Retry-After** (seconds).
* Returns are ``ReturnOrderHeaders``/``ReturnOrderLines``; the credit note is a free text invoice
  (``FreeTextInvoiceHeaders``/``FreeTextInvoiceLines``) with negative prices; stock is
  ``WarehousesOnHandV2`` (entity ``InventWarehouseOnHandV2Entity``), one row per item and warehouse.
* Shipping, cancelling and receiving are **bound actions** on the header entity, D365's OData way of
  running a business operation: ``POST .../SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='X')
  /Microsoft.Dynamics.DataEntities.PostPackingSlip`` issues what the lines reserved (status "Delivered",
  once: a second one is refused "already"), ``.../Cancel`` cancels the remainder (status "Canceled",
  reservations released) and ``ReturnOrderHeaders(...)/Microsoft.Dynamics.DataEntities.PostPackingSlip``
  books returned goods back into stock (once). A line moves to another warehouse by ``PATCH
  SalesOrderLines(dataAreaId=..,SalesOrderNumber=..,LineCreationSequenceNumber=n)``.
* An inventory adjustment is one ``POST InventoryAdjustmentJournalEntries`` line, booked as posted at
  once; the journal has no duplicate check, so a client looks it up by its ``Text`` first.

(unconfirmed) Documented: the header and line entities and their fields (MS entity docs, CDM), the
return order header entity (CDM ``ReturnOrderHeaderEntity``), ``InventWarehouseOnHandV2Entity``, the
OData error shape and service-protection 429. Not found in a vendor doc and so this mock's choice: the
``SalesOrderStatus`` words, the bound action names (standard D365 has none for packing slips over OData:
an integration adds them), the line key, the ``ReturnOrderLines``/``FreeTextInvoice*`` collection
names and fields, ``OriginalSalesOrderNumber`` on a return, ``CustomerRequisitionNumber`` carrying the
document a replacement order makes good, the adjustment entity's name and fields, ``Retry-After`` on
429, and every refusal text. ``$batch`` changesets are not offered: the documented pattern is header then
lines, single thread.

Rules kept: imports SimPy, the standard library and ``retailsim.systems`` only; numbers are counters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from retailsim.systems.base import Request, Response
from retailsim.systems.erp_base import Document, ErpSystem

DATA = "/data"
WRITE_EXCEPTION = "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException"
ACTIONS = "Microsoft.Dynamics.DataEntities"
ADJUSTMENTS = "InventoryAdjustmentJournalEntries"
_FILTER = re.compile(r"^(\w+) eq '([^']*)'$")
_KEY_PART = re.compile(r"^(\w+)=(?:'([^']*)'|(\d+))$")
# Header statuses (SalesStatus): an open order is "Backorder" in D365's words.
OPEN, DELIVERED, CANCELED = "Backorder", "Delivered", "Canceled"


@dataclass(frozen=True, slots=True)
class EntityPair:
    """One D365 document type: its header and line entities and the fields this mock reads."""

    headers: str
    lines: str
    number: str  # the header's key field (with dataAreaId)
    customer: str
    table: str  # how the duplicate-key message names the table
    quantity: str
    price: str
    prefix: str
    ledger: str  # which ErpSystem ledger books it: "order", "return" or "credit"


SALES = EntityPair(
    "SalesOrderHeadersV2",
    "SalesOrderLines",
    "SalesOrderNumber",
    "OrderingCustomerAccountNumber",
    "Sales orders (SalesTable)",
    "OrderedSalesQuantity",
    "SalesPrice",
    "SO-",
    "order",
)
RETURNS = EntityPair(
    "ReturnOrderHeaders",
    "ReturnOrderLines",
    "ReturnOrderNumber",
    "CustomerAccountNumber",
    "Return orders (SalesTable)",
    "ReturnQuantity",
    "SalesPrice",
    "RMA-",
    "return",
)
CREDIT_NOTES = EntityPair(
    "FreeTextInvoiceHeaders",
    "FreeTextInvoiceLines",
    "FreeTextNumber",
    "CustomerAccount",
    "Free text invoice (CustInvoiceTable)",
    "Quantity",
    "UnitPrice",
    "FTI-",
    "credit",
)
PAIRS = {pair.headers: pair for pair in (SALES, RETURNS, CREDIT_NOTES)} | {
    pair.lines: pair for pair in (SALES, RETURNS, CREDIT_NOTES)
}
_HEADERS = "|".join(pair.headers for pair in (SALES, RETURNS, CREDIT_NOTES))
_LINES = "|".join(pair.lines for pair in (SALES, RETURNS, CREDIT_NOTES))


class Dynamics365(ErpSystem):
    """D365 F&SCM OData entities: two-step documents, entity-key uniqueness, 429 + Retry-After."""

    dialect = "d365"
    sends_retry_after = True
    routes = (
        ("POST", rf"{DATA}/({_HEADERS})", "create_header"),
        ("GET", rf"{DATA}/({_HEADERS}|{_LINES})", "query_entities"),
        ("GET", rf"{DATA}/({_HEADERS})\((.*)\)", "get_header"),
        ("POST", rf"{DATA}/({_LINES})", "create_line"),
        ("PATCH", rf"{DATA}/SalesOrderLines\((.*)\)", "update_sales_order_line"),
        ("POST", rf"{DATA}/SalesOrderHeadersV2\((.*)\)/{ACTIONS}\.PostPackingSlip", "post_packing_slip"),
        ("POST", rf"{DATA}/SalesOrderHeadersV2\((.*)\)/{ACTIONS}\.Cancel", "cancel_sales_order"),
        ("POST", rf"{DATA}/ReturnOrderHeaders\((.*)\)/{ACTIONS}\.PostPackingSlip", "receive_return"),
        ("POST", rf"{DATA}/{ADJUSTMENTS}", "post_adjustment"),
        ("GET", rf"{DATA}/{ADJUSTMENTS}", "query_adjustments"),
        ("GET", rf"{DATA}/WarehousesOnHandV2", "warehouses_on_hand"),
    )

    def __init__(self, *args: Any, data_area: str = "usmf", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.data_area = data_area
        self.documents: dict[str, dict[tuple[str, str], Document]] = {
            pair.headers: {} for pair in PAIRS.values()
        }
        self.adjustments: list[Document] = []  # journal lines, in posting order

    # ---- the product's answers ------------------------------------------------------------------

    def error(self, status: int, code: str, message: str) -> Response:
        """D365's OData error: a generic outer message, the real reason in ``innererror``."""
        return Response(
            status,
            {
                "error": {
                    "code": "",
                    "message": "An error has occurred.",
                    "innererror": {
                        "message": message,
                        "type": WRITE_EXCEPTION if status == 400 else code,
                        "stacktrace": "",
                    },
                }
            },
        )

    def rate_limited(self, retry_after_s: float) -> Response:
        response = Response(
            429,
            {
                "error": {
                    "code": "429",
                    "message": "Too many requests. Number of requests exceeded the limit.",
                }
            },
        )
        return self.with_retry_after(response, retry_after_s)

    def unavailable(self) -> Response:
        return self.error(503, "ServiceUnavailable", "The service is temporarily unavailable.")

    # ---- documents ------------------------------------------------------------------------------------

    def _book(self, pair: EntityPair, reference: str, number: str, document: Document) -> None:
        book = {"order": self.book_order, "return": self.book_return, "credit": self.book_credit_memo}[
            pair.ledger
        ]
        book(reference, number, document)

    def create_header(self, request: Request, collection: str) -> Response:
        pair = PAIRS[collection]
        body = request.body if isinstance(request.body, dict) else {}
        missing = [field for field in ("dataAreaId", pair.customer) if not body.get(field)]
        if missing:
            return self.error(400, "", f"Field '{missing[0]}' must be filled in.")
        area = str(body["dataAreaId"])
        number = str(body.get(pair.number) or f"{pair.prefix}{self.next_number(pair.headers):06d}")
        if (area, number) in self.documents[collection]:
            return self.error(
                400,
                "",
                f"Write failed for table row of type '{collection}'. Infolog: Cannot create a record in "
                f"{pair.table}. {pair.number}: {number}, {area}. The record already exists.",
            )
        document = {
            "@odata.etag": f'W/"{self.next_number("etag")}"',
            **body,
            "dataAreaId": area,
            pair.number: number,
            "lines": [],
        }
        if pair is SALES:
            document["SalesOrderStatus"] = OPEN
        self.documents[collection][(area, number)] = document
        reference = str(body.get("CustomersOrderReference") or number)
        self._book(pair, reference, number, document)
        return Response(
            201,
            _public(document),
            {"Location": f"{DATA}/{collection}(dataAreaId='{area}',{pair.number}='{number}')"},
        )

    def _header(self, collection: str, key: str) -> Document | Response:
        """The header an entity key names, or the product's 404."""
        pair, fields = PAIRS[collection], _key_fields(key)
        document = self.documents[collection].get((fields.get("dataAreaId", ""), fields.get(pair.number, "")))
        if document is None:
            return self.error(404, "NotFound", f"No {collection} record matches the key ({key}).")
        return document

    def get_header(self, request: Request, collection: str, key: str) -> Response:
        document = self._header(collection, key)
        return document if isinstance(document, Response) else Response(200, _public(document))

    def query_entities(self, request: Request, collection: str) -> Response:
        pair = PAIRS[collection]
        match = _FILTER.match(request.query.get("$filter", ""))
        if not match:
            return self.error(400, "", "Only $filter=<Field> eq '<value>' is supported by this mock.")
        field, value = match.groups()
        cross_company = request.query.get("cross-company") == "true"
        rows: list[Document] = []
        for (area, _), document in self.documents[pair.headers].items():
            if not cross_company and area != self.data_area:
                continue
            candidates = document["lines"] if collection == pair.lines else [document]
            rows.extend(_public(row) for row in candidates if str(row.get(field)) == value)
        return Response(200, {"@odata.context": f"{DATA}/$metadata#{collection}", "value": rows})

    def create_line(self, request: Request, collection: str) -> Response:
        pair = PAIRS[collection]
        body = request.body if isinstance(request.body, dict) else {}
        area, number = str(body.get("dataAreaId", "")), str(body.get(pair.number, ""))
        header = self.documents[pair.headers].get((area, number))
        if header is None:
            return self.error(
                400, "", f"{pair.number} {number} does not exist in company {area or '(none)'}."
            )
        if header.get("SalesOrderStatus", OPEN) != OPEN:
            return self.error(
                400,
                "",
                f"Sales order {number} is {header['SalesOrderStatus'].lower()} and cannot be changed.",
            )
        item = str(body.get("ItemNumber", ""))
        if pair.ledger != "credit" and item not in {stocked for _, stocked in self.stock}:
            return self.error(400, "", f"Item number {item} does not exist.")
        try:
            quantity = int(float(body.get(pair.quantity, 0)))
            price = float(body.get(pair.price, 0))
        except (TypeError, ValueError):
            return self.error(400, "", f"Field '{pair.quantity}' or '{pair.price}' is not a number.")
        if quantity <= 0:
            return self.error(400, "", f"Field '{pair.quantity}' must be filled in.")
        sequence = str(body.get("LineCreationSequenceNumber") or len(header["lines"]) + 1)
        if any(line["LineCreationSequenceNumber"] == sequence for line in header["lines"]):
            return self.error(
                400,
                "",
                f"Write failed for table row of type '{collection}'. Infolog: Cannot create a record in "
                f"{pair.table}. Line: {sequence}. The record already exists.",
            )
        line = {**body, "LineCreationSequenceNumber": sequence, pair.quantity: quantity, pair.price: price}
        if pair is SALES:
            warehouse = str(body.get("ShippingWarehouseId") or header.get("DefaultShippingWarehouseId") or "")
            line["ShippingWarehouseId"] = warehouse
            line["ReservedQuantity"] = self.reserve(warehouse, item, quantity)
        header["lines"].append(line)
        return Response(201, dict(line))

    # ---- shipping, cancelling, moving and receiving ------------------------------------------------------

    def _open_order(self, key: str, verb: str) -> Document | Response:
        """The sales order an action runs on, or the refusal: "already" when it was done before (a replay)."""
        order = self._header(SALES.headers, key)
        if isinstance(order, Response):
            return order
        status, number = order["SalesOrderStatus"], order["SalesOrderNumber"]
        if status == DELIVERED:
            return self.error(
                400, "", f"Sales order {number} has already been delivered and cannot be {verb}."
            )
        if status == CANCELED:
            already = "already " if verb == "canceled" else ""
            return self.error(400, "", f"Sales order {number} is {already}canceled and cannot be {verb}.")
        return order

    def post_packing_slip(self, request: Request, key: str) -> Response:
        """Packing slip of the whole order: what each line reserved leaves stock (the goods issue), once."""
        order = self._open_order(key, "delivered")
        if isinstance(order, Response):
            return order
        if not order["lines"]:
            return self.error(400, "", f"Sales order {order['SalesOrderNumber']} has no lines to post.")
        for line in order["lines"]:
            self.issue(line["ShippingWarehouseId"], str(line["ItemNumber"]), line["ReservedQuantity"])
            line["DeliveredQuantity"] = line["ReservedQuantity"]
        order["SalesOrderStatus"] = DELIVERED
        slip = f"PS-{self.next_number('packing slip'):06d}"
        return Response(200, {"PackingSlipId": slip, "SalesOrderNumber": order["SalesOrderNumber"]})

    def cancel_sales_order(self, request: Request, key: str) -> Response:
        """Cancel the remainder of every line: reservations released, status "Canceled"."""
        order = self._open_order(key, "canceled")
        if isinstance(order, Response):
            return order
        for line in order["lines"]:
            self.release(line["ShippingWarehouseId"], str(line["ItemNumber"]), line["ReservedQuantity"])
            line["ReservedQuantity"] = 0
        order["SalesOrderStatus"] = CANCELED
        return Response(204, None)

    def update_sales_order_line(self, request: Request, key: str) -> Response:
        """Move a line to another warehouse (its reservation follows); the same warehouse again is a no-op."""
        fields = _key_fields(key)
        order = self._open_order(
            f"dataAreaId='{fields.get('dataAreaId', '')}',SalesOrderNumber='{fields.get('SalesOrderNumber', '')}'",
            "changed",
        )
        if isinstance(order, Response):
            return order
        sequence = fields.get("LineCreationSequenceNumber", "")
        line = next((line for line in order["lines"] if line["LineCreationSequenceNumber"] == sequence), None)
        if line is None:
            return self.error(404, "NotFound", f"No SalesOrderLines record matches the key ({key}).")
        body = request.body if isinstance(request.body, dict) else {}
        warehouse = str(body.get("ShippingWarehouseId", ""))
        if not warehouse:
            return self.error(400, "", "Field 'ShippingWarehouseId' must be filled in.")
        if warehouse != line["ShippingWarehouseId"]:
            item = str(line["ItemNumber"])
            self.release(line["ShippingWarehouseId"], item, line["ReservedQuantity"])
            line["ShippingWarehouseId"] = warehouse
            line["ReservedQuantity"] = self.reserve(warehouse, item, line[SALES.quantity])
        return Response(204, None)

    def receive_return(self, request: Request, key: str) -> Response:
        """The return order's packing slip: the goods named in the body back into stock, once."""
        document = self._header(RETURNS.headers, key)
        if isinstance(document, Response):
            return document
        if document.get("Received"):
            return self.error(
                400, "", f"Return order {document['ReturnOrderNumber']} has already been received."
            )
        body = request.body if isinstance(request.body, dict) else {}
        lines = body.get("Lines")
        try:
            receipts = [
                (str(line["InventoryWarehouseId"]), str(line["ItemNumber"]), int(line["ReceivedQuantity"]))
                for line in lines or ()
            ]
        except (KeyError, TypeError, ValueError):
            receipts = []
        if not receipts:
            return self.error(400, "", "Field 'Lines' must be filled in.")
        for warehouse, item, quantity in receipts:
            self.restock(warehouse, item, quantity)
        document["Received"] = True
        return Response(200, {"PackingSlipId": f"RPS-{self.next_number('return slip'):06d}"})

    # ---- stock ------------------------------------------------------------------------------------------

    def post_adjustment(self, request: Request) -> Response:
        """One inventory adjustment journal line, posted at once: on hand moves by its signed quantity.
        No duplicate check (a repeat moves stock again): the ``Text`` carries the client's reference."""
        body = request.body if isinstance(request.body, dict) else {}
        try:
            warehouse, item = str(body["InventoryWarehouseId"]), str(body["ItemNumber"])
            quantity = int(float(body["InventoryQuantity"]))
        except (KeyError, TypeError, ValueError):
            return self.error(
                400, "", "Fields 'ItemNumber', 'InventoryWarehouseId', 'InventoryQuantity' are required."
            )
        if not body.get("dataAreaId") or quantity == 0:
            return self.error(400, "", "Field 'dataAreaId' or 'InventoryQuantity' must be filled in.")
        journal = f"IAJ-{self.next_number('adjustment'):06d}"
        line = {**body, "JournalNumber": journal, "LineNumber": 1, "InventoryQuantity": quantity}
        self.adjust(warehouse, item, quantity)
        self.adjustments.append(line)
        return Response(201, dict(line))

    def query_adjustments(self, request: Request) -> Response:
        match = _FILTER.match(request.query.get("$filter", ""))
        if not match:
            return self.error(400, "", "Only $filter=<Field> eq '<value>' is supported by this mock.")
        field, value = match.groups()
        rows = [dict(line) for line in self.adjustments if str(line.get(field)) == value]
        return Response(200, {"@odata.context": f"{DATA}/$metadata#{ADJUSTMENTS}", "value": rows})

    def warehouses_on_hand(self, request: Request) -> Response:
        """On hand per item and warehouse: every row, or one item's with ``$filter=ItemNumber eq '...'``."""
        wanted: str | None = None
        if "$filter" in request.query:
            match = _FILTER.match(request.query["$filter"])
            if not match or match.group(1) != "ItemNumber":
                return self.error(400, "", "Only $filter=ItemNumber eq '<item>' is supported by this mock.")
            wanted = match.group(2)
        rows = [
            {
                "dataAreaId": self.data_area,
                "ItemNumber": item,
                "InventorySiteId": warehouse,
                "InventoryWarehouseId": warehouse,
                "OnHandQuantity": position["on_hand"],
                "ReservedOnHandQuantity": position["reserved"],
                "AvailableOnHandQuantity": position["on_hand"] - position["reserved"],
            }
            for (warehouse, item), position in sorted(self.stock.items())
            if wanted is None or item == wanted
        ]
        return Response(200, {"@odata.context": f"{DATA}/$metadata#WarehousesOnHandV2", "value": rows})

    # ---- the ledgers in the harness's words --------------------------------------------------------

    def order_state(self, number: str) -> str:
        status = self.sales_orders[number]["SalesOrderStatus"]
        return {CANCELED: "cancelled", DELIVERED: "completed"}.get(status, "open")

    def replaced_document(self, number: str) -> str | None:
        replaces = self.sales_orders[number].get("CustomerRequisitionNumber")
        return str(replaces) if replaces else None

    def returns_of_order(self, number: str) -> list[str]:
        return [
            str(document.get("CustomersOrderReference") or document["ReturnOrderNumber"])
            for document in self.return_authorisations.values()
            if document.get("OriginalSalesOrderNumber") == number
        ]


def _key_fields(key: str) -> dict[str, str]:
    """An entity key's fields: ``dataAreaId='usmf',SalesOrderNumber='X',LineCreationSequenceNumber=1``."""
    fields: dict[str, str] = {}
    for part in key.split(","):
        match = _KEY_PART.match(part.strip())
        if match is None:
            return {}
        fields[match.group(1)] = match.group(2) if match.group(2) is not None else match.group(3)
    return fields


def _public(document: Document) -> Document:
    """A header as the entity returns it: its own fields, not the lines this mock keeps beside it."""
    return {key: value for key, value in document.items() if key != "lines"}
