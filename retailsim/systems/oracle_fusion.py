"""Oracle Fusion Cloud Order Management (REST ``salesOrdersForOrderHub``): the ``oracle_fusion`` dialect.

What the product does, and so what this mock does (reference: shared/reference/erp-dialects.md §3):

* ``POST /fscmRestApi/resources/11.13.18.05/salesOrdersForOrderHub`` imports a source order, header and
  lines in one body. The source order's key is (``SourceTransactionSystem``, ``SourceTransactionId``):
  importing the same key again is a **revision** of the same order, never a second one — with
  ``Upsert-Mode: true`` or a higher ``SourceTransactionRevisionNumber`` it replaces the order's lines
  (``SourceTransactionRevisionNumber`` + 1, its reservations given back and taken again, so nothing is
  booked twice); a plain repeat of the same revision is refused as "already exists" and changes nothing.
  A closed (shipped) or cancelled order cannot be revised.
* ``OrderKey`` is ``{SourceTransactionSystem}:{SourceTransactionId}`` (the latest revision) or the
  ``HeaderId``; GET and PATCH take either. The ledgers (``sales_orders``, ``return_authorisations``) are
  keyed by the OrderKey, which is the document number the integration keeps. Collections are queried
  ADF-style, ``?q=SourceTransactionNumber='SHOP-1001'``, and answer ``{items, count, hasMore, limit, offset}``.
* ``PATCH .../salesOrdersForOrderHub/{OrderKey}`` with ``{"CanceledFlag": true}`` cancels an open order
  (reservations released); a repeat is refused "already canceled", a shipped order "already closed".
* Shipping: ``POST .../shipmentTransactionRequests`` — the warehouse's ship confirmation — issues every
  line of the orders its shipments name (``unpackedLines[].SourceOrder`` = OrderKey) and closes them; a
  second confirmation of a closed order is refused "already shipped".
* A return (RMA) is an order of the same resource whose lines are ``TransactionCategoryCode: "RETURN"``
  and point at the original order with ``DocumentReference`` (``ORIGINAL_SALES_ORDER``). Returned goods
  are received with ``POST .../receivingReceiptRequests`` (``ReceiptSourceCode: "CUSTOMER"``, lines with
  the RMA's OrderKey): into stock once, a second receipt is refused "already received". The credit memo is
  a Receivables document (``POST .../receivablesCreditMemos`` with ``receivablesCreditMemoLines``), its
  ``TransactionNumber`` unique.
* Stock: ``GET .../onhandQuantityDetails?q=ItemNumber='...'`` (no ``q``: every item and organisation);
  adjustments are miscellaneous transactions, ``POST .../inventoryStagedTransactions`` (signed
  ``TransactionQuantity``, ``TransactionReference``), found again by ``?q=TransactionReference='...'``.
  Fusion does not refuse a second staged transaction with the same reference: the client looks first.
* Errors are ADF error JSON (``title``, ``status``, ``o:errorDetails``) only when the client asks with
  ``Accept: application/vnd.oracle.adf.error+json``; otherwise, and for faults in front of the
  application, the body is plain text — clients must cope with both. No throttling limits are published:
  a 429 here carries no ``Retry-After`` unless the scenario turns it on.

Confirmed from Oracle's REST reference: the resource paths above, ``Upsert-Mode``, the OrderKey forms, the
source-order primary key with its revision number. (unconfirmed) The exact ADF error JSON and every
refusal text and code here, 429 itself, ``CanceledFlag`` as the cancel (Oracle also offers the
asynchronous ``salesOrderActionRequests``), the field names inside ship confirmations, receipt requests
and staged transactions, the line price field ``UnitSellingPrice`` and ``ReplacesOrderKey`` (an account's
header flexfield naming the order a free replacement makes good).

Rules kept: imports SimPy, the standard library and ``retailsim.systems`` only; ids are counters.
"""

from __future__ import annotations

import re
from typing import Any

from retailsim.systems.base import Request, Response
from retailsim.systems.erp_base import Document, ErpSystem

