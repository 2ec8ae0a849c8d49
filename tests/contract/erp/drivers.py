"""How a client talks to each ERP dialect: the request builders and reply readers of the ERP contract suite.

This is the ONE module the suite takes its wire traffic from. Each driver turns a small, product-neutral
order / return into the requests its product expects and reads the replies back, using the product's own
idempotency strategy where the operation promises one (``place_order``):

* ``sap``: look up ``PurchaseOrderByCustomer`` before creating (SAP has no duplicate check);
* ``netsuite``: upsert by external id, ``PUT .../salesOrder/eid:{number}``;
* ``d365``: look up ``CustomersOrderReference``; if absent create the header (the number sequence draws
  its number, so a repeated create is a second order), then add whichever lines are missing;
* ``oracle_fusion``: import under the source-order key; "already exists" means it is there, and the
  OrderKey (``{system}:{id}``) names it either way.

Operations are generators (an *exchange*): they yield a :class:`Request`, receive the mock's reply
(a :class:`Response` or ``LOST_REPLY``) and finally return their result, so the suite decides how the
requests travel. A lost reply ends the operation with ``None``, as a worker gives up and retries later.

The core's adapters run the same suite through their own rendering: a module with a ``DRIVERS``
mapping of the same shape (each operation renders the adapter's command spec into an ``OutboundRequest``,
yields it as a ``Request`` and judges the reply with the spec), added to ``DRIVER_MODULES`` in
conftest.py. Nothing else in the suite changes.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from retailsim.systems.base import LostReply, Request, Response

T = TypeVar("T")
Reply = Response | LostReply
Exchange = Generator[Request, Reply, T]


@dataclass(frozen=True, slots=True)
class Line:
    sku: str = "SKU-1"
    quantity: int = 2
    price: float = 9.99


@dataclass(frozen=True, slots=True)
class Order:
    """A storefront order as the suite knows it; ``number`` is the storefront order number."""

    number: str
    customer: str = "C1"
    currency: str = "USD"
    location: str = "DC1"
    lines: tuple[Line, ...] = field(default=(Line(),))


@dataclass(frozen=True, slots=True)
class Return:
    """A storefront return of (some of) an order's lines; ``number`` is the storefront return number."""

    number: str
    order: Order
    lines: tuple[Line, ...] = field(default=(Line(quantity=1),))

    @property
    def amount(self) -> float:
        return round(sum(line.quantity * line.price for line in self.lines), 2)


class ErpDriver(Protocol):
    dialect: str

    def submit_order(self, order: Order) -> Exchange[Reply]:
        """The product's plain create, no idempotency: the (last) reply as it came."""
        ...

    def submit_malformed_order(self, order: Order) -> Exchange[Reply]:
        """The create without its customer: the product's refusal."""
        ...

    def place_order(self, order: Order) -> Exchange[str | None]:
        """Create once, by the product's idempotency strategy; the sales order's id."""
        ...

    def find_orders(self, order_no: str) -> Exchange[list[str]]:
        """The sales order ids the ERP holds for a storefront order number."""
        ...

    def authorise_return(self, ret: Return, order_id: str) -> Exchange[str | None]: ...

    def credit_return(self, ret: Return, return_id: str) -> Exchange[str | None]: ...

    def stock_on_hand(self, sku: str) -> Exchange[int]:
        """Units on hand of one item, summed over locations."""
        ...


def _body(reply: Reply) -> Any:
    return reply.body if isinstance(reply, Response) else None


# ---- SAP S/4HANA ----------------------------------------------------------------------------------

SAP = "/sap/opu/odata/sap"


