"""Oracle NetSuite ERP (SuiteTalk REST record API): the ``netsuite`` dialect of the mock ERP.

What the product does, and so what this mock does (reference: shared/reference/erp-dialects.md §1):

* ``POST /services/rest/record/v1/salesOrder`` creates and answers **204 with no body**, the new record's
  URL in ``Location``. A second POST with an ``externalId`` already in use is refused (400).
* ``PUT .../salesOrder/eid:{externalId}`` is an **upsert**: it creates the first time and updates the same
  record afterwards, so a retried PUT never makes a second order. ``eid:`` works wherever an internal id
  does (``GET .../salesOrder/eid:SHOP-1001``).
* ``Prefer: respond-async`` runs the request as a job: 202 with ``Location: /services/rest/async/v1/job/{id}``;
  a repeated ``X-NetSuite-Idempotency-Key`` is refused with 400 ``IDEMPOTENCY_ERROR`` (title "Conflict")
  pointing at the first job, and changes nothing.
* Errors are RFC 7807-like bodies with ``o:errorDetails[{detail, o:errorCode, o:errorPath}]``.
* Concurrency governance: when every request slot of the account is taken, a further request is
  **refused at once** (429) instead of queueing — the account limit is on concurrent requests, not a
  rate. Whether REST sends ``Retry-After`` is unconfirmed, so by default it does not.
* Returns: ``POST .../salesOrder/{id}/!transform/returnAuthorization`` and
  ``.../returnAuthorization/{id}/!transform/creditMemo`` (204 + Location); stock by SuiteQL
  (``POST /services/rest/query/v1/suiteql`` with ``Prefer: transient``).
* Fulfilment and stock movements, by the same transform pattern: ``salesOrder/{id}/!transform/itemFulfillment``
  ships the order (goods issue: stock leaves, status "Pending Billing"; a second one is refused as already
  fulfilled), ``returnAuthorization/{id}/!transform/itemReceipt`` books returned goods back into stock
  (once), ``PATCH .../salesOrder/{id}`` closes lines (``isClosed``, NetSuite's cancel of an approved
  order: status "Closed", reservations released) or moves them to another ``location``, and
  ``PUT .../inventoryAdjustment/eid:{externalId}`` upserts an inventory adjustment (``adjustQtyBy`` per
  line: a repeated PUT moves stock by the difference only). Sources: REST runs every SuiteScript
  transformation (Oracle, "Transforming Records"; the Sales Order and Item Fulfillment record pages
  name salesOrder → itemFulfillment); the adjustment's ``account``/``adjLocation`` and its lines'
  ``item``/``location``/``adjustQtyBy`` and upsert by external id are in the SOAP schema (client code
  NetSweet/netsuite). (unconfirmed) The ``itemReceipt`` transform of a return authorisation, the REST
  name ``inventory`` of the adjustment's sublist, and every refusal text here.
* Transactions share one internal-id sequence, as in NetSuite, so an id names one document whatever its
  type. A replacement order names the document it makes good in the custom body field
  ``custbody_replaces`` (an account customisation: NetSuite has no standard field for it).

Rules kept: imports SimPy, the standard library and ``retailsim.systems`` only; internal ids are counters.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

import simpy

from retailsim.systems.base import LostReply, Request, Response
from retailsim.systems.erp_base import Document, ErpSystem

RECORD = "/services/rest/record/v1"
ASYNC_JOB = "/services/rest/async/v1/job"
SUITEQL = "/services/rest/query/v1/suiteql"
BAD_REQUEST_TYPE = "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1"
_ITEM_QUERY = re.compile(
    r"^SELECT\s+itemid\s*,\s*quantityonhand\s+FROM\s+item(?:\s+WHERE\s+itemid\s*=\s*'([^']*)')?$", re.I
)
_BALANCE_QUERY = re.compile(  # (unconfirmed) the inventorybalance table: on hand per item and location
    r"^SELECT\s+item\s*,\s*location\s*,\s*quantityonhand\s+FROM\s+inventorybalance$", re.I
)
_Q_FILTER = re.compile(r'^(externalId|otherRefNum)\s+IS\s+"([^"]*)"$')
# Record types as the REST API names them; paths are matched without regard to case, as NetSuite does.
SALES_ORDER, RETURN_AUTHORIZATION, CREDIT_MEMO = "salesOrder", "returnAuthorization", "creditMemo"
INVENTORY_ADJUSTMENT = "inventoryAdjustment"
PENDING_FULFILLMENT, PENDING_BILLING, CLOSED = "Pending Fulfillment", "Pending Billing", "Closed"
REPLACES = "custbody_replaces"
NONEXISTENT = "The record instance does not exist. Provide a valid record instance ID."


class NetSuite(ErpSystem):
    """NetSuite REST record API: upsert by external id, 204 + Location, governance refusals."""

    dialect = "netsuite"
    sends_retry_after = False  # (unconfirmed) REST 429 is documented by third parties, its headers are not
    routes = (
        ("POST", rf"(?i){RECORD}/salesOrder", "create_sales_order"),
        ("PUT", rf"(?i){RECORD}/salesOrder/eid:([^/]+)", "upsert_sales_order"),
        ("GET", rf"(?i){RECORD}/(salesOrder|returnAuthorization|creditMemo)", "query_records"),
        ("GET", rf"(?i){RECORD}/(salesOrder|returnAuthorization|creditMemo)/([^/!]+)", "get_record"),
        ("POST", rf"(?i){RECORD}/salesOrder/([^/!]+)/!transform/returnAuthorization", "authorise_return"),
        ("POST", rf"(?i){RECORD}/returnAuthorization/([^/!]+)/!transform/creditMemo", "credit_return"),
        ("PATCH", rf"(?i){RECORD}/salesOrder/([^/!]+)", "update_sales_order"),
        ("POST", rf"(?i){RECORD}/salesOrder/([^/!]+)/!transform/itemFulfillment", "fulfil_order"),
        ("POST", rf"(?i){RECORD}/returnAuthorization/([^/!]+)/!transform/itemReceipt", "receive_return"),
        ("PUT", rf"(?i){RECORD}/inventoryAdjustment/eid:([^/]+)", "upsert_inventory_adjustment"),
        ("POST", SUITEQL, "suiteql"),
    )

    def __init__(self, env: simpy.Environment, *args: Any, governance: bool = True, **kwargs: Any) -> None:
        super().__init__(env, *args, **kwargs)
        self.governance = governance
        self.by_external_id: dict[str, dict[str, str]] = {
            SALES_ORDER: {},
            RETURN_AUTHORIZATION: {},
            CREDIT_MEMO: {},
        }
        self.inventory_adjustments: dict[str, Document] = {}  # externalId → the adjustment
        self.item_fulfillments: dict[str, Document] = {}
        self.jobs: dict[str, Response] = {}  # async job id → the result the job produced
        self.jobs_by_idempotency_key: dict[str, str] = {}

    # ---- the product's answers ------------------------------------------------------------------

    def error(self, status: int, code: str, message: str, path: str | None = None) -> Response:
        detail: dict[str, str] = {"detail": message, "o:errorCode": code}
        if path is not None:
            detail["o:errorPath"] = path
        titles = {
            400: "Bad Request",
            404: "Not Found",
            429: "Too Many Requests",
            500: "Internal Server Error",
        }
        return Response(
            status,
            {
                "type": BAD_REQUEST_TYPE if status == 400 else f"https://httpstatuses.io/{status}",
                "title": titles.get(status, "Error"),
                "status": status,
                "o:errorDetails": [detail],
            },
        )

    def rate_limited(self, retry_after_s: float) -> Response:
        response = self.error(
            429, "CONCURRENCY_LIMIT_EXCEEDED", "Request limit exceeded: too many concurrent requests"
        )
        return self.with_retry_after(response, retry_after_s)

    def unavailable(self) -> Response:
        return self.error(503, "SERVICE_UNAVAILABLE", "NetSuite is temporarily unavailable")

    def call(self, request: Request) -> Generator[simpy.Event, Any, Response | LostReply]:
        """Concurrency governance: with every slot taken, refuse at once rather than queue."""
        if self.governance and not self.faults.outage and self.capacity.count >= self.capacity.capacity:
            self.calls += 1
            self.refusals += 1
            self.throttled += 1
            return self.rate_limited(1.0)
        return (yield from super().call(request))

    @staticmethod
    def _created(record_type: str, internal_id: str) -> Response:
        return Response(204, None, {"Location": f"{RECORD}/{record_type}/{internal_id}"})

    def _answer(self, request: Request, result: Response) -> Response:
        """The result itself, or — when the client asked ``Prefer: respond-async`` — the job it became."""
        if "respond-async" not in request.headers.get("Prefer", "") or not result.ok:
            return result
        job = str(self.next_number("job"))
        self.jobs[job] = result
        key = request.headers.get("X-NetSuite-Idempotency-Key")
        if key is not None:
            self.jobs_by_idempotency_key[key] = job
        return Response(202, None, {"Location": f"{ASYNC_JOB}/{job}", "Preference-Applied": "respond-async"})

    def _repeated_job(self, request: Request) -> Response | None:
        if "respond-async" not in request.headers.get("Prefer", ""):
            return None
        job = self.jobs_by_idempotency_key.get(request.headers.get("X-NetSuite-Idempotency-Key", ""))
        if job is None:
            return None
        response = self.error(400, "IDEMPOTENCY_ERROR", "A job with this idempotency key already exists")
        response.body["title"] = "Conflict"
        response.headers["Location"] = f"{ASYNC_JOB}/{job}"
        return response

    # ---- sales orders -----------------------------------------------------------------------------

    def _lines(self, body: dict[str, Any]) -> list[tuple[str, str, int, float]] | Response:
        """``(item, location, quantity, rate)`` per line, or the product's refusal."""
        entity = body.get("entity")
        if not isinstance(entity, dict) or not entity.get("id"):
            return self.error(400, "INVALID_CONTENT", "Please enter value(s) for: Customer", "entity")
        items = (body.get("item") or {}).get("items") if isinstance(body.get("item"), dict) else None
        if not isinstance(items, list) or not items:
            return self.error(400, "INVALID_CONTENT", "Please enter value(s) for: Items", "item")
        known = {item for _, item in self.stock}
        header_location = str((body.get("location") or {}).get("id", ""))
        lines = []
        for index, line in enumerate(items):
            item = str(((line or {}).get("item") or {}).get("id", "")) if isinstance(line, dict) else ""
            if item not in known:
                return self.error(
                    400,
                    "INVALID_CONTENT",
                    "Error while accessing resource: You have entered an Invalid Field Value "
                    f"{item} for the following field: item",
                    f"item.items[{index}].item",
                )
            try:
                quantity, rate = int(line.get("quantity", 0)), float(line.get("rate", 0))
            except (TypeError, ValueError):
                return self.error(400, "INVALID_CONTENT", "Invalid number", f"item.items[{index}].quantity")
            if quantity <= 0:
                return self.error(
                    400,
                    "INVALID_CONTENT",
                    "Please enter value(s) for: Quantity",
                    f"item.items[{index}].quantity",
                )
            location = str((line.get("location") or {}).get("id", header_location))
            lines.append((item, location, quantity, rate))
        return lines

    def _reserve_lines(self, lines: list[tuple[str, str, int, float]]) -> list[Document]:
        return [
            {
                "line": index + 1,
                "isClosed": False,
                "item": {"id": item},
                "location": {"id": location},
                "quantity": quantity,
                "rate": rate,
                "amount": round(quantity * rate, 2),
                "quantityCommitted": self.reserve(location, item, quantity),
            }
            for index, (item, location, quantity, rate) in enumerate(lines)
        ]

    def _release_lines(self, order: Document) -> None:
        for line in order["item"]["items"]:
            self.release(line["location"]["id"], line["item"]["id"], line["quantityCommitted"])

    def _transaction_id(self) -> str:
        """The next internal id: one sequence for every transaction type, as in NetSuite."""
        return str(100 + self.next_number("transaction"))

    def _new_order(self, body: dict[str, Any], lines: list[tuple[str, str, int, float]]) -> str:
        internal_id = self._transaction_id()
        order = {
            "id": internal_id,
            "tranId": f"SO{internal_id}",
            "externalId": body.get("externalId"),
            "entity": {"id": body["entity"]["id"]},
            "otherRefNum": body.get("otherRefNum"),
            "currency": body.get("currency") or {"id": "1"},
            "status": PENDING_FULFILLMENT,
            "item": {"items": self._reserve_lines(lines)},
        }
        if isinstance(body.get(REPLACES), dict) and body[REPLACES].get("id"):
            order[REPLACES] = {"id": str(body[REPLACES]["id"])}
        reference = str(body.get("otherRefNum") or body.get("externalId") or internal_id)
        self.book_order(reference, internal_id, order)
        if body.get("externalId"):
            self.by_external_id[SALES_ORDER][str(body["externalId"])] = internal_id
        return internal_id

    def create_sales_order(self, request: Request) -> Response:
        repeated = self._repeated_job(request)
        if repeated is not None:
            return repeated
        body = request.body if isinstance(request.body, dict) else {}
        lines = self._lines(body)
        if isinstance(lines, Response):
            return lines
        if body.get("externalId") and str(body["externalId"]) in self.by_external_id[SALES_ORDER]:
            # (unconfirmed code) third-party docs give the text "This record already exists".
            return self.error(400, "USER_ERROR", "This record already exists", "externalId")
        return self._answer(request, self._created(SALES_ORDER, self._new_order(body, lines)))

    def upsert_sales_order(self, request: Request, external_id: str) -> Response:
        repeated = self._repeated_job(request)
        if repeated is not None:
            return repeated
        body = {**(request.body if isinstance(request.body, dict) else {}), "externalId": external_id}
        lines = self._lines(body)
        if isinstance(lines, Response):
            return lines
        existing = self.by_external_id[SALES_ORDER].get(external_id)
        if existing is None:
            result = self._created(SALES_ORDER, self._new_order(body, lines))
        else:
            order = self.sales_orders[existing]
            if order["status"] == PENDING_FULFILLMENT:  # a shipped or closed order keeps its lines
                self._release_lines(order)
                order["item"]["items"] = self._reserve_lines(lines)
            for field in ("entity", "otherRefNum", "currency"):
                if field in body:
                    order[field] = body[field]
            result = Response(204, None, {"Location": f"{RECORD}/{SALES_ORDER}/{existing}"})
        return self._answer(request, result)

    def update_sales_order(self, request: Request, key: str) -> Response:
        """Close lines (``isClosed``: the order's cancel) or move them to another ``location``, by line number.

        Closing a closed line changes nothing; a fulfilled order is refused as already fulfilled.
        """
        order = self.sales_orders.get(self._resolve(SALES_ORDER, key) or "")
        if order is None:
            return self.error(404, "NONEXISTENT_ID", NONEXISTENT)
        body = request.body if isinstance(request.body, dict) else {}
        changes = (body.get("item") or {}).get("items") if isinstance(body.get("item"), dict) else None
        lines = {line["line"]: line for line in order["item"]["items"]}
        if not isinstance(changes, list) or not all(
            isinstance(change, dict) and change.get("line") in lines for change in changes
        ):
            return self.error(400, "INVALID_CONTENT", "Every changed line needs a valid line number", "item")
        if order["status"] == PENDING_BILLING:
            return self.error(
                400, "USER_ERROR", f"Sales order {order['tranId']} has already been fulfilled", "item"
            )
        for change in changes:
            line = lines[change["line"]]
            location = str((change.get("location") or {}).get("id", line["location"]["id"]))
            if line["isClosed"]:
                continue
            item, committed = line["item"]["id"], line["quantityCommitted"]
            if change.get("isClosed") is True:
                self.release(line["location"]["id"], item, committed)
                line.update(isClosed=True, quantityCommitted=0)
            elif location != line["location"]["id"]:
                self.release(line["location"]["id"], item, committed)
                line["location"] = {"id": location}
                line["quantityCommitted"] = self.reserve(location, item, line["quantity"])
        if all(line["isClosed"] for line in order["item"]["items"]):
            order["status"] = CLOSED
        return Response(204, None)

    def fulfil_order(self, request: Request, key: str) -> Response:
        """Item fulfillment of the whole order (goods issue): committed units leave stock, once."""
        order = self.sales_orders.get(self._resolve(SALES_ORDER, key) or "")
        if order is None:
            return self.error(404, "NONEXISTENT_ID", NONEXISTENT)
        if order["status"] == PENDING_BILLING:
            return self.error(400, "USER_ERROR", f"Sales order {order['tranId']} has already been fulfilled")
        if order["status"] == CLOSED:
            return self.error(400, "USER_ERROR", f"Sales order {order['tranId']} is closed")
        for line in order["item"]["items"]:
            self.issue(line["location"]["id"], line["item"]["id"], line["quantityCommitted"])
            line["quantityFulfilled"] = line["quantityCommitted"]
        order["status"] = PENDING_BILLING
        fulfillment = self._transaction_id()
        self.item_fulfillments[fulfillment] = {"id": fulfillment, "createdFrom": {"id": order["id"]}}
        return self._created("itemFulfillment", fulfillment)

    def receive_return(self, request: Request, key: str) -> Response:
        """Item receipt of returned goods into stock at each line's location; a second one is refused."""
        authorisation = self.return_authorisations.get(self._resolve(RETURN_AUTHORIZATION, key) or "")
        if authorisation is None:
            return self.error(404, "NONEXISTENT_ID", NONEXISTENT)
        if authorisation["status"] != "Pending Receipt":
            return self.error(
                400, "USER_ERROR", f"Return authorization {authorisation['tranId']} has already been received"
            )
        body = request.body if isinstance(request.body, dict) else {}
        lines = (body.get("item") or {}).get("items") if isinstance(body.get("item"), dict) else None
        if not isinstance(lines, list) or not lines:
            return self.error(400, "INVALID_CONTENT", "Please enter value(s) for: Items", "item")
        for line in lines:
            self.restock(str(line["location"]["id"]), str(line["item"]["id"]), int(line["quantity"]))
        authorisation["status"] = "Pending Refund"
        receipt = self._transaction_id()
        return self._created("itemReceipt", receipt)

    def upsert_inventory_adjustment(self, request: Request, external_id: str) -> Response:
        """An inventory adjustment by external id: the first PUT moves stock by ``adjustQtyBy`` per line;
        a repeated PUT replaces the adjustment, so stock moves by the difference only (none for a retry)."""
        body = request.body if isinstance(request.body, dict) else {}
        lines = (
            (body.get("inventory") or {}).get("items") if isinstance(body.get("inventory"), dict) else None
        )
        try:
            moves = [
                (str(line["location"]["id"]), str(line["item"]["id"]), int(line["adjustQtyBy"]))
                for line in lines or ()
            ]
        except (KeyError, TypeError, ValueError):
            moves = []
        if not moves:
            return self.error(400, "INVALID_CONTENT", "Please enter value(s) for: Adjustments", "inventory")
        previous = self.inventory_adjustments.get(external_id)
        for location, item, quantity in previous["moves"] if previous else ():
            self.adjust(location, item, -quantity)
        for location, item, quantity in moves:
            self.adjust(location, item, quantity)
        internal_id = previous["id"] if previous else self._transaction_id()
        self.inventory_adjustments[external_id] = {
            "id": internal_id,
            "externalId": external_id,
            "moves": moves,
        }
        return self._created(INVENTORY_ADJUSTMENT, internal_id)

    # ---- the ledgers in the harness's words --------------------------------------------------------

    def order_state(self, number: str) -> str:
        status = self.sales_orders[number]["status"]
        return {CLOSED: "cancelled", PENDING_BILLING: "completed"}.get(status, "open")

    def replaced_document(self, number: str) -> str | None:
        replaces = self.sales_orders[number].get(REPLACES)
        return str(replaces["id"]) if replaces else None

    def returns_of_order(self, number: str) -> list[str]:
        return [
            str(authorisation["externalId"] or authorisation["id"])
            for authorisation in self.return_authorisations.values()
            if authorisation["createdFrom"]["id"] == number
        ]

    # ---- reading records ---------------------------------------------------------------------------

    def _ledger(self, record_type: str) -> tuple[str, dict[str, Document]]:
        kind = {t.lower(): t for t in (SALES_ORDER, RETURN_AUTHORIZATION, CREDIT_MEMO)}[record_type.lower()]
        ledgers = {SALES_ORDER: self.sales_orders, RETURN_AUTHORIZATION: self.return_authorisations}
        return kind, ledgers.get(kind, self.credit_memos)

    def _resolve(self, kind: str, key: str) -> str | None:
        """An internal id, or ``eid:{externalId}`` resolved to one."""
        if key.startswith("eid:"):
            return self.by_external_id[kind].get(key[4:])
        return key

    def get_record(self, request: Request, record_type: str, key: str) -> Response:
        kind, ledger = self._ledger(record_type)
        internal_id = self._resolve(kind, key)
        record = ledger.get(internal_id or "")
        if record is None:
            return self.error(
                404,
                "NONEXISTENT_ID",
                NONEXISTENT,
            )
        return Response(200, dict(record))

    def query_records(self, request: Request, record_type: str) -> Response:
        kind, ledger = self._ledger(record_type)
        match = _Q_FILTER.match(request.query.get("q", ""))
        if not match:
            return self.error(
                400,
                "INVALID_PARAMETER",
                'Only q=externalId IS "..." or otherRefNum IS "..." is supported',
                "q",
            )
        field, value = match.groups()
        found = [number for number, record in ledger.items() if str(record.get(field)) == value]
        return Response(
            200,
            {
                "links": [],
                "count": len(found),
                "hasMore": False,
                "items": [
                    {"links": [{"rel": "self", "href": f"{RECORD}/{kind}/{n}"}], "id": n} for n in found
                ],
                "offset": 0,
                "totalResults": len(found),
            },
        )

    # ---- returns and credit memos ------------------------------------------------------------------

    def _transform(
        self, request: Request, source: Document | None, kind: str, prefix: str
    ) -> Document | Response:
        if source is None:
            return self.error(
                404,
                "NONEXISTENT_ID",
                NONEXISTENT,
            )
        body = request.body if isinstance(request.body, dict) else {}
        external_id = str(body.get("externalId") or "")
        if external_id and external_id in self.by_external_id[kind]:
            return self.error(400, "USER_ERROR", "This record already exists", "externalId")
        internal_id = self._transaction_id()
        lines = (body.get("item") or {}).get("items") if isinstance(body.get("item"), dict) else None
        record = {
            "id": internal_id,
            "tranId": f"{prefix}{internal_id}",
            "externalId": external_id or None,
            "entity": source.get("entity"),
            "createdFrom": {"id": source["id"]},
            "otherRefNum": body.get("otherRefNum", source.get("otherRefNum")),
            "item": {"items": lines if isinstance(lines, list) else source["item"]["items"]},
        }
        if external_id:
            self.by_external_id[kind][external_id] = internal_id
        return record

    def authorise_return(self, request: Request, key: str) -> Response:
        record = self._transform(
            request, self.sales_orders.get(self._resolve(SALES_ORDER, key) or ""), RETURN_AUTHORIZATION, "RMA"
        )
        if isinstance(record, Response):
            return record
        record["status"] = "Pending Receipt"
        self.book_return(str(record["externalId"] or record["id"]), record["id"], record)
        return self._created(RETURN_AUTHORIZATION, record["id"])

    def credit_return(self, request: Request, key: str) -> Response:
        source = self.return_authorisations.get(self._resolve(RETURN_AUTHORIZATION, key) or "")
        record = self._transform(request, source, CREDIT_MEMO, "CM")
        if isinstance(record, Response):
            return record
        record["total"] = round(
            sum(
                float(line.get("rate", 0)) * int(line.get("quantity", 0)) for line in record["item"]["items"]
            ),
            2,
        )
        reference = str(record["externalId"] or (source or {}).get("externalId") or record["id"])
        self.book_credit_memo(reference, record["id"], record)
        return self._created(CREDIT_MEMO, record["id"])

    # ---- stock ----------------------------------------------------------------------------------------

    def suiteql(self, request: Request) -> Response:
        if request.headers.get("Prefer") != "transient":
            return self.error(400, "INVALID_HEADER", "The request must use the header Prefer: transient")
        query = str((request.body or {}).get("q", "")).strip() if isinstance(request.body, dict) else ""
        if _BALANCE_QUERY.match(query):
            rows: list[Document] = [
                {"links": [], "item": item, "location": location, "quantityonhand": str(position["on_hand"])}
                for (location, item), position in sorted(self.stock.items())
            ]
            return self._query_result(rows)
        match = _ITEM_QUERY.match(query)
        if not match:
            return self.error(
                400,
                "INVALID_SEARCH",
                "Only SELECT itemid, quantityonhand FROM item [WHERE itemid = '...'] and "
                "SELECT item, location, quantityonhand FROM inventorybalance are supported",
            )
        wanted = match.group(1)
        totals: dict[str, int] = {}
        for (_, item), position in sorted(self.stock.items()):
            if wanted is None or item == wanted:
                totals[item] = totals.get(item, 0) + position["on_hand"]
        rows = [
            {"links": [], "itemid": item, "quantityonhand": str(qty)} for item, qty in sorted(totals.items())
        ]
        return self._query_result(rows)

    @staticmethod
    def _query_result(rows: list[Document]) -> Response:
        return Response(
            200,
            {
                "links": [],
                "count": len(rows),
                "hasMore": False,
                "items": rows,
                "offset": 0,
                "totalResults": len(rows),
            },
        )
