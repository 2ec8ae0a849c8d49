"""SAP S/4HANA-style ERP: sales orders by deep insert, stock per plant with reservations, goods issue.

Like SAP, it has **no duplicate check**: two creates with the same ``PurchaseOrderByCustomer`` make two
sales orders — the integration must look up before it re-creates. A sales order reserves what stock its
plant has (schedule-line confirmation) and never more, so ``reserved`` can never exceed ``on_hand``.
Errors are OData V2 error bodies; the API gateway in front answers 429 with Retry-After. Goods issue
(the delivery number equals the sales order number) consumes the reservation and bills the order once.
An item moved to another plant (``PATCH A_SalesOrderItem``, a rerouted order) gives up its confirmation
at the old plant and is confirmed again at the new one, as far as that plant's stock goes.

Stock, reservations and the ledgers the invariants read come from :class:`ErpSystem`; the SAP names
the runtime reads (``by_po``, ``customer_returns``, ``returns_by_po``, ``credit_memo_requests``,
``credit_memos_by_po``) are the base's dialect-neutral ledgers under their SAP names, not copies.

A sales order is kept without its schedule lines (every field of one is its item's or its order's) and
with its items as a plain list under ``to_Item`` (no OData ``{"results": ...}`` wrapper): the API renders
both on every read (``_as_sent``), so the wire is SAP's deep document and the ledger keeps a few hundred
bytes less per order. An item's texts are kept as shared (interned) strings: item
numbers, quantities, units, plants and materials are a handful of values across a run. A goods issue is
kept as its billing number and time; ``goods_issues`` and ``billing_documents`` are rendered when read.

Rules kept: imports SimPy, the standard library and ``retailsim.systems`` only; document numbers are
counters; stock is iterated in sorted order, never as a set.
"""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Callable
from typing import Any

import simpy

from retailsim.systems.base import Latency, Request, Response
from retailsim.systems.erp_base import Document, ErpSystem

SO = "/sap/opu/odata/sap/API_SALES_ORDER_SRV"
RET = "/sap/opu/odata/sap/API_CUSTOMER_RETURN_SRV"
RET_DLV = r"/sap/opu/odata/sap/API_CUSTOMER_RETURNS_DELIVERY_SRV;v=0002"
CMR = "/sap/opu/odata/sap/API_CREDIT_MEMO_REQUEST_SRV"


def _schedule_line(number: str, item: dict[str, Any]) -> dict[str, Any]:
    """An item's one schedule line, as SAP confirms it: what was requested, and what the item's plant
    confirmed (always the item's ``ConfdDelivQtyInOrderQtyUnit``)."""
    return {
        "SalesOrder": number,
        "SalesOrderItem": str(item.get("SalesOrderItem", "")),
        "ScheduleLine": "1",
        "ScheduleLineOrderQuantity": str(int(float(str(item.get("RequestedQuantity", ""))))),
        "ConfdOrderQtyByMatlAvailCheck": item["ConfdDelivQtyInOrderQtyUnit"],
        "OrderQuantityUnit": str(item.get("RequestedQuantityUnit", "EA")),
    }


def _as_sent(order: Document) -> Document:
    """A sales order as the API returns it (a new document): each item with its ``to_ScheduleLine``.

    The ledger keeps the items without their schedule lines — every field of one is the item's or the
    order's, so it is rendered here, on read, rather than kept for every order of a run."""
    number = str(order["SalesOrder"])
    items = [
        {**item, "to_ScheduleLine": {"results": [_schedule_line(number, item)]}}
        for item in order["to_Item"]
    ]
    return {**order, "to_Item": {"results": items}}


def _text(value: Any) -> Any:
    """A string value as the one shared (interned) string equal to it; any other value as it is."""
    return sys.intern(value) if type(value) is str else value


def _billing_number(counter: int) -> str:
    return f"9{counter:09d}"


MANDATORY = (
    "SalesOrderType",
    "SalesOrganization",
    "DistributionChannel",
    "OrganizationDivision",
    "SoldToParty",
    "PurchaseOrderByCustomer",
    "to_Item",
)
_PO_FILTER = re.compile(r"^PurchaseOrderByCustomer eq '([^']*)'$")
_TEXT_FILTER = re.compile(r"^MaterialDocumentHeaderText eq '([^']*)'$")
MATDOC = "/sap/opu/odata/sap/API_MATERIAL_DOCUMENT_SRV"
RAISES_STOCK = frozenset({"501", "701"})  # other goods receipts; 551 (scrapping) and 702 lower it


