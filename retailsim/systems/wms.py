"""ShipBob-style warehouse (3PL): orders in, allocate → pick → pack → ship, webhooks out.

A second order with an existing ``reference_id`` is refused with a 422 field error, as ShipBob does.
Physical stock is the warehouse's own count and may differ from the ERP's book: a pick that finds too
few units (or a configured short-pick rate, modelling damaged or mislaid stock) puts the shipment on
hold (``order.shipment.on_hold``) instead of shipping. At ship time the warehouse buys a label from
the carrier and sends ``order.shipped`` with the tracking number. Webhook bodies follow ShipBob's
``{topic, event_time, order_id, reference_id, status, tracking}``; errors are problem-style
``{type, title, status, detail}`` except validation errors, which are ``{field: [messages]}``.

Opt-in additive facts: with ``split_share`` an order of several lines ships one parcel per line (one
shipment id, label and ``order.shipped`` each, with the parcel's ``products``; the order is
``PartiallyFulfilled`` until the last leaves); with ``adjustments_per_hour`` counters and receivers change
the shelves and each change goes out as a PIX-style delta (``inventory.adjustment``), also listed at
``GET /1.0/inventory/adjustments?since=N`` with its event id, as event-list APIs keep what they sent.

A kept order's product lines ``{reference_id, quantity}`` are shared by every order with the same SKU and
quantity (a few hundred across a run, where a dict per line per order was the largest part of an order):
nothing in the warehouse changes one in place, and what the API returns has its own copies.

Rules kept: imports SimPy, the standard library and ``retailsim.systems`` only (the carrier is reached
through the small :class:`LabelSource` protocol, not imported); every delay and short pick is drawn from
``self.rng``; order ids are a counter.
"""

from __future__ import annotations

import random
from collections.abc import Generator
from typing import Any, Protocol

import simpy

from retailsim.systems.base import Latency, MockSystem, Request, Response
from retailsim.systems.clock import iso_time


class LabelSource(Protocol):
    """What the warehouse needs from a carrier: buy a label, get the tracking number back."""

    def create_shipment(self, reference_id: str, to_address: dict[str, Any]) -> dict[str, str]: ...