class SapDriver:
    dialect = "sap"

    @staticmethod
    def _order_body(order: Order, sold_to: str | None) -> dict[str, Any]:
        items = [
            {
                "SalesOrderItem": str(10 * (index + 1)),
                "Material": line.sku,
                "RequestedQuantity": str(line.quantity),
                "RequestedQuantityUnit": "EA",
                "ProductionPlant": order.location,
                "NetAmount": f"{line.quantity * line.price:.2f}",
            }
            for index, line in enumerate(order.lines)
        ]
        body = {
            "SalesOrderType": "OR",
            "SalesOrganization": "1010",
            "DistributionChannel": "10",
            "OrganizationDivision": "00",
            "SoldToParty": sold_to,
            "PurchaseOrderByCustomer": order.number,
            "TransactionCurrency": order.currency,
            "to_Item": {"results": items},
        }
        return {key: value for key, value in body.items() if value is not None}

    def submit_order(self, order: Order) -> Exchange[Reply]:
        return (
            yield Request(
                "POST", f"{SAP}/API_SALES_ORDER_SRV/A_SalesOrder", self._order_body(order, order.customer)
            )
        )

    def submit_malformed_order(self, order: Order) -> Exchange[Reply]:
        return (
            yield Request("POST", f"{SAP}/API_SALES_ORDER_SRV/A_SalesOrder", self._order_body(order, None))
        )

    def find_orders(self, order_no: str) -> Exchange[list[str]]:
        query = {"$filter": f"PurchaseOrderByCustomer eq '{order_no}'"}
        reply = yield Request("GET", f"{SAP}/API_SALES_ORDER_SRV/A_SalesOrder", query=query)
        return [row["SalesOrder"] for row in (_body(reply) or {"d": {"results": []}})["d"]["results"]]

    def place_order(self, order: Order) -> Exchange[str | None]:
        found = yield from self.find_orders(order.number)
        if found:
            return found[0]
        reply = yield from self.submit_order(order)
        return str(reply.body["d"]["SalesOrder"]) if isinstance(reply, Response) and reply.ok else None

    def _document(self, ret: Return, reference: str) -> dict[str, Any]:
        items = [
            {"Material": line.sku, "RequestedQuantity": str(line.quantity), "ReferenceSDDocument": reference}
            for line in ret.lines
        ]
        return {
            "SalesOrganization": "1010",
            "SoldToParty": ret.order.customer,
            "PurchaseOrderByCustomer": ret.number,
            "to_Item": {"results": items},
        }

    def authorise_return(self, ret: Return, order_id: str) -> Exchange[str | None]:
        path = f"{SAP}/API_CUSTOMER_RETURN_SRV/A_CustomerReturn"
        reply = yield Request("POST", path, self._document(ret, order_id))
        return str(reply.body["d"]["CustomerReturn"]) if isinstance(reply, Response) and reply.ok else None

    def credit_return(self, ret: Return, return_id: str) -> Exchange[str | None]:
        path = f"{SAP}/API_CREDIT_MEMO_REQUEST_SRV/A_CreditMemoRequest"
        reply = yield Request("POST", path, self._document(ret, return_id))
        return str(reply.body["d"]["CreditMemoRequest"]) if isinstance(reply, Response) and reply.ok else None

    def stock_on_hand(self, sku: str) -> Exchange[int]:
        reply = yield Request("GET", f"{SAP}/API_MATERIAL_STOCK_SRV/A_MatlStkInAcctMod")
        rows = (_body(reply) or {"d": {"results": []}})["d"]["results"]
        return sum(int(row["MatlWrhsStkQtyInMatlBaseUnit"]) for row in rows if row["Material"] == sku)


# ---- Oracle NetSuite ------------------------------------------------------------------------------

NS = "/services/rest/record/v1"


def _id_from_location(reply: Reply) -> str | None:
    if isinstance(reply, Response) and reply.ok and "Location" in reply.headers:
        return reply.headers["Location"].rsplit("/", 1)[-1]
    return None


