"""Salesforce B2C Commerce-style storefront: places orders, shows availability, receives status.

It speaks SCAPI order JSON and the OCAPI Data API for order status and inventory records. Like the real
product it applies whatever status it is sent, in the order it arrives — so if an integration sends an
older status after a newer one, the customer sees the order go backwards; the ledger records every
applied status so the harness can catch exactly that. Errors are problem+json
``{type, title, detail, instance}``.

OCAPI batch (``POST /s/-/dw/batch``, Salesforce's "OCAPI Batch Requests"): a ``multipart/mixed`` request of
up to 50 subrequests, each on one resource. Every header of the main request (``x-dw-http-method``,
``x-dw-resource-path`` …) and its query are inherited by each subrequest, which may override them; a
subrequest's path is ``x-dw-resource-path`` + ``x-dw-resource-path-extension``. Each subrequest is served by
the same handler as the single request — same faults about its content (a ``persistent_error`` about its
entity, the error and poison rates, drawn per subrequest), same ledgers — and answered by one subresponse
with its ``x-dw-content-id`` and ``x-dw-status-code``; the batch answers 200 however its parts fared. Only
the transport's faults (outage, rate limit, latency, a request that dies, a lost reply) strike the batch
whole, and the rate limit counts it once (how the OCAPI quota counts a batch is unconfirmed). Refused whole,
as OCAPI refuses them, with its fault document ``{_v, fault: {type, message}}``: more than 50 subrequests
(400 ``QuotaExceededException``), a body that is not ``multipart/mixed`` with a boundary
(``IllegalContentTypeException``), a subrequest without a method or a path (``MissingHttpMethodException``,
``MissingResourcePathException``) or on several ids (``ResourcePathNotAllowedException``). Our reading, not
Salesforce's word: a subrequest that hangs (a ``persistent_error`` timeout) answers 500 inside the batch
rather than hang it. The request's ``X-Correlation-ID`` lists the subrequests' correlation ids in order (the
core's convention for collections); each subrequest is served with its own. The body is the multipart body
as a parser hands it over: one ``{"headers", "body"}`` per part (the simulator never serialises bodies).

Rules kept: imports SimPy, the standard library and ``retailsim.systems`` only; order documents are
built from the simulated clock (``clock.py``), never the wall clock; feeds are applied in sorted order.
"""

from __future__ import annotations

import random
from typing import Any

import simpy

from retailsim.systems.base import Latency, LostReply, MockSystem, Request, Response
from retailsim.systems.clock import iso_time

DATA = r"/s/-/dw/data/v24_5"
BATCH_PATH = "/s/-/dw/batch"
BATCH_LIMIT = 50  # subrequests per OCAPI batch request
OCAPI_VERSION = "24.5"
SUBREQUEST_METHODS = frozenset({"GET", "PATCH", "PUT", "POST", "DELETE"})

# Parts of an order document that nothing changes in place (a patch replaces what it changes, and only
# top-level fields and the shipment's own): one object serves every order that says the same, and an
# order's billing and shipping address are one dict when the checkout gave one address (a run keeps
# every order it placed; these were ~0.6 KB of each).
_HOME_DELIVERY = {"id": "001"}
_STORE_PICKUP = {"id": "005", "name": "Store Pickup"}
_AUTHORIZED = {"status": "authorized"}


