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
  ``WarehousesOnHandV2`` (entity ``InventWarehouseOnHandV2Entity``).

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
_FILTER = re.compile(r"^(\w+) eq '([^']*)'$")
_KEY = re.compile(r"^dataAreaId='([^']*)',(\w+)='([^']*)'$")


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
        ("GET", rf"{DATA}/WarehousesOnHandV2", "warehouses_on_hand"),
    )

    def __init__(self, *args: Any, data_area: str = "usmf", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.data_area = data_area
        self.documents: dict[str, dict[tuple[str, str], Document]] = {
            pair.headers: {} for pair in PAIRS.values()
        }

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
        self.documents[collection][(area, number)] = document
        reference = str(body.get("CustomersOrderReference") or number)
        self._book(pair, reference, number, document)
        return Response(
            201,
            _public(document),
            {"Location": f"{DATA}/{collection}(dataAreaId='{area}',{pair.number}='{number}')"},
        )

    def get_header(self, request: Request, collection: str, key: str) -> Response:
        pair = PAIRS[collection]
        match = _KEY.match(key)
        document = None
        if match and match.group(2) == pair.number:
            document = self.documents[collection].get((match.group(1), match.group(3)))
        if document is None:
            return self.error(404, "NotFound", f"No {collection} record matches the key ({key}).")
        return Response(200, _public(document))

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

    # ---- stock ------------------------------------------------------------------------------------------

    def warehouses_on_hand(self, request: Request) -> Response:
        match = _FILTER.match(request.query.get("$filter", ""))
        if not match or match.group(1) != "ItemNumber":
            return self.error(400, "", "Only $filter=ItemNumber eq '<item>' is supported by this mock.")
        rows = [
            {
                "dataAreaId": self.data_area,
                "ItemNumber": match.group(2),
                "InventorySiteId": warehouse,
                "InventoryWarehouseId": warehouse,
                "OnHandQuantity": on_hand,
                "ReservedOnHandQuantity": reserved,
                "AvailableOnHandQuantity": on_hand - reserved,
            }
            for warehouse, on_hand, reserved in self.on_hand(match.group(2))
        ]
        return Response(200, {"@odata.context": f"{DATA}/$metadata#WarehousesOnHandV2", "value": rows})


def _public(document: Document) -> Document:
    """A header as the entity returns it: its own fields, not the lines this mock keeps beside it."""
    return {key: value for key, value in document.items() if key != "lines"}
