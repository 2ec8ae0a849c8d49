"""Oracle Fusion Cloud Order Management (REST ``salesOrdersForOrderHub``): the ``oracle-fusion`` dialect.

What the product does, and so what this mock does (reference: shared/reference/erp-dialects.md §3):

* ``POST /fscmRestApi/resources/11.13.18.05/salesOrdersForOrderHub`` imports a source order. The source
  order's key is (``SourceTransactionSystem``, ``SourceTransactionId``): importing the same key again is
  refused as "already there" — unless the client sends ``Upsert-Mode: true``, which turns the import into
  a revision of the same order (``SourceTransactionRevisionNumber`` + 1). Either way, one order.
* ``OrderKey`` is ``{SourceTransactionSystem}:{SourceTransactionId}`` (the latest revision) or the
  ``HeaderId``; collections are queried ADF-style, ``?q=SourceTransactionNumber='SHOP-1001'``, and answer
  ``{items, count, hasMore, limit, offset}``.
* A return is an order of the same resource whose lines are ``TransactionCategoryCode: "RETURN"`` and
  point at the original order with ``DocumentReference`` (``ORIGINAL_SALES_ORDER``). The credit memo is a
  Receivables document (``POST .../receivablesCreditMemos`` with ``receivablesCreditMemoLines``).
* Stock: ``GET .../onhandQuantityDetails?q=ItemNumber='...'``.
* Errors are ADF error JSON (``title``, ``status``, ``o:errorDetails``) only when the client asks with
  ``Accept: application/vnd.oracle.adf.error+json``; otherwise, and for faults in front of the
  application, the body is plain text — clients must cope with both. No throttling limits are published:
  a 429 here carries no ``Retry-After`` unless the scenario turns it on.

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


class OracleFusion(ErpSystem):
    """Oracle Fusion OM order hub: source-order key uniqueness, Upsert-Mode revisions, ADF errors."""

    dialect = "oracle-fusion"
    sends_retry_after = False  # (unconfirmed) Oracle publishes no REST throttling answer
    routes = (
        ("POST", ORDER_HUB, "import_order"),
        ("GET", ORDER_HUB, "query_orders"),
        ("GET", rf"{ORDER_HUB}/([^/]+)", "get_order"),
        ("POST", CREDIT_MEMOS, "create_credit_memo"),
        ("GET", CREDIT_MEMOS, "query_credit_memos"),
        ("GET", f"{FSCM}/onhandQuantityDetails", "onhand_quantity_details"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.by_order_key: dict[str, str] = {}  # "{system}:{id}" → HeaderId
        self.by_transaction_number: dict[
            str, str
        ] = {}  # credit memo TransactionNumber → CustomerTransactionId

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
        existing = self.by_order_key.get(order_key)
        if existing is not None and request.headers.get("Upsert-Mode", "").lower() != "true":
            # (unconfirmed text) the source-order key is unique per revision; a repeat is refused
            return self.refuse(
                request,
                400,
                "DOO_DUPLICATE_SOURCE_ORDER",
                f"The source order {body['SourceTransactionId']} from source system "
                f"{body['SourceTransactionSystem']} already exists.",
            )
        if existing is not None:
            order = self.sales_orders.get(existing) or self.return_authorisations[existing]
            self._unfulfil(order["lines"])
            self._fulfil(lines)
            order.update({k: v for k, v in body.items() if k != "lines"})
            order["lines"] = lines
            order["SourceTransactionRevisionNumber"] += 1
            return Response(200, dict(order))
        self._fulfil(lines)
        header_id = str(300000000 + self.next_number("header"))
        order = {
            **body,
            "HeaderId": header_id,
            "OrderNumber": str(self.next_number("order_number")),
            "OrderKey": order_key,
            "SourceTransactionRevisionNumber": 1,
            "StatusCode": "OPEN",
            "lines": lines,
        }
        self.by_order_key[order_key] = header_id
        is_return = all(line.get("TransactionCategoryCode") == "RETURN" for line in lines)
        book = self.book_return if is_return else self.book_order
        book(str(body["SourceTransactionNumber"]), header_id, order)
        return Response(201, dict(order), {"Location": f"{ORDER_HUB}/{order_key}"})

    def _order(self, key: str) -> Document | None:
        header_id = self.by_order_key.get(key, key)
        return self.sales_orders.get(header_id) or self.return_authorisations.get(header_id)

    def get_order(self, request: Request, key: str) -> Response:
        order = self._order(key)
        if order is None:
            return self.refuse(request, 404, "404", f"The requested resource {key} was not found.")
        return Response(200, dict(order))

    def query_orders(self, request: Request) -> Response:
        match = _Q.match(request.query.get("q", ""))
        if not match:
            return self.refuse(request, 400, "400", "Only q=<Attribute>='<value>' is supported by this mock.")
        field, value = match.groups()
        orders = [*self.sales_orders.values(), *self.return_authorisations.values()]
        return self._collection([dict(o) for o in orders if str(o.get(field)) == value])

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
        match = _Q.match(request.query.get("q", ""))
        if not match:
            return self.refuse(request, 400, "400", "Only q=<Attribute>='<value>' is supported by this mock.")
        field, value = match.groups()
        return self._collection([dict(m) for m in self.credit_memos.values() if str(m.get(field)) == value])

    # ---- stock --------------------------------------------------------------------------------------------

    def onhand_quantity_details(self, request: Request) -> Response:
        match = _Q.match(request.query.get("q", ""))
        if not match or match.group(1) != "ItemNumber":
            return self.refuse(request, 400, "400", "Only q=ItemNumber='<item>' is supported by this mock.")
        item = match.group(2)
        rows: list[Document] = [
            {
                "ItemNumber": item,
                "OrganizationCode": organisation,
                "SubinventoryCode": "STORES",
                "OnhandQuantity": on_hand,
                "ReservedQuantity": reserved,
            }
            for organisation, on_hand, reserved in self.on_hand(item)
        ]
        return self._collection(rows)