FSCM = "/fscmRestApi/resources/11.13.18.05"
ORDER_HUB = f"{FSCM}/salesOrdersForOrderHub"
CREDIT_MEMOS = f"{FSCM}/receivablesCreditMemos"
SHIPMENTS = f"{FSCM}/shipmentTransactionRequests"
RECEIPTS = f"{FSCM}/receivingReceiptRequests"
STAGED = f"{FSCM}/inventoryStagedTransactions"
ADF_ERROR = "application/vnd.oracle.adf.error+json"
_Q = re.compile(r"^(\w+)='?([^']*)'?$")
MANDATORY = (
    "SourceTransactionNumber",
    "SourceTransactionSystem",
    "SourceTransactionId",
    "BusinessUnitName",
    "BuyingPartyNumber",
    "TransactionalCurrencyCode",
)
TITLES = {400: "Bad Request", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error"}
OPEN, CLOSED, CANCELED, AWAITING_RECEIPT, RECEIVED = (
    "OPEN",
    "CLOSED",
    "CANCELED",
    "AWAITING_RECEIPT",
    "RECEIVED",
)
REPLACES = "ReplacesOrderKey"  # (unconfirmed) an account's header flexfield, as NetSuite's custbody field


class OracleFusion(ErpSystem):
    """Oracle Fusion OM order hub: source-order key uniqueness, revisions, ADF errors (module docstring)."""

    dialect = "oracle_fusion"
    sends_retry_after = False  # (unconfirmed) Oracle publishes no REST throttling answer
    routes = (
        ("POST", ORDER_HUB, "import_order"),
        ("GET", ORDER_HUB, "query_orders"),
        ("GET", rf"{ORDER_HUB}/([^/]+)", "get_order"),
        ("PATCH", rf"{ORDER_HUB}/([^/]+)", "patch_order"),
        ("POST", SHIPMENTS, "confirm_shipment"),
        ("POST", RECEIPTS, "receive_return"),
        ("POST", CREDIT_MEMOS, "create_credit_memo"),
        ("GET", CREDIT_MEMOS, "query_credit_memos"),
        ("POST", STAGED, "stage_transaction"),
        ("GET", STAGED, "query_staged_transactions"),
        ("GET", f"{FSCM}/onhandQuantityDetails", "onhand_quantity_details"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.order_key_of_header: dict[str, str] = {}  # HeaderId → OrderKey
        self.by_transaction_number: dict[str, str] = {}  # credit memo TransactionNumber → its id
        self.staged_transactions: dict[str, Document] = {}  # TransactionInterfaceId → the transaction
        self.revisions = 0  # imports that revised an order instead of making one

    # ---- the product's answers ------------------------------------------------------------------

    def error(self, status: int, code: str, message: str) -> Response:
        """What comes back without the ADF error media type (and from faults in front of the app)."""
        return Response(status, message, {"Content-Type": "text/plain"})

    def refuse(self, request: Request, status: int, code: str, message: str) -> Response:
        """The application's refusal, in ADF error JSON when the client asked for it."""
        if ADF_ERROR not in request.headers.get("Accept", ""):
            return self.error(status, code, message)
        body = {
            "title": TITLES.get(status, "Error"),
            "status": str(status),
            "o:errorDetails": [{"detail": message, "o:errorCode": code}],
        }
        return Response(status, body, {"Content-Type": ADF_ERROR})

    def rate_limited(self, retry_after_s: float) -> Response:
        return self.with_retry_after(self.error(429, "429", "Too Many Requests"), retry_after_s)

    def unavailable(self) -> Response:
        return self.error(503, "503", "Service Unavailable")

    @staticmethod
    def _collection(rows: list[Document]) -> Response:
        return Response(200, {"items": rows, "count": len(rows), "hasMore": False, "limit": 25, "offset": 0})

    def _query(self, request: Request) -> tuple[str, str] | Response:
        match = _Q.match(request.query.get("q", ""))
        if not match:
            return self.refuse(request, 400, "400", "Only q=<Attribute>='<value>' is supported by this mock.")
        field, value = match.groups()
        return field, value

    # ---- orders and returns --------------------------------------------------------------------------

    def _parse_lines(self, request: Request, body: dict[str, Any]) -> list[Document] | Response:
        lines = body.get("lines")
        if not isinstance(lines, list) or not lines:
            return self.refuse(request, 400, "DOO_MISSING_LINES", "The order has no lines.")
        known = {item for _, item in self.stock}
        parsed = []
        for line in lines:
            if not isinstance(line, dict) or str(line.get("ProductNumber", "")) not in known:
                product = line.get("ProductNumber") if isinstance(line, dict) else None
                return self.refuse(request, 400, "DOO_INVALID_ITEM", f"The item {product} is not valid.")
            try:
                quantity = int(float(line.get("OrderedQuantity", 0)))
            except (TypeError, ValueError):
                quantity = 0
            if quantity <= 0:
                return self.refuse(
                    request, 400, "DOO_INVALID_QUANTITY", "The ordered quantity must be positive."
                )
            parsed.append({**line, "OrderedQuantity": quantity})
        return parsed

    def _fulfil(self, lines: list[Document]) -> None:
        """Reserve what each sales (not return) line's fulfilment organisation has free."""
        for line in lines:
            if line.get("TransactionCategoryCode") != "RETURN":
                organisation = str(line.get("RequestedFulfillmentOrganizationCode", ""))
                line["ReservedQuantity"] = self.reserve(
                    organisation, line["ProductNumber"], line["OrderedQuantity"]
                )

    def _unfulfil(self, lines: list[Document]) -> None:
        for line in lines:
            if line.get("ReservedQuantity"):
                self.release(
                    str(line.get("RequestedFulfillmentOrganizationCode", "")),
                    line["ProductNumber"],
                    line["ReservedQuantity"],
                )
                line["ReservedQuantity"] = 0

    def _revision_wanted(self, request: Request, body: dict[str, Any], order: Document) -> bool:
        """Upsert-Mode, or a revision number above the order's: a change order, not a repeat."""
        if request.headers.get("Upsert-Mode", "").lower() == "true":
            return True
        try:
            revision = int(body.get("SourceTransactionRevisionNumber") or 0)
        except (TypeError, ValueError):
            revision = 0
        return revision > int(order["SourceTransactionRevisionNumber"])

    def import_order(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        missing = [field for field in MANDATORY if not body.get(field)]
        if missing:
            return self.refuse(
                request, 400, "DOO_MISSING_ATTRIBUTE", f"The attribute {missing[0]} is required."
            )
        lines = self._parse_lines(request, body)
        if isinstance(lines, Response):
            return lines
        order_key = f"{body['SourceTransactionSystem']}:{body['SourceTransactionId']}"
        existing = self._order(order_key)
        if existing is not None:
            return self._revise(request, body, existing, lines)
        self._fulfil(lines)
        header_id = str(300000000 + self.next_number("header"))
        order = {
            **body,
            "HeaderId": header_id,
            "OrderNumber": str(self.next_number("order_number")),
            "OrderKey": order_key,
            "SourceTransactionRevisionNumber": 1,
            "StatusCode": OPEN,
            "lines": lines,
        }
        self.order_key_of_header[header_id] = order_key
        if all(line.get("TransactionCategoryCode") == "RETURN" for line in lines):
            order["StatusCode"] = AWAITING_RECEIPT
            self.book_return(str(body["SourceTransactionNumber"]), order_key, order)
        else:
            self.book_order(str(body["SourceTransactionNumber"]), order_key, order)
        return Response(201, dict(order), {"Location": f"{ORDER_HUB}/{order_key}"})

    def _revise(
        self, request: Request, body: dict[str, Any], order: Document, lines: list[Document]
    ) -> Response:
        if not self._revision_wanted(request, body, order):
            # (unconfirmed text) the source-order key is unique per revision; a repeat is refused
            return self.refuse(
                request,
                400,
                "DOO_DUPLICATE_SOURCE_ORDER",
                f"The source order {body['SourceTransactionId']} from source system "
                f"{body['SourceTransactionSystem']} already exists.",
            )
        if order["StatusCode"] in (CLOSED, CANCELED):
            return self.refuse(
                request,
                400,
                "DOO_ORDER_NOT_REVISABLE",
                f"The order {order['OrderNumber']} is {order['StatusCode'].lower()} and cannot be revised.",
            )
        self._unfulfil(order["lines"])
        self._fulfil(lines)
        order.update({k: v for k, v in body.items() if k not in ("lines", "SourceTransactionRevisionNumber")})
        order["lines"] = lines
        order["SourceTransactionRevisionNumber"] += 1
        self.revisions += 1
        return Response(200, dict(order))

    def _order(self, key: str) -> Document | None:
        """A sales order or return by OrderKey or HeaderId."""
        order_key = self.order_key_of_header.get(key, key)
        return self.sales_orders.get(order_key) or self.return_authorisations.get(order_key)

    def _missing(self, request: Request, key: str) -> Response:
        return self.refuse(request, 404, "404", f"The requested resource {key} was not found.")

    def get_order(self, request: Request, key: str) -> Response:
        order = self._order(key)
        return self._missing(request, key) if order is None else Response(200, dict(order))

    def query_orders(self, request: Request) -> Response:
        query = self._query(request)
        if isinstance(query, Response):
            return query
        field, value = query
        orders = [*self.sales_orders.values(), *self.return_authorisations.values()]
        return self._collection([dict(o) for o in orders if str(o.get(field)) == value])

    def patch_order(self, request: Request, key: str) -> Response:
        """Cancel an open order (``CanceledFlag``); nothing else is patched by this mock."""
        order = self._order(key)
        if order is None:
            return self._missing(request, key)
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("CanceledFlag") is not True:
            return self.refuse(request, 400, "400", "Only CanceledFlag=true is supported by this mock.")
        if order["StatusCode"] == CANCELED:
            return self.refuse(
                request, 400, "DOO_ALREADY_CANCELED", f"The order {order['OrderNumber']} is already canceled."
            )
        if order["StatusCode"] != OPEN:
            return self.refuse(
                request,
                400,
                "DOO_CANNOT_CANCEL",
                f"The order {order['OrderNumber']} is already closed and cannot be canceled.",
            )
        self._unfulfil(order["lines"])
        order["StatusCode"] = CANCELED
        order["CancelReasonCode"] = body.get("CancelReasonCode")
        return Response(200, dict(order))

    def confirm_shipment(self, request: Request) -> Response:
        """Ship confirmation: every line of each named order leaves stock (its reservation issued), once."""
        body = request.body if isinstance(request.body, dict) else {}
        shipments = body.get("shipments")
        keys = [
            str(line.get("SourceOrder", ""))
            for shipment in (shipments if isinstance(shipments, list) else [])
            if isinstance(shipment, dict)
            for line in shipment.get("unpackedLines") or []
            if isinstance(line, dict)
        ]
        if not keys:
            return self.refuse(request, 400, "WSH_MISSING_LINES", "The shipment has no lines.")
        orders = []
        for key in dict.fromkeys(keys):  # the order of first mention, each once
            order = self.sales_orders.get(self.order_key_of_header.get(key, key))
            if order is None:
                return self._missing(request, key)
            if order["StatusCode"] != OPEN:
                # a shipped order is "already shipped" (a replayed confirmation); a canceled one is not
                state = "already shipped" if order["StatusCode"] == CLOSED else "canceled"
                return self.refuse(
                    request, 400, "WSH_NOT_SHIPPABLE", f"The order {order['OrderNumber']} is {state}."
                )
            orders.append(order)
        for order in orders:
            for line in order["lines"]:
                reserved = int(line.get("ReservedQuantity") or 0)
                organisation = str(line.get("RequestedFulfillmentOrganizationCode", ""))
                self.issue(organisation, line["ProductNumber"], reserved)
                line.update(ReservedQuantity=0, ShippedQuantity=reserved)
            order["StatusCode"] = CLOSED
        transaction = str(500000 + self.next_number("shipment"))
        return Response(201, {"TransactionId": transaction, "shipments": shipments})

    def receive_return(self, request: Request) -> Response:
        """An RMA's goods received into stock at each line's organisation; a second receipt is refused."""
        body = request.body if isinstance(request.body, dict) else {}
        lines = body.get("lines")
        if body.get("ReceiptSourceCode") != "CUSTOMER" or not isinstance(lines, list) or not lines:
            return self.refuse(
                request, 400, "RCV_INVALID_REQUEST", "A customer receipt needs ReceiptSourceCode and lines."
            )
        try:
            receipts = [
                (str(line["RMANumber"]), str(line["OrganizationCode"]), str(line["ItemNumber"]),
                 int(line["Quantity"]))
                for line in lines
            ]  # fmt: skip
        except (KeyError, TypeError, ValueError):
            return self.refuse(
                request, 400, "RCV_INVALID_LINE", "Every line needs its RMA, item and quantity."
            )
        authorisations = []
        for key in dict.fromkeys(rma for rma, _, _, _ in receipts):
            authorisation = self.return_authorisations.get(self.order_key_of_header.get(key, key))
            if authorisation is None:
                return self._missing(request, key)
            if authorisation["StatusCode"] != AWAITING_RECEIPT:
                return self.refuse(
                    request,
                    400,
                    "RCV_ALREADY_RECEIVED",
                    f"The return {authorisation['OrderNumber']} has already been received.",
                )
            authorisations.append(authorisation)
        for _, organisation, item, quantity in receipts:
            self.restock(organisation, item, quantity)
        for authorisation in authorisations:
            authorisation["StatusCode"] = RECEIVED
        header = str(700000 + self.next_number("receipt"))
        return Response(201, {"HeaderInterfaceId": header, "ReceiptSourceCode": "CUSTOMER", "lines": lines})

    # ---- credit memos ----------------------------------------------------------------------------------

    def create_credit_memo(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        required = ("BusinessUnit", "TransactionSource", "TransactionType", "BillToCustomerNumber")
        missing = [field for field in required if not body.get(field)]
        lines = body.get("receivablesCreditMemoLines")
        if missing or not isinstance(lines, list) or not lines:
            field = missing[0] if missing else "receivablesCreditMemoLines"
            return self.refuse(request, 400, "AR_MISSING_ATTRIBUTE", f"The attribute {field} is required.")
        number = str(body.get("TransactionNumber") or "")
        if number and number in self.by_transaction_number:
            # (unconfirmed) Receivables keeps transaction numbers unique within a transaction source
            return self.refuse(
                request, 400, "AR_DUPLICATE_TRX_NUMBER", f"The transaction number {number} already exists."
            )
        transaction_id = str(100000 + self.next_number("credit_memo"))
        number = number or transaction_id
        memo = {
            **body,
            "CustomerTransactionId": transaction_id,
            "TransactionNumber": number,
            "TransactionStatus": "Complete",
        }
        self.by_transaction_number[number] = transaction_id
        self.book_credit_memo(number, transaction_id, memo)
        return Response(201, dict(memo), {"Location": f"{CREDIT_MEMOS}/{transaction_id}"})

    def query_credit_memos(self, request: Request) -> Response:
        query = self._query(request)
        if isinstance(query, Response):
            return query
        field, value = query
        return self._collection([dict(m) for m in self.credit_memos.values() if str(m.get(field)) == value])

    # ---- stock --------------------------------------------------------------------------------------------

    def stage_transaction(self, request: Request) -> Response:
        """A miscellaneous receipt or issue: on hand moves by the signed ``TransactionQuantity``."""
        body = request.body if isinstance(request.body, dict) else {}
        try:
            quantity = int(body["TransactionQuantity"])
            organisation, item = str(body["OrganizationCode"]), str(body["ItemNumber"])
        except (KeyError, TypeError, ValueError):
            return self.refuse(
                request,
                400,
                "INV_MISSING_ATTRIBUTE",
                "OrganizationCode, ItemNumber and TransactionQuantity are required.",
            )
        self.adjust(organisation, item, quantity)
        interface_id = str(800000 + self.next_number("staged"))
        transaction = {**body, "TransactionInterfaceId": interface_id, "ProcessStatus": "COMPLETED"}
        self.staged_transactions[interface_id] = transaction
        return Response(201, dict(transaction), {"Location": f"{STAGED}/{interface_id}"})

    def query_staged_transactions(self, request: Request) -> Response:
        query = self._query(request)
        if isinstance(query, Response):
            return query
        field, value = query
        rows = [dict(t) for t in self.staged_transactions.values() if str(t.get(field)) == value]
        return self._collection(rows)

    def onhand_quantity_details(self, request: Request) -> Response:
        """On hand per item and organisation: of one item (``q=ItemNumber='...'``), or of every item."""
        wanted = None
        if "q" in request.query:
            match = _Q.match(request.query["q"])
            if not match or match.group(1) != "ItemNumber":
                return self.refuse(
                    request, 400, "400", "Only q=ItemNumber='<item>' is supported by this mock."
                )
            wanted = match.group(2)
        rows: list[Document] = [
            {
                "ItemNumber": item,
                "OrganizationCode": organisation,
                "SubinventoryCode": "STORES",
                "OnhandQuantity": position["on_hand"],
                "ReservedQuantity": position["reserved"],
            }
            for (organisation, item), position in sorted(self.stock.items())
            if wanted is None or item == wanted
        ]
        return self._collection(rows)

    # ---- the ledgers in the harness's words --------------------------------------------------------

    def order_state(self, number: str) -> str:
        status = self.sales_orders[number]["StatusCode"]
        return {CANCELED: "cancelled", CLOSED: "completed"}.get(status, "open")

    def replaced_document(self, number: str) -> str | None:
        replaces = self.sales_orders[number].get(REPLACES)
        return str(replaces) if replaces else None

    def returns_of_order(self, number: str) -> list[str]:
        """Returns whose lines refer to the order (its source system and source transaction id)."""
        return [
            str(authorisation["SourceTransactionNumber"])
            for authorisation in self.return_authorisations.values()
            if any(
                isinstance(reference, dict)
                and reference.get("DocumentReferenceType") == "ORIGINAL_SALES_ORDER"
                and f"{reference.get('DocumentAdditionalIdentifier')}:{reference.get('DocumentIdentifier')}"
                == number
                for line in authorisation["lines"]
                for reference in line.get("DocumentReference") or []
            )
        ]