class NetSuiteDriver:
    dialect = "netsuite"

    @staticmethod
    def _order_body(order: Order, entity: str | None) -> dict[str, Any]:
        lines = [
            {
                "item": {"id": line.sku},
                "quantity": line.quantity,
                "rate": line.price,
                "location": {"id": order.location},
            }
            for line in order.lines
        ]
        body: dict[str, Any] = {
            "externalId": order.number,
            "otherRefNum": order.number,
            "currency": {"id": "1"},
            "item": {"items": lines},
        }
        if entity is not None:
            body["entity"] = {"id": entity}
        return body

    def submit_order(self, order: Order) -> Exchange[Reply]:
        return (yield Request("POST", f"{NS}/salesOrder", self._order_body(order, order.customer)))

    def submit_malformed_order(self, order: Order) -> Exchange[Reply]:
        return (yield Request("POST", f"{NS}/salesOrder", self._order_body(order, None)))

    def find_orders(self, order_no: str) -> Exchange[list[str]]:
        reply = yield Request("GET", f"{NS}/salesOrder", query={"q": f'otherRefNum IS "{order_no}"'})
        return [row["id"] for row in (_body(reply) or {"items": []})["items"]]

    def place_order(self, order: Order) -> Exchange[str | None]:
        body = self._order_body(order, order.customer)
        del body["externalId"]  # carried by the path
        reply = yield Request("PUT", f"{NS}/salesOrder/eid:{order.number}", body)
        return _id_from_location(reply)

    def authorise_return(self, ret: Return, order_id: str) -> Exchange[str | None]:
        lines = [
            {"item": {"id": line.sku}, "quantity": line.quantity, "rate": line.price} for line in ret.lines
        ]
        body = {"externalId": ret.number, "item": {"items": lines}}
        reply = yield Request("POST", f"{NS}/salesOrder/{order_id}/!transform/returnAuthorization", body)
        return _id_from_location(reply)

    def credit_return(self, ret: Return, return_id: str) -> Exchange[str | None]:
        body = {"externalId": ret.number}
        reply = yield Request("POST", f"{NS}/returnAuthorization/{return_id}/!transform/creditMemo", body)
        return _id_from_location(reply)

    def stock_on_hand(self, sku: str) -> Exchange[int]:
        query = {"q": f"SELECT itemid, quantityonhand FROM item WHERE itemid = '{sku}'"}
        reply = yield Request(
            "POST", "/services/rest/query/v1/suiteql", query, headers={"Prefer": "transient"}
        )
        return sum(int(row["quantityonhand"]) for row in (_body(reply) or {"items": []})["items"])


# ---- Microsoft Dynamics 365 F&SCM -----------------------------------------------------------------

D365 = "/data"


@dataclass(frozen=True, slots=True)
class D365Document:
    headers: str
    lines: str
    number: str
    customer: str
    quantity: str
    price: str
    price_sign: int


D365_RETURN_ORDER = D365Document(
    "ReturnOrderHeaders",
    "ReturnOrderLines",
    "ReturnOrderNumber",
    "CustomerAccountNumber",
    "ReturnQuantity",
    "SalesPrice",
    1,
)
D365_CREDIT_NOTE = D365Document(
    "FreeTextInvoiceHeaders",
    "FreeTextInvoiceLines",
    "FreeTextNumber",
    "CustomerAccount",
    "Quantity",
    "UnitPrice",
    -1,
)


