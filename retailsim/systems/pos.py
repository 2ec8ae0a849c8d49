"""Store / POS system: stores with their own stock, in-store returns, store pickups (BOPIS), walk-ins.

A customer brings an online order back to a store: the associate opens a return at the counter
(``return.created``), checks the goods in and records their condition (``return.received``; with
``receive_per_unit``, one ``return.unit_received`` per unit scanned instead). All are webhooks with stable
event ids, delivered at least once. The integration answers with restock
adjustments (``POST /v1/stores/{id}/inventory/adjustments``; an ``Idempotency-Key`` makes a retried
adjustment a replay, as on most POS platforms — without one, every call moves stock) and return status
updates (``PATCH /v1/returns/{id}``).

Buy online, pick up in store: the integration sends a pickup order (``POST /v1/stores/{id}/pickups``;
a second one for the same order at the same store is refused as a duplicate). After the pick time an
associate looks for the goods: when the shelf covers the order they are set aside (``pickup.ready``)
and the customer comes for them (``pickup.collected``); when it does not — walk-in customers bought
them, or they are simply not where the system says (``pick_fail_rate``: the associate then counts the
shelf and writes the missing units off) — the store declines (``pickup.declined``, each short line
with the units the store counted). The store's stock is what its associates can put their hands on;
walk-in sales (``walk_in_per_hour`` per store) take from it without the integration knowing.

Ledgers for the harness: each store's initial and current stock, units sold (pickups set aside and
walk-in sales), written off and restocked, the receipts (units checked in, by condition), and every
pickup order with its status. Rules kept: imports SimPy, the standard library and ``retailsim.systems``
only; every draw comes from ``self.rng`` (and none is drawn for a feature that is switched off); ids
are counters.
"""

from __future__ import annotations

import random
from collections.abc import Generator
from typing import Any

import simpy

from retailsim.systems.base import Latency, MockSystem, Request, Response
from retailsim.systems.clock import iso_time