class Wms(MockSystem):
    name = "wms"
    routes = (
        ("POST", r"/1.0/order", "create_order"),
        ("GET", r"/1.0/order", "list_orders"),
        ("GET", r"/1.0/order/(\d+)", "get_order"),
        ("POST", r"/1.0/order/(\d+)/cancel", "cancel_order"),
        ("POST", r"/1.0/return", "create_return"),
        ("GET", r"/1.0/inventory/adjustments", "list_adjustments"),
    )

    def __init__(
        self,
        env: simpy.Environment,
        rng: random.Random,
        *,
        stock: dict[str, int] | None = None,
        concurrency: int = 16,
        latency: Latency = Latency(0.1, 0.5),
        rate_limit_per_s: float | None = None,
        short_pick_rate: float = 0.0,
        allocate_time: Latency = Latency(60.0, 300.0),
        pick_time: Latency = Latency(600.0, 3600.0),
        pack_time: Latency = Latency(300.0, 1200.0),
        adjustments_per_hour: float = 0.0,
        adjust_until_s: float = float("inf"),
        split_share: float = 0.0,
    ) -> None:
        super().__init__(
            env, rng, concurrency=concurrency, latency=latency, rate_limit_per_s=rate_limit_per_s
        )
        self.initial_stock = dict(stock or {})
        self.stock = dict(stock or {})
        self.short_pick_rate = short_pick_rate
        self.allocate_time, self.pick_time, self.pack_time = allocate_time, pick_time, pack_time
        self.carrier: LabelSource | None = None
        self.orders: dict[int, dict[str, Any]] = {}
        self.by_reference: dict[str, list[int]] = {}
        self.shipped_units: dict[str, int] = {}
        self.status_history: dict[str, list[str]] = {}
        self._next_order = 0
        self._products: dict[tuple[str, int], dict[str, Any]] = {}  # shared product lines (``_product``)
        # Returns: return orders by reference (the return number), what arrived, and units restocked.
        self.return_orders: dict[str, dict[str, Any]] = {}
        self.return_conditions: dict[str, list[str]] = {}
        self.return_transit = Latency(3 * 86400.0, 7 * 86400.0)
        self.restocked_units: dict[str, int] = {}
        self._next_return = 0
        # Inventory adjustments (cycle count differences, damage, receipts): signed units per SKU.
        # Partial shipments: this share of orders with several lines ships one parcel per line, each with
        # its own shipment id, label and ``order.shipped`` webhook (ShipBob: one order, several shipments).
        self.split_share = split_share
        self._next_shipment = 0
        self.adjusted: dict[str, int] = {}
        self.adjustment_log: list[dict[str, Any]] = []  # every adjustment message, with its event id
        self._adjustments = 0
        if adjustments_per_hour > 0:
            self.env.process(self._adjust(adjustments_per_hour / 3600.0, adjust_until_s))

    def error(self, status: int, code: str, message: str) -> Response:
        return Response(
            status,
            {
                "type": "https://tools.ietf.org/html/rfc7231",
                "title": code,
                "status": status,
                "detail": message,
            },
        )

    def _set_status(self, order: dict[str, Any], status: str) -> None:
        order["status"] = status
        self.status_history.setdefault(order["reference_id"], []).append(status)

    def create_order(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        errors: dict[str, list[str]] = {}
        reference = body.get("reference_id")
        products: Any = body.get("products")
        if not reference:
            errors["reference_id"] = ["The reference_id field is required."]
        if not isinstance(products, list) or not products:
            errors["products"] = ["At least one product is required."]
        elif not all(
            isinstance(p, dict)
            and p.get("reference_id")
            and isinstance(p.get("quantity"), int)
            and not isinstance(p.get("quantity"), bool)
            and p["quantity"] > 0
            for p in products
        ):
            errors["products"] = ["Each product needs a reference_id and a positive integer quantity."]
        if not isinstance(body.get("recipient"), dict):
            errors["recipient"] = ["The recipient field is required."]
        if errors:
            return Response(400, errors)
        if reference in self.by_reference:
            return Response(422, {"reference_id": [f"Order with reference id {reference} already exists"]})
        self._next_order += 1
        order = {
            "id": self._next_order,
            "reference_id": str(reference),
            "status": "Processing",
            "created_date": iso_time(self.env.now),
            "shipping_method": body.get("shipping_method", "Standard"),
            "recipient": body["recipient"],
            "products": [self._product(str(p["reference_id"]), int(p["quantity"])) for p in products],
            "tracking": None,
        }
        self.orders[order["id"]] = order
        self.by_reference.setdefault(order["reference_id"], []).append(order["id"])
        self.status_history[order["reference_id"]] = ["Processing"]
        self.env.process(self._fulfil(order))
        return Response(201, {k: order[k] for k in ("id", "reference_id", "status", "created_date")})

    def _product(self, sku: str, quantity: int) -> dict[str, Any]:
        """The one shared product line ``{reference_id, quantity}`` for this SKU and quantity (see the
        module docstring: kept orders share them, and nothing changes one in place)."""
        key = (sku, quantity)
        product = self._products.get(key)
        if product is None:
            product = self._products[key] = {"reference_id": sku, "quantity": quantity}
        return product

    @staticmethod
    def _as_sent(order: dict[str, Any]) -> dict[str, Any]:
        """An order as the API returns it: a new dict with its own product lines (kept ones are shared)."""
        return {**order, "products": [dict(product) for product in order["products"]]}

    def _fulfil(self, order: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(self.allocate_time.sample(self.rng))
        if order["status"] != "Processing":
            return
        self._set_status(order, "Allocated")
        yield self.env.timeout(self.pick_time.sample(self.rng))
        if order["status"] != "Allocated":
            return
        needed: dict[str, int] = {}
        for product in order["products"]:
            needed[product["reference_id"]] = needed.get(product["reference_id"], 0) + product["quantity"]
        short = self.rng.random() < self.short_pick_rate or any(
            self.stock.get(sku, 0) < quantity for sku, quantity in needed.items()
        )
        if short:
            self._set_status(order, "OnHold")
            self._webhook("order.shipment.on_hold", order)
            return
        for sku, quantity in needed.items():
            self.stock[sku] -= quantity
        order["picked"] = True
        self._set_status(order, "Picked")
        if self.split_share > 0 and len(order["products"]) > 1 and self.rng.random() < self.split_share:
            yield from self._ship_in_parcels(order)
            return
        yield self.env.timeout(self.pack_time.sample(self.rng))
        if order["status"] != "Picked":
            return
        if self.carrier is None:
            raise RuntimeError("a warehouse needs a carrier to ship: set wms.carrier")
        address = order["recipient"].get("address", {})
        label = self.carrier.create_shipment(order["reference_id"], address)
        order["tracking"] = {
            "carrier": label["carrier"],
            "carrier_service": label["service"],
            "tracking_id": label["tracking_code"],
        }
        for product in order["products"]:
            self.shipped_units[product["reference_id"]] = (
                self.shipped_units.get(product["reference_id"], 0) + product["quantity"]
            )
        self._set_status(order, "Completed")
        self._webhook("order.shipped", order)

    def _ship_in_parcels(self, order: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
        """One parcel per product line, packed one after another: each gets its own label and webhook;
        the order is ``PartiallyFulfilled`` until the last parcel leaves, then ``Completed``."""
        if self.carrier is None:
            raise RuntimeError("a warehouse needs a carrier to ship: set wms.carrier")
        order["shipments"] = []
        for index, product in enumerate(order["products"]):
            yield self.env.timeout(self.pack_time.sample(self.rng))
            if order["status"] not in ("Picked", "PartiallyFulfilled"):
                return
            label = self.carrier.create_shipment(order["reference_id"], order["recipient"].get("address", {}))
            self._next_shipment += 1
            shipment: dict[str, Any] = {
                "id": self._next_shipment,
                "status": "Completed",
                "tracking": {
                    "carrier": label["carrier"],
                    "carrier_service": label["service"],
                    "tracking_id": label["tracking_code"],
                },
                "products": [dict(product)],
            }
            order["shipments"].append(shipment)
            order["tracking"] = order["tracking"] or shipment["tracking"]
            sku = product["reference_id"]
            self.shipped_units[sku] = self.shipped_units.get(sku, 0) + product["quantity"]
            last = index == len(order["products"]) - 1
            self._set_status(order, "Completed" if last else "PartiallyFulfilled")
            self.emit(
                "order.shipped",
                {
                    "topic": "order.shipped",
                    "event_time": iso_time(self.env.now),
                    "order_id": order["id"],
                    "reference_id": order["reference_id"],
                    "status": order["status"],
                    "shipment_id": shipment["id"],
                    "tracking": dict(shipment["tracking"]),
                    "products": [dict(p) for p in shipment["products"]],
                },
                self.event_id("sbwh_"),
            )

    def _webhook(self, topic: str, order: dict[str, Any]) -> None:
        self.emit(
            topic,
            {
                "topic": topic,
                "event_time": iso_time(self.env.now),
                "order_id": order["id"],
                "reference_id": order["reference_id"],
                "status": order["status"],
                "tracking": order["tracking"],
            },
            self.event_id("sbwh_"),
        )

    # ---- inventory adjustments --------------------------------------------------------------------

    def _adjust(self, per_second: float, until: float) -> Generator[simpy.Event, Any, None]:
        """Counters and receivers change the shelves: each change is sent as a delta (PIX-style), one
        message per adjustment — an additive fact that must be applied exactly once downstream."""
        skus = sorted(self.stock)
        while skus:
            yield self.env.timeout(self.rng.expovariate(per_second))
            if self.env.now > until:
                return
            sku = skus[self.rng.randrange(len(skus))]
            draw = self.rng.random()
            if draw < 0.5:
                reason, delta = "CC", self.rng.choice((-2, -1, 1, 2))  # cycle count difference
            elif draw < 0.8:
                reason, delta = "DM", -self.rng.randint(1, 2)  # damaged in the warehouse
            else:
                reason, delta = "RC", self.rng.randint(5, 20)  # received without an order
            delta = max(delta, -self.stock.get(sku, 0))
            if delta == 0:
                continue
            self.stock[sku] = self.stock.get(sku, 0) + delta
            self.adjusted[sku] = self.adjusted.get(sku, 0) + delta
            self._adjustments += 1
            body = {
                "TransactionType": "300",
                "TransactionCode": "01",
                "TransactionNumber": self._adjustments,
                "ItemName": sku,
                "InventoryAdjustmentQuantity": abs(delta),
                "InventoryAdjustmentType": "A" if delta > 0 else "S",
                "ReasonCode": reason,
                "DateCreated": iso_time(self.env.now),
            }
            event_id = self.event_id("sbwh_")
            self.adjustment_log.append({"event_id": event_id, **body})
            self.emit("inventory.adjustment", body, event_id)

    def list_adjustments(self, request: Request) -> Response:
        """Adjustment messages after transaction number ``since`` (an integration recovers missed ones)."""
        since = int(request.query.get("since", "0") or 0)
        return Response(200, [dict(m) for m in self.adjustment_log if int(m["TransactionNumber"]) > since])

    # ---- returns ----------------------------------------------------------------------------------

    def expect_return_conditions(self, return_no: str, conditions: list[str]) -> None:
        """What the customer actually puts in the parcel (set by the runtime; inspected on arrival)."""
        self.return_conditions[return_no] = list(conditions)

    def create_return(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        reference = body.get("reference_id")
        inventory = body.get("inventory")
        if not reference or not isinstance(inventory, list) or not inventory:
            return Response(400, {"reference_id": ["reference_id and inventory are required."]})
        if reference in self.return_orders:
            return Response(422, {"reference_id": [f"Return with reference id {reference} already exists"]})
        self._next_return += 1
        order = {
            "id": self._next_return,
            "reference_id": str(reference),
            "status": "AwaitingArrival",
            "inventory": [
                {
                    "id": str(i["id"]),
                    "quantity": int(i["quantity"]),
                    "requested_action": i.get("requested_action"),
                }
                for i in inventory
            ],
            "insert_date": iso_time(self.env.now),
        }
        self.return_orders[str(reference)] = order
        self.env.process(self._receive_return(order))
        return Response(
            201, {"id": order["id"], "reference_id": order["reference_id"], "status": order["status"]}
        )

    def _receive_return(self, order: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(self.return_transit.sample(self.rng))
        conditions = self.return_conditions.get(order["reference_id"], [])
        for index, item in enumerate(order["inventory"]):
            item["condition"] = conditions[index] if index < len(conditions) else "resellable"
            if item["condition"] == "resellable" and item.get("requested_action") == "Restock":
                item["action_taken"] = "Restock"
                self.stock[item["id"]] = self.stock.get(item["id"], 0) + item["quantity"]
                self.restocked_units[item["id"]] = self.restocked_units.get(item["id"], 0) + item["quantity"]
            else:
                item["action_taken"] = "Quarantine" if item["condition"] == "opened" else "Dispose"
        order["status"] = "Completed"
        self.emit(
            "return.completed",
            {
                "topic": "return.completed",
                "event_time": iso_time(self.env.now),
                "id": order["id"],
                "reference_id": order["reference_id"],
                "status": "Completed",
                "inventory": [dict(item) for item in order["inventory"]],
            },
            self.event_id("sbwh_"),
        )

    def cancel_order(self, request: Request, order_id: str) -> Response:
        order = self.orders.get(int(order_id))
        if order is None:
            return self.error(404, "Not Found", f"Order {order_id} not found")
        if order["status"] in ("Completed", "Cancelled", "PartiallyFulfilled"):
            return Response(
                422, {"status": [f"Order {order_id} is {order['status']} and cannot be cancelled"]}
            )
        if order.get("picked"):
            for product in order["products"]:
                sku = product["reference_id"]
                self.stock[sku] = self.stock.get(sku, 0) + product["quantity"]
        self._set_status(order, "Cancelled")
        self._webhook("order.shipment.cancelled", order)
        return Response(200, {"id": order["id"], "status": "Cancelled"})

    def get_order(self, request: Request, order_id: str) -> Response:
        order = self.orders.get(int(order_id))
        if order is None:
            return self.error(404, "Not Found", f"Order {order_id} not found")
        return Response(200, self._as_sent(order))

    def list_orders(self, request: Request) -> Response:
        references = [r for r in request.query.get("ReferenceIds", "").split(",") if r]
        found = [self._as_sent(self.orders[i]) for r in references for i in self.by_reference.get(r, [])]
        return Response(200, found)