class Dynamics365Driver:
    dialect = "d365"
    area = "usmf"

    def _header(self, order: Order, customer: str | None) -> dict[str, Any]:
        body = {
            "dataAreaId": self.area,
            "OrderingCustomerAccountNumber": customer,
            "CurrencyCode": order.currency,
            "CustomersOrderReference": order.number,
            "DefaultShippingWarehouseId": order.location,
        }
        return {key: value for key, value in body.items() if value is not None}

    def _line(self, order: Order, number: str, index: int, line: Line) -> Request:
        body = {
            "dataAreaId": self.area,
            "SalesOrderNumber": number,
            "LineCreationSequenceNumber": str(index + 1),
            "ItemNumber": line.sku,
            "OrderedSalesQuantity": line.quantity,
            "SalesPrice": line.price,
            "ShippingWarehouseId": order.location,
        }
        return Request("POST", f"{D365}/SalesOrderLines", body)

    def submit_order(self, order: Order) -> Exchange[Reply]:
        reply = yield Request("POST", f"{D365}/SalesOrderHeadersV2", self._header(order, order.customer))
        number = reply.body["SalesOrderNumber"] if isinstance(reply, Response) and reply.ok else ""
        for index, line in enumerate(order.lines):
            if not isinstance(reply, Response) or not reply.ok:
                break
            reply = yield self._line(order, number, index, line)
        return reply

    def submit_malformed_order(self, order: Order) -> Exchange[Reply]:
        return (yield Request("POST", f"{D365}/SalesOrderHeadersV2", self._header(order, None)))

    def find_orders(self, order_no: str) -> Exchange[list[str]]:
        query = {"$filter": f"CustomersOrderReference eq '{order_no}'", "cross-company": "true"}
        reply = yield Request("GET", f"{D365}/SalesOrderHeadersV2", query=query)
        return [row["SalesOrderNumber"] for row in (_body(reply) or {"value": []})["value"]]

    def place_order(self, order: Order) -> Exchange[str | None]:
        found = yield from self.find_orders(order.number)
        if found:
            number = found[0]
        else:
            reply = yield Request("POST", f"{D365}/SalesOrderHeadersV2", self._header(order, order.customer))
            if not isinstance(reply, Response) or not reply.ok:
                return None
            number = reply.body["SalesOrderNumber"]
        query = {"$filter": f"SalesOrderNumber eq '{number}'"}
        reply = yield Request("GET", f"{D365}/SalesOrderLines", query=query)
        if not isinstance(reply, Response) or not reply.ok:
            return None
        present = {row["LineCreationSequenceNumber"] for row in reply.body["value"]}
        for index, line in enumerate(order.lines):
            if str(index + 1) not in present:
                reply = yield self._line(order, number, index, line)
                if not isinstance(reply, Response) or not (reply.ok or "already exists" in str(reply.body)):
                    return None
        return str(number)

    def _document(self, entities: D365Document, ret: Return, origin: str) -> Exchange[str | None]:
        """A return order or credit note: header first, then its lines, each its own POST."""
        header = {
            "dataAreaId": self.area,
            entities.customer: ret.order.customer,
            "CurrencyCode": ret.order.currency,
            "CustomersOrderReference": ret.number,
            "OriginalSalesOrderNumber": origin,
        }
        reply = yield Request("POST", f"{D365}/{entities.headers}", header)
        number = reply.body[entities.number] if isinstance(reply, Response) and reply.ok else None
        for index, line in enumerate(ret.lines):
            if not isinstance(reply, Response) or not reply.ok:
                return None
            body = {
                "dataAreaId": self.area,
                entities.number: number,
                "LineCreationSequenceNumber": str(index + 1),
                "ItemNumber": line.sku,
                entities.quantity: line.quantity,
                entities.price: entities.price_sign * line.price,
            }
            reply = yield Request("POST", f"{D365}/{entities.lines}", body)
        return str(number) if isinstance(reply, Response) and reply.ok else None

    def authorise_return(self, ret: Return, order_id: str) -> Exchange[str | None]:
        return (yield from self._document(D365_RETURN_ORDER, ret, order_id))

    def credit_return(self, ret: Return, return_id: str) -> Exchange[str | None]:
        return (yield from self._document(D365_CREDIT_NOTE, ret, return_id))

    def stock_on_hand(self, sku: str) -> Exchange[int]:
        reply = yield Request(
            "GET", f"{D365}/WarehousesOnHandV2", query={"$filter": f"ItemNumber eq '{sku}'"}
        )
        return sum(int(row["OnHandQuantity"]) for row in (_body(reply) or {"value": []})["value"])


# ---- Oracle Fusion Order Management ---------------------------------------------------------------

FUSION = "/fscmRestApi/resources/11.13.18.05"
ADF_ERRORS = {"Accept": "application/vnd.oracle.adf.error+json"}