class Storefront(MockSystem):
    name = "storefront"
    routes = (
        ("PATCH", rf"{DATA}/sites/([\w\-]+)/orders/([\w\-]+)", "patch_order"),
        ("GET", rf"{DATA}/sites/([\w\-]+)/orders/([\w\-]+)", "get_order"),
        (
            "PATCH",
            rf"{DATA}/inventory_lists/([\w\-]+)/product_inventory_records/([\w\-]+)",
            "patch_inventory_record",
        ),
        ("POST", rf"{DATA}/jobs/inventory-import/executions", "run_inventory_import"),
        ("POST", BATCH_PATH, "run_batch"),
    )

    def __init__(
        self,
        env: simpy.Environment,
        rng: random.Random,
        *,
        concurrency: int = 64,
        latency: Latency = Latency(0.08, 0.4),
        rate_limit_per_s: float | None = None,
    ) -> None:
        super().__init__(
            env, rng, concurrency=concurrency, latency=latency, rate_limit_per_s=rate_limit_per_s
        )
        self.availability: dict[str, int] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        # Orders created at checkout whose export to the core has not been confirmed yet. SFCC holds an
        # order before it exports it, so a status update racing the export's reply still finds it.
        self.exporting: dict[str, dict[str, Any]] = {}
        self.status_history: dict[str, list[str]] = {}
        self.current: dict[str, str] = {}
        self.confirmed_units: dict[str, int] = {}
        self.failed_orders: list[str] = []
        self.inventory_updates = 0
        self.return_status: dict[str, list[str]] = {}  # return number → statuses shown to the customer
        # BOPIS: the store each pickup order tells the customer to go to (None: shipped home instead);
        # and the replacement orders the customer was told about (lost parcels, exchanges).
        self.pickup_history: dict[str, list[str | None]] = {}
        self.replacements: dict[str, list[str]] = {}

    def error(self, status: int, code: str, message: str, instance: str = "") -> Response:
        return Response(
            status,
            {
                "type": f"https://api.commercecloud.salesforce.com/documentation/error/v1/errors/{code}",
                "title": code,
                "detail": message,
                "instance": instance,
            },
        )

    def ocapi_fault(self, status: int, kind: str, message: str) -> Response:
        """OCAPI's own error document (what the batch endpoint answers): ``{_v, fault: {type, message}}``."""
        return Response(status, {"_v": OCAPI_VERSION, "fault": {"type": kind, "message": message}})

    # ---- OCAPI batch ------------------------------------------------------------------------------

    def serves_parts(self, request: Request) -> bool:
        return request.path == BATCH_PATH

    def run_batch(self, request: Request) -> Response:
        """Serve each subrequest as its single request would be served; one subresponse each."""
        content_type = request.headers.get("Content-Type", "")
        if not content_type.startswith("multipart/mixed") or "boundary=" not in content_type:
            return self.ocapi_fault(400, "IllegalContentTypeException", "expected multipart/mixed with a boundary")
        parts = request.body
        if not isinstance(parts, list) or not all(
            isinstance(part, dict) and isinstance(part.get("headers"), dict) for part in parts
        ):
            return self.ocapi_fault(400, "InvalidRequestBodyException", "the body is not a list of parts")
        if len(parts) > BATCH_LIMIT:
            return self.ocapi_fault(
                400, "QuotaExceededException", f"{len(parts)} subrequests; a batch holds at most {BATCH_LIMIT}"
            )
        sent = request.headers.get("X-Correlation-ID")
        correlation = sent.split(",") if sent else []
        subrequests: list[Request] = []
        for index, part in enumerate(parts):
            headers = dict(request.headers)  # inherited, then overridden by the part's own
            if index < len(correlation):
                headers["X-Correlation-ID"] = correlation[index]
            headers.update(part["headers"])
            method = headers.get("x-dw-http-method")
            base = headers.get("x-dw-resource-path")
            if not method:
                return self.ocapi_fault(400, "MissingHttpMethodException", f"subrequest {index + 1} has no method")
            if method not in SUBREQUEST_METHODS:
                return self.ocapi_fault(400, "InvalidHttpMethodException", f"subrequest {index + 1}: {method}")
            if not base:
                return self.ocapi_fault(400, "MissingResourcePathException", f"subrequest {index + 1} has no path")
            path = base + headers.get("x-dw-resource-path-extension", "")
            if "(" in path or path.startswith(BATCH_PATH):
                return self.ocapi_fault(
                    400, "ResourcePathNotAllowedException", f"subrequest {index + 1} may not call {path}"
                )
            subrequests.append(Request(method, path, part.get("body"), headers, dict(request.query)))
        answers = []
        for part, subrequest in zip(parts, subrequests, strict=True):
            answer = self.serve_subrequest(subrequest)
            headers = {
                **answer.headers,
                "x-dw-content-id": str(part["headers"].get("x-dw-content-id", "")),
                "x-dw-status-code": str(answer.status),
            }
            answers.append({"headers": headers, "body": answer.body})
        return Response(200, answers, {"Content-Type": request.headers["Content-Type"]})

    def serve_subrequest(self, subrequest: Request) -> Response:
        """One subrequest: the faults about its content, then its single request's handler (``dispatch``,
        so that whatever watches the single requests — the live journal — sees each one)."""
        refused = self.content_fault(subrequest)
        if isinstance(refused, LostReply):  # it would hang alone; inside a batch it fails (our reading)
            self.refusals += 1
            return self.cannot_process()
        if refused is not None:
            return refused
        return self.dispatch(subrequest)

    # ---- availability -----------------------------------------------------------------------------

    def set_availability(self, sku: str, ats: int) -> None:
        self.availability[sku] = max(0, ats)

    def decrement_availability(self, sku: str, quantity: int) -> None:
        self.availability[sku] = max(0, self.availability.get(sku, 0) - quantity)

    def apply_inventory_feed(self, records: dict[str, int]) -> None:
        for sku, ats in sorted(records.items()):
            self.set_availability(sku, ats)

    def patch_inventory_record(self, request: Request, inventory_list: str, sku: str) -> Response:
        amount = ((request.body or {}).get("allocation") or {}).get("amount")
        if not isinstance(amount, int) or amount < 0:
            return self.error(400, "invalid-allocation", "allocation.amount must be a non-negative integer")
        self.set_availability(sku, amount)
        self.inventory_updates += 1
        return Response(
            200,
            {
                "product_id": sku,
                "inventory_list_id": inventory_list,
                "allocation": {"amount": amount},
                "ats": amount,
            },
        )

    def run_inventory_import(self, request: Request) -> Response:
        records = (request.body or {}).get("records")
        if not isinstance(records, list):
            return self.error(400, "invalid-records", "records must be a list")
        self.apply_inventory_feed({str(r["product_id"]): int(r["allocation"]["amount"]) for r in records})
        self.inventory_updates += 1
        return Response(
            202, {"id": self.next_id("job_"), "execution_status": "finished", "exit_status": {"code": "OK"}}
        )

    # ---- orders -----------------------------------------------------------------------------------

    def build_order(
        self,
        order_no: str,
        customer: dict[str, str],
        lines: list[tuple[str, str, int, float]],
        ship_to: dict[str, str],
        payment_intent_id: str | None,
        confirmation_status: str,
        site_id: str = "RefArch",
        channel_type: str = "storefront",
        pickup_store: str | None = None,
    ) -> dict[str, Any]:
        """A SCAPI order document as Commerce Cloud exports it (a store pickup: ``c_fromStoreId``)."""
        items: list[dict[str, Any]] = [
            {
                "itemId": f"{order_no}-{i + 1}",
                "productId": sku,
                "productName": name,
                "quantity": quantity,
                "basePrice": price,
                "price": round(price * quantity, 2),
                "tax": 0.0,
                "shipmentId": "me",
            }
            for i, (sku, name, quantity, price) in enumerate(lines)
        ]
        subtotal = round(sum(float(item["price"]) for item in items), 2)
        instruments = []
        if payment_intent_id:
            instruments.append(
                {
                    "paymentInstrumentId": f"pi-{order_no}",
                    "paymentMethodId": "CREDIT_CARD",
                    "amount": subtotal,
                    "authorizationStatus": _AUTHORIZED,
                    "c_paymentIntentId": payment_intent_id,
                }
            )
        address = dict(ship_to)
        shipment: dict[str, Any] = {
            "shipmentId": "me",
            "shippingAddress": address,
            "shippingMethod": _HOME_DELIVERY,
            "shippingStatus": "not_shipped",
        }
        if pickup_store is not None:
            shipment["shippingMethod"] = _STORE_PICKUP
            shipment["c_fromStoreId"] = pickup_store
            self.pickup_history[order_no] = [pickup_store]
        return {
            "orderNo": order_no,
            "orderToken": f"tok{order_no}",
            "siteId": site_id,
            "creationDate": iso_time(self.env.now),
            "currency": "USD",
            "channelType": channel_type,
            "status": "new",
            "confirmationStatus": confirmation_status,
            "exportStatus": "ready",
            "paymentStatus": "not_paid",
            "shippingStatus": "not_shipped",
            "customerInfo": dict(customer),
            "billingAddress": address,
            "productItems": items,
            "shipments": [shipment],
            "paymentInstruments": instruments,
            "productSubTotal": subtotal,
            "shippingTotal": 0.0,
            "taxTotal": 0.0,
            "orderTotal": subtotal,
        }

    def record_exporting(self, order: dict[str, Any]) -> None:
        """The checkout created the order and is exporting it to the core (no confirmation yet)."""
        self.exporting.setdefault(str(order["orderNo"]), order)

    def record_placed(self, order: dict[str, Any]) -> None:
        """The checkout completed: the customer holds a confirmation for these units."""
        # Keep what status updates already wrote to the exporting order; the export reply can lag them.
        self.orders[order["orderNo"]] = self.exporting.pop(order["orderNo"], order)
        for item in order["productItems"]:
            self.confirmed_units[item["productId"]] = self.confirmed_units.get(item["productId"], 0) + int(
                item["quantity"]
            )

    _FIELDS = {
        "status": "status",
        "shipping_status": "shippingStatus",
        "payment_status": "paymentStatus",
        "confirmation_status": "confirmationStatus",
        "export_status": "exportStatus",
    }

    def patch_order(self, request: Request, site_id: str, order_no: str) -> Response:
        order = self.orders.get(order_no) or self.exporting.get(order_no)
        if order is None:
            return self._not_found(request, site_id, order_no)
        body = request.body if isinstance(request.body, dict) else {}
        for ocapi, field in self._FIELDS.items():
            if ocapi in body:
                order[field] = body[ocapi]
        if "shipping_status" in body:
            for shipment in order.get("shipments", []):
                shipment["shippingStatus"] = body["shipping_status"]
        oms_status = body.get("c_omsStatus")
        if oms_status is not None:
            order["c_omsStatus"] = oms_status
            order["c_omsStatusSeq"] = body.get("c_omsStatusSeq")
            self.status_history.setdefault(order_no, []).append(str(oms_status))
            self.current[order_no] = str(oms_status)
        if "c_fromStoreId" in body:
            store = body["c_fromStoreId"]
            order["c_fromStoreId"] = store
            for shipment in order.get("shipments", []):
                shipment["c_fromStoreId"] = store
            self.pickup_history.setdefault(order_no, []).append(None if store is None else str(store))
        replacement = body.get("c_replacementOrderNo")
        if replacement is not None:
            order["c_replacementOrderNo"] = replacement
            known = self.replacements.setdefault(order_no, [])
            if str(replacement) not in known:
                known.append(str(replacement))
        return_no = body.get("c_returnNo")
        if return_no is not None:
            order.setdefault("c_returns", {})[str(return_no)] = body.get("c_returnStatus")
            self.return_status.setdefault(str(return_no), []).append(str(body.get("c_returnStatus")))
        return Response(200, dict(order))

    def get_order(self, request: Request, site_id: str, order_no: str) -> Response:
        order = self.orders.get(order_no) or self.exporting.get(order_no)
        if order is None:
            return self._not_found(request, site_id, order_no)
        return Response(200, dict(order))

    def _not_found(self, request: Request, site_id: str, order_no: str) -> Response:
        return self.error(
            404, "order-not-found", f"No order with number {order_no} on site {site_id}", request.path
        )