class Erp(ErpSystem):
    """SAP S/4HANA (OData V2 ``API_*_SRV`` services) — the ``sap`` dialect."""

    dialect = "sap"
    routes = (
        ("POST", rf"{SO}/A_SalesOrder", "create_sales_order"),
        ("GET", rf"{SO}/A_SalesOrder", "query_sales_orders"),
        ("GET", rf"{SO}/A_SalesOrder\('(\d+)'\)", "get_sales_order"),
        ("PATCH", rf"{SO}/A_SalesOrder\('(\d+)'\)", "patch_sales_order"),
        (
            "PATCH",
            rf"{SO}/A_SalesOrderItem\(SalesOrder='(\d+)',SalesOrderItem='(\d+)'\)",
            "patch_sales_order_item",
        ),
        ("POST", r"/sap/opu/odata/sap/API_OUTBOUND_DELIVERY_SRV;v=0002/PostGoodsIssue", "post_goods_issue"),
        ("GET", r"/sap/opu/odata/sap/API_MATERIAL_STOCK_SRV/A_MatlStkInAcctMod", "material_stock"),
        ("POST", rf"{RET}/A_CustomerReturn", "create_customer_return"),
        ("GET", rf"{RET}/A_CustomerReturn", "query_customer_returns"),
        ("POST", rf"{RET_DLV}/PostGoodsReceipt", "post_return_goods_receipt"),
        ("POST", rf"{CMR}/A_CreditMemoRequest", "create_credit_memo_request"),
        ("GET", rf"{CMR}/A_CreditMemoRequest", "query_credit_memo_requests"),
        ("POST", rf"{MATDOC}/A_MaterialDocumentHeader", "post_goods_movement"),
        ("GET", rf"{MATDOC}/A_MaterialDocumentHeader", "query_goods_movements"),
    )

    def __init__(
        self,
        env: simpy.Environment,
        rng: random.Random,
        *,
        stock: dict[str, dict[str, int]] | None = None,
        concurrency: int = 4,
        latency: Latency = Latency(0.4, 2.0),
        rate_limit_per_s: float | None = None,
        retry_after: bool | None = None,
        sales_organization: str = "1010",
    ) -> None:
        super().__init__(
            env,
            rng,
            stock=stock,
            concurrency=concurrency,
            latency=latency,
            rate_limit_per_s=rate_limit_per_s,
            retry_after=retry_after,
        )
        self.sales_organization = sales_organization
        self.by_po = self.orders_by_reference
        # Goods issues posted, in order: delivery (= sales order) number → (billing number, when). The
        # goods issues and billing documents are rendered from it (every other field is the order's).
        self._issued: dict[str, tuple[int, float]] = {}
        # Returns: customer returns and credit memo requests by PurchaseOrderByCustomer (the return
        # number) — no duplicate check either.
        self.customer_returns = self.return_authorisations
        self.returns_by_po = self.returns_by_reference
        self.credit_memo_requests = self.credit_memos
        self.credit_memos_by_po = self.credit_memos_by_reference
        # Goods movements (material documents); no duplicate check: a second posting of the same
        # header text moves stock again, as in SAP.
        self.material_documents: dict[str, dict[str, Any]] = {}
        self.documents_by_text: dict[str, list[str]] = {}
        # Sales order numbers a request named that this ERP never issued (answered 404), in arrival order:
        # the evidence that a command was aimed at another ERP's document (sim/evidence.py).
        self.unknown_sales_orders: list[str] = []

    # ---- OData error shapes -----------------------------------------------------------------------

    def odata_error(self, status: int, code: str, message: str) -> Response:
        detail = {"code": code, "message": message, "severity": "error"}
        return Response(
            status,
            {
                "error": {
                    "code": code,
                    "message": {"lang": "en", "value": message},
                    "innererror": {"errordetails": [detail]},
                }
            },
        )

    def error(self, status: int, code: str, message: str) -> Response:
        """Generic faults (500, poison 400, unknown route) in OData shape with a ``<class>/<no>`` code."""
        return self.odata_error(status, code if "/" in code else f"/IWFND/CM_BEC/{status:03d}", message)

    def rate_limited(self, retry_after_s: float) -> Response:
        response = Response(
            429,
            {
                "error": {
                    "code": "429",
                    "message": {"lang": "en", "value": "Rate limit quota violation. Quota limit exceeded."},
                }
            },
        )
        return self.with_retry_after(response, retry_after_s)

    def unavailable(self) -> Response:
        return self.odata_error(
            503, "/IWFND/CM_BEC/026", "Service unavailable: the backend system is not reachable"
        )

    # ---- sales orders -----------------------------------------------------------------------------

    def create_sales_order(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        missing = [key for key in MANDATORY if not body.get(key)]
        items = (body.get("to_Item") or {}).get("results") if isinstance(body.get("to_Item"), dict) else None
        if missing or not isinstance(items, list) or not items:
            return self.odata_error(
                400, "V1/302", f"Mandatory field(s) missing: {', '.join(missing) or 'to_Item'}"
            )
        parsed: list[tuple[dict[str, Any], int, float]] = []
        for item in items:
            if not isinstance(item, dict):
                return self.odata_error(400, "/IWBEP/CM_MGW_RT/022", "to_Item results must be objects")
            try:
                requested = int(float(str(item.get("RequestedQuantity", ""))))
                net = float(str(item.get("NetAmount", "0")))
            except (TypeError, ValueError, AttributeError):
                return self.odata_error(400, "V1/023", "RequestedQuantity and NetAmount must be decimals")
            if not item.get("Material") or requested <= 0:
                return self.odata_error(
                    400, "V1/302", "Mandatory field(s) missing: Material, RequestedQuantity"
                )
            parsed.append((item, requested, net))
        number = f"{self.next_number('so'):010d}"
        lines, total = [], 0.0
        for item, requested, net in parsed:
            plant = str(item.get("ProductionPlant", ""))
            material = str(item.get("Material", ""))
            confirmed = self.reserve(plant, material, requested)
            total += net
            # An item's texts are a handful of values across a run (item "10", quantity "1", unit "EA",
            # plant, material): one string each, not one per order. Schedule lines are rendered on read.
            line = {key: _text(value) for key, value in item.items() if key != "to_ScheduleLine"}
            line["ConfdDelivQtyInOrderQtyUnit"] = _text(str(confirmed))
            lines.append(line)
        order = {
            "SalesOrder": number,
            "SalesOrderType": body["SalesOrderType"],
            "SalesOrganization": body["SalesOrganization"],
            "DistributionChannel": body["DistributionChannel"],
            "OrganizationDivision": body["OrganizationDivision"],
            "SoldToParty": body["SoldToParty"],
            "PurchaseOrderByCustomer": body["PurchaseOrderByCustomer"],
            "RequestedDeliveryDate": body.get("RequestedDeliveryDate"),
            "TotalNetAmount": f"{total:.2f}",
            "TransactionCurrency": body.get("TransactionCurrency", "USD"),
            "OverallSDProcessStatus": "A",
            "OverallSDDocumentRejectionSts": "A",
            "to_Item": lines,  # the items themselves: ``_as_sent`` wraps them in OData's {"results": ...}
        }
        if body.get("ReferenceSDDocument"):
            order["ReferenceSDDocument"] = str(body["ReferenceSDDocument"])
        self.book_order(str(body["PurchaseOrderByCustomer"]), number, order)
        return Response(201, {"d": _as_sent(order)})

    def query_sales_orders(self, request: Request) -> Response:
        match = _PO_FILTER.match(request.query.get("$filter", ""))
        if not match:
            return self.odata_error(
                400, "/IWBEP/CM_MGW_RT/004", "Only $filter=PurchaseOrderByCustomer eq '...' is supported"
            )
        results = [_as_sent(self.sales_orders[n]) for n in self.by_po.get(match.group(1), [])]
        return Response(200, {"d": {"results": results}})

    def get_sales_order(self, request: Request, number: str) -> Response:
        order = self.sales_orders.get(number)
        if order is None:
            self.unknown_sales_orders.append(number)
            return self.odata_error(
                404, "/IWBEP/CM_MGW_RT/020", f"Resource not found for segment 'A_SalesOrder' ('{number}')"
            )
        return Response(200, {"d": _as_sent(order)})

    def _release(self, order: dict[str, Any]) -> None:
        for item in order["to_Item"]:
            self.release(
                str(item.get("ProductionPlant")),
                str(item.get("Material")),
                int(item["ConfdDelivQtyInOrderQtyUnit"]),
            )
            item["ConfdDelivQtyInOrderQtyUnit"] = "0"

    def patch_sales_order(self, request: Request, number: str) -> Response:
        order = self.sales_orders.get(number)
        if order is None:
            return self.get_sales_order(request, number)
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("OverallSDDocumentRejectionSts") == "C":
            if order["OverallSDProcessStatus"] == "C":
                return self.odata_error(
                    400, "V1/045", f"Sales order {number} is already delivered and cannot be rejected"
                )
            if order["OverallSDDocumentRejectionSts"] == "C":
                return self.odata_error(400, "V1/046", f"Sales order {number} is already rejected")
            self._release(order)
            order["OverallSDDocumentRejectionSts"] = "C"
        return Response(204, None)

    def patch_sales_order_item(self, request: Request, number: str, item_no: str) -> Response:
        order = self.sales_orders.get(number)
        if order is None:
            return self.get_sales_order(request, number)
        item = next((i for i in order["to_Item"] if str(i.get("SalesOrderItem")) == item_no), None)
        if item is None:
            return self.odata_error(
                404,
                "/IWBEP/CM_MGW_RT/020",
                f"Resource not found for segment 'A_SalesOrderItem' ('{item_no}')",
            )
        if order["OverallSDProcessStatus"] == "C" or order["OverallSDDocumentRejectionSts"] == "C":
            return self.odata_error(400, "V1/045", f"Sales order {number} is closed and cannot be changed")
        plant = str((request.body or {}).get("ProductionPlant", ""))
        if not plant:
            return self.odata_error(400, "V1/302", "Mandatory field(s) missing: ProductionPlant")
        if plant == str(item.get("ProductionPlant")):
            return Response(204, None)
        material = str(item.get("Material"))
        self.release(str(item.get("ProductionPlant")), material, int(item["ConfdDelivQtyInOrderQtyUnit"]))
        confirmed = self.reserve(plant, material, int(float(str(item.get("RequestedQuantity", "0")))))
        item["ProductionPlant"] = _text(plant)
        item["ConfdDelivQtyInOrderQtyUnit"] = _text(str(confirmed))
        return Response(204, None)

    def post_goods_issue(self, request: Request) -> Response:
        number = request.query.get("DeliveryDocument", "").strip("'")
        order = self.sales_orders.get(number)
        if order is None:
            return self.odata_error(404, "VL/001", f"Delivery {number} does not exist")
        if order["OverallSDProcessStatus"] == "C":
            return self.odata_error(400, "VL/058", f"Goods issue for delivery {number} already posted")
        if order["OverallSDDocumentRejectionSts"] == "C":
            return self.odata_error(400, "VL/059", f"Delivery {number} is rejected")
        for item in order["to_Item"]:
            self.issue(
                str(item.get("ProductionPlant")),
                str(item.get("Material")),
                int(item["ConfdDelivQtyInOrderQtyUnit"]),
            )
        order["OverallSDProcessStatus"] = "C"
        billing_no = self.next_number("bill")
        self._issued[number] = (billing_no, self.env.now)
        return Response(
            200,
            {
                "d": {
                    "DeliveryDocument": number,
                    "OverallGoodsMovementStatus": "C",
                    "BillingDocument": _billing_number(billing_no),
                }
            },
        )

    @property
    def goods_issues(self) -> list[dict[str, Any]]:
        """Every goods issue posted, in order: ``{DeliveryDocument, at}`` (a new list of new dicts)."""
        return [{"DeliveryDocument": number, "at": at} for number, (_, at) in self._issued.items()]

    @property
    def billing_documents(self) -> dict[str, dict[str, Any]]:
        """The billing document of each goods issue, by sales order (new dicts): its number, and the
        order's net amount and currency (a sales order's are set when it is created)."""
        documents = {}
        for number, (billing_no, _) in self._issued.items():
            order = self.sales_orders[number]
            documents[number] = {
                "BillingDocument": _billing_number(billing_no),
                "SalesOrder": number,
                "TotalNetAmount": order["TotalNetAmount"],
                "TransactionCurrency": order["TransactionCurrency"],
            }
        return documents

    def material_stock(self, request: Request) -> Response:
        rows = [
            {
                "Material": material,
                "Plant": plant,
                "MatlWrhsStkQtyInMatlBaseUnit": str(position["on_hand"]),
                "MaterialBaseUnit": "EA",
            }
            for (plant, material), position in sorted(self.stock.items())
        ]
        return Response(200, {"d": {"results": rows}})

    # ---- the ledgers in the harness's words --------------------------------------------------------

    def order_state(self, number: str) -> str:
        order = self.sales_orders[number]
        if order.get("OverallSDDocumentRejectionSts") == "C" or order.get("rejected"):
            return "cancelled"
        return "completed" if order.get("OverallSDProcessStatus") == "C" else "open"

    def replaced_document(self, number: str) -> str | None:
        order = self.sales_orders[number]
        return str(order.get("ReferenceSDDocument", "")) if order.get("SalesOrderType") == "SDF" else None

    def returns_of_order(self, number: str) -> list[str]:
        return [
            str(document["PurchaseOrderByCustomer"])
            for document in self.customer_returns.values()
            if document.get("ReferenceSDDocument") == number
        ]

    # ---- returns ----------------------------------------------------------------------------------

    def _create_document(
        self,
        request: Request,
        kind: str,
        key_field: str,
        book: Callable[[str, str, Document], None],
        prefix: str,
    ) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        missing = [
            k
            for k in ("SalesOrganization", "SoldToParty", "PurchaseOrderByCustomer", "to_Item")
            if not body.get(k)
        ]
        if missing:
            return self.odata_error(400, "V1/302", f"Mandatory field(s) missing: {', '.join(missing)}")
        number = f"{prefix}{self.next_number(kind):09d}"
        document = {key_field: number, **body, "OverallSDProcessStatus": "A", "CreatedAt": self.env.now}
        book(str(body["PurchaseOrderByCustomer"]), number, document)
        return Response(201, {"d": {k: v for k, v in document.items() if k != "CreatedAt"}})

    def _query(
        self, request: Request, ledger: dict[str, dict[str, Any]], by_po: dict[str, list[str]]
    ) -> Response:
        match = _PO_FILTER.match(request.query.get("$filter", ""))
        if not match:
            return self.odata_error(
                400, "/IWBEP/CM_MGW_RT/004", "Only $filter=PurchaseOrderByCustomer eq '...' is supported"
            )
        results = [
            {k: v for k, v in ledger[n].items() if k != "CreatedAt"} for n in by_po.get(match.group(1), [])
        ]
        return Response(200, {"d": {"results": results}})

    def create_customer_return(self, request: Request) -> Response:
        return self._create_document(request, "ret", "CustomerReturn", self.book_return, "6")

    def query_customer_returns(self, request: Request) -> Response:
        return self._query(request, self.customer_returns, self.returns_by_po)

    def create_credit_memo_request(self, request: Request) -> Response:
        return self._create_document(request, "cmr", "CreditMemoRequest", self.book_credit_memo, "7")

    def query_credit_memo_requests(self, request: Request) -> Response:
        return self._query(request, self.credit_memo_requests, self.credit_memos_by_po)

    def post_return_goods_receipt(self, request: Request) -> Response:
        """Returned goods into unrestricted stock (restock); a second receipt is refused, as SAP does."""
        number = request.query.get("DeliveryDocument", "").strip("'")
        document = self.customer_returns.get(number)
        if document is None:
            return self.odata_error(404, "VL/001", f"Delivery {number} does not exist")
        if document.get("GoodsReceiptPosted"):
            return self.odata_error(400, "VL/058", f"Goods receipt for delivery {number} already posted")
        items = ((request.body or {}).get("to_DeliveryDocumentItem") or {}).get("results") or []
        for item in items:
            quantity = int(float(str(item.get("ActualDeliveryQuantity", "0"))))
            self.restock(str(item.get("Plant")), str(item.get("Material")), quantity)
        document["GoodsReceiptPosted"] = True
        return Response(200, {"d": {"DeliveryDocument": number, "OverallGoodsMovementStatus": "C"}})

    # ---- goods movements -------------------------------------------------------------------------

    def post_goods_movement(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        items = (body.get("to_MaterialDocumentItem") or {}).get("results") or []
        if not body.get("GoodsMovementCode") or not items:
            return self.odata_error(
                400, "M7/001", "GoodsMovementCode and to_MaterialDocumentItem are required"
            )
        for item in items:
            if str(item.get("GoodsMovementType")) not in RAISES_STOCK | {"551", "702"}:
                return self.odata_error(
                    400, "M7/002", f"Movement type {item.get('GoodsMovementType')} not allowed"
                )
        number = f"49{self.next_number('matdoc'):08d}"
        for item in items:
            key = (str(item.get("Plant")), str(item.get("Material")))
            quantity = int(float(str(item.get("QuantityInEntryUnit", "0"))))
            signed = quantity if str(item.get("GoodsMovementType")) in RAISES_STOCK else -quantity
            self.adjust(*key, signed)
        text = str(body.get("MaterialDocumentHeaderText", ""))
        document = {"MaterialDocument": number, "MaterialDocumentYear": "2026", **body}
        self.material_documents[number] = document
        self.documents_by_text.setdefault(text, []).append(number)
        return Response(201, {"d": {"MaterialDocument": number, "MaterialDocumentYear": "2026"}})

    def query_goods_movements(self, request: Request) -> Response:
        match = _TEXT_FILTER.match(request.query.get("$filter", ""))
        if not match:
            return self.odata_error(
                400, "/IWBEP/CM_MGW_RT/004", "Only $filter=MaterialDocumentHeaderText eq '...' is supported"
            )
        results = [
            {"MaterialDocument": n, "MaterialDocumentYear": "2026"}
            for n in self.documents_by_text.get(match.group(1), [])
        ]
        return Response(200, {"d": {"results": results}})