class OracleFusionDriver:
    dialect = "oracle_fusion"
    source_system = "OPS"

    def _order_body(self, order: Order, buyer: str | None) -> dict[str, Any]:
        lines = [
            {
                "SourceTransactionLineId": str(index + 1),
                "SourceTransactionLineNumber": str(index + 1),
                "SourceScheduleNumber": "1",
                "SourceTransactionScheduleId": "1",
                "ProductNumber": line.sku,
                "OrderedQuantity": line.quantity,
                "OrderedUOMCode": "Ea",
                "UnitSellingPrice": line.price,
                "RequestedFulfillmentOrganizationCode": order.location,
            }
            for index, line in enumerate(order.lines)
        ]
        body = {
            "SourceTransactionNumber": order.number,
            "SourceTransactionSystem": self.source_system,
            "SourceTransactionId": order.number,
            "BusinessUnitName": "BU1",
            "BuyingPartyNumber": buyer,
            "TransactionalCurrencyCode": order.currency,
            "SubmittedFlag": True,
            "lines": lines,
        }
        return {key: value for key, value in body.items() if value is not None}

    def submit_order(self, order: Order) -> Exchange[Reply]:
        body = self._order_body(order, order.customer)
        return (yield Request("POST", f"{FUSION}/salesOrdersForOrderHub", body, headers=dict(ADF_ERRORS)))

    def submit_malformed_order(self, order: Order) -> Exchange[Reply]:
        body = self._order_body(order, None)
        return (yield Request("POST", f"{FUSION}/salesOrdersForOrderHub", body, headers=dict(ADF_ERRORS)))

    def find_orders(self, order_no: str) -> Exchange[list[str]]:
        query = {"q": f"SourceTransactionNumber='{order_no}'"}
        reply = yield Request("GET", f"{FUSION}/salesOrdersForOrderHub", query=query)
        return [row["OrderKey"] for row in (_body(reply) or {"items": []})["items"]]

    def place_order(self, order: Order) -> Exchange[str | None]:
        reply = yield from self.submit_order(order)
        if isinstance(reply, Response) and (reply.ok or "already exists" in str(reply.body)):
            return f"{self.source_system}:{order.number}"  # the OrderKey names the order, whatever came back
        return None

    def authorise_return(self, ret: Return, order_id: str) -> Exchange[str | None]:
        body = self._order_body(
            Order(ret.number, ret.order.customer, ret.order.currency, ret.order.location, ret.lines),
            ret.order.customer,
        )
        for index, line in enumerate(body["lines"]):
            line["TransactionCategoryCode"] = "RETURN"
            line["ReturnReasonCode"] = "WRONG_SIZE"
            line["DocumentReference"] = [
                {
                    "DocumentReferenceType": "ORIGINAL_SALES_ORDER",
                    "DocumentIdentifier": ret.order.number,
                    "DocumentAdditionalIdentifier": self.source_system,
                    "DocumentNumber": ret.order.number,
                    "DocumentLineIdentifier": str(index + 1),
                }
            ]
        reply = yield Request("POST", f"{FUSION}/salesOrdersForOrderHub", body, headers=dict(ADF_ERRORS))
        return str(reply.body["OrderKey"]) if isinstance(reply, Response) and reply.ok else None

    def credit_return(self, ret: Return, return_id: str) -> Exchange[str | None]:
        lines = [
            {
                "LineDescription": line.sku,
                "LineNumber": index + 1,
                "LineQuantityCredit": line.quantity,
                "UnitSellingPrice": -line.price,
            }
            for index, line in enumerate(ret.lines)
        ]
        body = {
            "BusinessUnit": "BU1",
            "TransactionSource": "Manual",
            "TransactionType": "Credit Memo",
            "TransactionNumber": ret.number,
            "CreditMemoCurrency": ret.order.currency,
            "BillToCustomerNumber": ret.order.customer,
            "CreditMemoComments": f"Return {ret.number} (order {return_id})",
            "receivablesCreditMemoLines": lines,
        }
        reply = yield Request("POST", f"{FUSION}/receivablesCreditMemos", body, headers=dict(ADF_ERRORS))
        return str(reply.body["CustomerTransactionId"]) if isinstance(reply, Response) and reply.ok else None

    def stock_on_hand(self, sku: str) -> Exchange[int]:
        reply = yield Request("GET", f"{FUSION}/onhandQuantityDetails", query={"q": f"ItemNumber='{sku}'"})
        return sum(int(row["OnhandQuantity"]) for row in (_body(reply) or {"items": []})["items"])