class Pos(MockSystem):
    name = "pos"
    routes = (
        ("POST", r"/v1/stores/([\w\-]+)/inventory/adjustments", "adjust_inventory"),
        ("GET", r"/v1/stores/([\w\-]+)/inventory/([\w\-]+)", "get_inventory"),
        ("GET", r"/v1/stores/([\w\-]+)/inventory", "list_inventory"),
        ("POST", r"/v1/stores/([\w\-]+)/pickups", "create_pickup"),
        ("GET", r"/v1/pickups", "find_pickups"),
        ("PATCH", r"/v1/returns/([\w\-]+)", "update_return"),
        ("GET", r"/v1/returns/([\w\-]+)", "get_return"),
    )

    def __init__(
        self,
        env: simpy.Environment,
        rng: random.Random,
        *,
        stores: dict[str, dict[str, int]] | None = None,
        concurrency: int = 16,
        latency: Latency = Latency(0.1, 0.5),
        rate_limit_per_s: float | None = None,
        checkin_time: Latency = Latency(300.0, 1800.0),
        pick_time: Latency = Latency(1800.0, 7200.0),
        collect_time: Latency = Latency(6 * 3600.0, 48 * 3600.0),
        pick_fail_rate: float = 0.0,
        walk_in_per_hour: float = 0.0,
        trading_until_s: float = float("inf"),
        receive_per_unit: bool = False,
        unit_scan_time: Latency = Latency(30.0, 180.0),
    ) -> None:
        super().__init__(
            env, rng, concurrency=concurrency, latency=latency, rate_limit_per_s=rate_limit_per_s
        )
        self.initial_stock = {store: dict(stock) for store, stock in sorted((stores or {}).items())}
        self.stock = {store: dict(stock) for store, stock in sorted((stores or {}).items())}
        self.checkin_time = checkin_time
        self.returns: dict[str, dict[str, Any]] = {}
        self.status_history: dict[str, list[str]] = {}
        self.restocked: dict[tuple[str, str], int] = {}
        self.sold: dict[tuple[str, str], int] = {}
        self.receipts: list[dict[str, Any]] = []
        self._keys: dict[str, tuple[Any, Response]] = {}
        self._returns = 0
        self.pick_time, self.collect_time = pick_time, collect_time
        self.pick_fail_rate = pick_fail_rate
        self.written_off: dict[tuple[str, str], int] = {}
        self.pickups: dict[str, dict[str, Any]] = {}
        self.pickups_by_order: dict[str, list[str]] = {}
        self.walk_in_sales = 0
        # Stores that check returns in unit by unit: one ``return.unit_received`` per unit scanned (an
        # additive fact), instead of one ``return.received`` for the whole return.
        self.receive_per_unit = receive_per_unit
        self.unit_scan_time = unit_scan_time
        self._pickups = 0
        if walk_in_per_hour > 0:
            for store in self.store_ids:
                self.env.process(self._walk_ins(store, walk_in_per_hour / 3600.0, trading_until_s))

    def error(self, status: int, code: str, message: str) -> Response:
        return Response(status, {"errors": [{"code": code, "detail": message}]})

    @property
    def store_ids(self) -> list[str]:
        return sorted(self.stock)

    # ---- the store counter (driven by the runtime's customers) ------------------------------------

    def open_return(
        self, store_id: str, order_no: str, lines: list[tuple[str, int, str]], reason: str
    ) -> str:
        """A customer hands an online order's items over the counter; returns the return id."""
        self._returns += 1
        return_id = f"POS{self._returns:07d}"
        record = {
            "return_id": return_id,
            "transaction_id": f"{store_id}-T{self._returns:07d}",
            "order_reference": order_no,
            "store_id": store_id,
            "reason": reason,
            "line_items": [{"sku": sku, "quantity": qty, "condition": cond} for sku, qty, cond in lines],
            "status": "open",
            "created_at": iso_time(self.env.now),
        }
        self.returns[return_id] = record
        self.status_history[return_id] = []
        self._event("return.created", record)
        self.env.process(self._check_in(record))
        return return_id

    def _check_in(self, record: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(self.checkin_time.sample(self.rng))
        record["received_at"] = iso_time(self.env.now)
        if self.receive_per_unit:
            yield from self._check_in_units(record)
            return
        for item in record["line_items"]:
            self.receipts.append(
                {
                    "store_id": record["store_id"],
                    "return_id": record["return_id"],
                    "sku": item["sku"],
                    "quantity": item["quantity"],
                    "condition": item["condition"],
                }
            )
        self._event("return.received", record)

    def _check_in_units(self, record: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
        """The associate scans each returned unit and records its condition: one event per unit."""
        for item in record["line_items"]:
            for _ in range(int(item["quantity"])):
                yield self.env.timeout(self.unit_scan_time.sample(self.rng))
                receipt = {
                    "store_id": record["store_id"],
                    "return_id": record["return_id"],
                    "sku": item["sku"],
                    "quantity": 1,
                    "condition": item["condition"],
                }
                self.receipts.append(receipt)
                event_id = self.event_id("posevt_")
                body = {
                    "event_id": event_id,
                    "type": "return.unit_received",
                    "order_reference": record["order_reference"],
                    **receipt,
                    "received_at": iso_time(self.env.now),
                }
                self.emit("return.unit_received", body, event_id)

    def _event(self, topic: str, record: dict[str, Any]) -> None:
        event_id = self.event_id("posevt_")
        self.emit(topic, {"event_id": event_id, "type": topic, **{k: v for k, v in record.items()}}, event_id)

    # ---- API --------------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return super().dispatch(request)
        stored = self._keys.get(key)
        if stored is not None:
            if stored[0] != request.body:
                return self.error(422, "idempotency_key_reused", "key used with another body")
            return Response(stored[1].status, stored[1].body, {"Idempotent-Replayed": "true"})
        response = super().dispatch(request)
        if response.status < 500:
            self._keys[key] = (request.body, response)
        return response

    def adjust_inventory(self, request: Request, store_id: str) -> Response:
        if store_id not in self.stock:
            return self.error(404, "store_not_found", f"store {store_id} not found")
        body = request.body if isinstance(request.body, dict) else {}
        adjustments = body.get("adjustments")
        if not isinstance(adjustments, list) or not adjustments:
            return self.error(400, "invalid_request", "adjustments must be a non-empty list")
        for item in adjustments:
            sku, quantity = str(item.get("sku")), int(item.get("quantity", 0))
            self.stock[store_id][sku] = self.stock[store_id].get(sku, 0) + quantity
            if body.get("reason") == "customer_return":
                self.restocked[(store_id, sku)] = self.restocked.get((store_id, sku), 0) + quantity
        return Response(201, {"store_id": store_id, "reference": body.get("reference"), "status": "applied"})

    def list_inventory(self, request: Request, store_id: str) -> Response:
        if store_id not in self.stock:
            return self.error(404, "store_not_found", f"store {store_id} not found")
        items = [{"sku": sku, "on_hand": units} for sku, units in sorted(self.stock[store_id].items())]
        return Response(200, {"store_id": store_id, "items": items})

    def get_inventory(self, request: Request, store_id: str, sku: str) -> Response:
        if store_id not in self.stock:
            return self.error(404, "store_not_found", f"store {store_id} not found")
        return Response(200, {"store_id": store_id, "sku": sku, "on_hand": self.stock[store_id].get(sku, 0)})

    def update_return(self, request: Request, return_id: str) -> Response:
        record = self.returns.get(return_id)
        if record is None:
            return self.error(404, "return_not_found", f"return {return_id} not found")
        status = str((request.body or {}).get("status", ""))
        record["status"] = status
        self.status_history[return_id].append(status)
        return Response(200, {k: v for k, v in record.items() if k != "line_items"})

    def get_return(self, request: Request, return_id: str) -> Response:
        record = self.returns.get(return_id)
        if record is None:
            return self.error(404, "return_not_found", f"return {return_id} not found")
        return Response(200, dict(record))

    # ---- store pickups (BOPIS) --------------------------------------------------------------------

    def create_pickup(self, request: Request, store_id: str) -> Response:
        if store_id not in self.stock:
            return self.error(404, "store_not_found", f"store {store_id} not found")
        body = request.body if isinstance(request.body, dict) else {}
        reference = body.get("order_reference")
        items = body.get("line_items")
        if not reference or not isinstance(items, list) or not items:
            return self.error(400, "invalid_request", "order_reference and line_items are required")
        if not all(
            isinstance(i, dict) and i.get("sku") and isinstance(i.get("quantity"), int) and i["quantity"] > 0
            for i in items
        ):
            return self.error(400, "invalid_request", "each line item needs a sku and a positive quantity")
        for existing in self.pickups_by_order.get(str(reference), []):
            if self.pickups[existing]["store_id"] == store_id:
                return self.error(
                    422, "duplicate_order_reference", f"store {store_id} already has a pickup for {reference}"
                )
        self._pickups += 1
        pickup_id = f"PU{self._pickups:07d}"
        pickup: dict[str, Any] = {
            "pickup_id": pickup_id,
            "store_id": store_id,
            "order_reference": str(reference),
            "customer": dict(body.get("customer") or {}),
            "line_items": [{"sku": str(i["sku"]), "quantity": int(i["quantity"])} for i in items],
            "status": "accepted",
            "created_at": iso_time(self.env.now),
        }
        self.pickups[pickup_id] = pickup
        self.pickups_by_order.setdefault(str(reference), []).append(pickup_id)
        self.env.process(self._fulfil_pickup(pickup))
        return Response(201, {k: pickup[k] for k in ("pickup_id", "store_id", "order_reference", "status")})

    def _fulfil_pickup(self, pickup: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(self.pick_time.sample(self.rng))
        store, shelf = pickup["store_id"], self.stock[pickup["store_id"]]
        needed: dict[str, int] = {}
        for item in pickup["line_items"]:
            needed[item["sku"]] = needed.get(item["sku"], 0) + item["quantity"]
        if self.pick_fail_rate and self.rng.random() < self.pick_fail_rate:
            # Not where the system says: the associate counts the shelf and writes the missing units off.
            sku = sorted(needed)[0]
            self.written_off[(store, sku)] = self.written_off.get((store, sku), 0) + shelf.get(sku, 0)
            shelf[sku] = 0
        short = [sku for sku in sorted(needed) if shelf.get(sku, 0) < needed[sku]]
        if short:
            pickup["status"] = "declined"
            pickup["short_items"] = [
                {"sku": sku, "quantity": needed[sku], "available": shelf.get(sku, 0)} for sku in short
            ]
            self._pickup_event("pickup.declined", pickup, pickup["short_items"])
            return
        for sku, quantity in sorted(needed.items()):
            shelf[sku] -= quantity
            self.sold[(store, sku)] = self.sold.get((store, sku), 0) + quantity
        pickup["status"] = "ready"
        self._pickup_event("pickup.ready", pickup, pickup["line_items"])
        yield self.env.timeout(self.collect_time.sample(self.rng))
        pickup["status"] = "collected"
        self._pickup_event("pickup.collected", pickup, pickup["line_items"])

    def find_pickups(self, request: Request) -> Response:
        """Pickup orders by order reference (what an integration's reconciliation asks)."""
        reference = request.query.get("order_reference", "")
        found = [dict(self.pickups[p]) for p in self.pickups_by_order.get(reference, [])]
        return Response(200, {"pickups": found})

    def _pickup_event(self, topic: str, pickup: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        event_id = self.event_id("posevt_")
        body = {
            "event_id": event_id,
            "type": topic,
            "pickup_id": pickup["pickup_id"],
            "store_id": pickup["store_id"],
            "order_reference": pickup["order_reference"],
            "status": pickup["status"],
            "line_items": [dict(line) for line in lines],
            "occurred_at": iso_time(self.env.now),
        }
        self.emit(topic, body, event_id)

    def _walk_ins(self, store: str, per_second: float, until: float) -> Generator[simpy.Event, Any, None]:
        """Customers who walk in and buy off the shelf (while the store trades): the integration only
        learns of it when an associate counts the shelf."""
        shelf = self.stock[store]
        skus = sorted(shelf)
        while True:
            yield self.env.timeout(self.rng.expovariate(per_second))
            if self.env.now > until:
                return
            sku = skus[self.rng.randrange(len(skus))]
            if shelf.get(sku, 0) > 0:
                shelf[sku] -= 1
                self.sold[(store, sku)] = self.sold.get((store, sku), 0) + 1
                self.walk_in_sales += 1
