"""Store / POS system: stores with their own stock, in-store returns of online orders.

A customer brings an online order back to a store: the associate opens a return at the counter
(``return.created``), checks the goods in and records their condition (``return.received``). Both are
webhooks with stable event ids, delivered at least once. The integration answers with restock
adjustments (``POST /v1/stores/{id}/inventory/adjustments``; an ``Idempotency-Key`` makes a retried
adjustment a replay, as on most POS platforms — without one, every call moves stock) and return status
updates (``PATCH /v1/returns/{id}``).

Ledgers for the harness: each store's initial and current stock, units restocked by adjustments, and
the receipts (units checked in, by condition). Rules kept: imports SimPy, the standard library and
``retailsim.systems`` only; every draw comes from ``self.rng``; ids are counters.
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

    def _event(self, topic: str, record: dict[str, Any]) -> None:
        event_id = self.next_id("posevt_")
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