# ---- legacy SAP ECC: ORDERS05 IDocs posted in batch windows ----------------------------------------

IDOC_INBOUND = "/sap/idoc/inbound"


def ecc_refusal(order_no: str, files: Reply) -> Reply:
    """ECC refuses an order later, as a status-51 record in a status file: handed back as the 400 it
    amounts to, its body the record (DOCNUM, STATUS, STACOD, STATXT); else the file reply as it came."""
    for file in (_body(files) or {"FILES": []})["FILES"]:
        for record in file["E2STATS"]:
            if record["ARCKEY"] == order_no and record["STATUS"] == "51":
                return Response(400, record)
    return files


class SapEccDriver(SapDriver):
    """Sales orders as ORDERS05 IDocs into the file port; everything else as the S/4 driver does. The suite
    runs the clock out after each call, so the batch window has run by the time a reply is read."""

    dialect = "sap_ecc"

    @staticmethod
    def _idoc(order: Order, sold_to: str | None) -> dict[str, Any]:
        items = [
            {
                "POSEX": str(10 * (index + 1)),
                "MENGE": str(line.quantity),
                "WERKS": order.location,
                "NETWR": f"{line.quantity * line.price:.2f}",
                "E1EDP19": [{"QUALF": "002", "IDTNR": line.sku}],
            }
            for index, line in enumerate(order.lines)
        ]
        organisation = [("012", "OR"), ("008", "1010"), ("007", "10"), ("006", "00")]
        return {
            "EDI_DC40": {"IDOCTYP": "ORDERS05", "MESTYP": "ORDERS", "DIRECT": "2"},
            "E1EDK01": {"BELNR": order.number, "CURCY": order.currency},
            "E1EDK14": [{"QUALF": qualifier, "ORGID": value} for qualifier, value in organisation],
            "E1EDKA1": [{"PARVW": "AG", "PARTN": sold_to}] if sold_to else [],
            "E1EDP01": items,
        }

    def submit_order(self, order: Order) -> Exchange[Reply]:
        return (yield Request("POST", IDOC_INBOUND, self._idoc(order, order.customer)))

    def submit_malformed_order(self, order: Order) -> Exchange[Reply]:
        received = yield Request("POST", IDOC_INBOUND, self._idoc(order, None))
        if not (isinstance(received, Response) and received.ok):
            return received
        return ecc_refusal(
            order.number, (yield Request("GET", "/sap/idoc/status-files", query={"after": "0"}))
        )

    def find_orders(self, order_no: str) -> Exchange[list[str]]:
        """The sales orders the order's IDocs posted (the IDoc monitor: status 53 with VBELN)."""
        reply = yield Request("GET", IDOC_INBOUND, query={"BELNR": order_no})
        rows = (_body(reply) or {"IDOCS": []})["IDOCS"]
        return [row["VBELN"] for row in rows if row["STATUS"] == "53"]

    def place_order(self, order: Order) -> Exchange[str | None]:
        found = yield from self.find_orders(order.number)
        if found:
            return found[0]
        reply = yield from self.submit_order(order)
        if not (isinstance(reply, Response) and reply.ok):
            return None
        posted = yield from self.find_orders(order.number)
        return posted[0] if posted else None


DRIVERS: dict[str, ErpDriver] = {
    driver.dialect: driver
    for driver in (SapDriver(), NetSuiteDriver(), Dynamics365Driver(), OracleFusionDriver(), SapEccDriver())
}
