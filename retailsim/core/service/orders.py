"""Orders: the storefront's order API — validate, take the key once, reserve or route, and accept.

``submit`` takes orders that arrived together (body, Idempotency-Key, now) and runs them in one store
transaction — one commit for all — each answered as it would be alone: no key → 400, a body SFCC's
adapter refuses → 422, a key in flight or reused → 409/422 (intake.py), an order number taken already →
200 ``duplicate``, no stock anywhere → 200 ``rejected``, else 202 ``accepted``. An accepted order reserves
its stock at a location (or is routed to its pickup store, or confirmed short as a backorder) and takes
its first transition in that same transaction.

Rules kept: accepted means durable (the order commits before its 202); an order exported twice under
another key is the same order (the order-number guard); what a transaction announces is its unit of
work, only after it committed; the order's reply passes ``order_intake.after_commit``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Protocol

from retailsim.core.adapters import sfcc
from retailsim.core.errors import InvalidPayload
from retailsim.core.frozen import updated
from retailsim.core.models import Order
from retailsim.core.reliability.idempotency import fingerprint
from retailsim.core.service.erp_routing import erp_for_new_order
from retailsim.core.service.hosts import OrderTableHost
from retailsim.core.service.intake import Act, IdempotentRequests, Job
from retailsim.core.service.inventory import Inventory
from retailsim.core.service.pickups import Pickups
from retailsim.core.service.replies import ApiReply, in_flight, missing_key
from retailsim.core.service.unit_of_work import UnitOfWork
from retailsim.core.stores.base import Transaction
from retailsim.core.workflows.order_to_cash import OrderEvent, OrderRecord, OrderStatus


class OrderHost(OrderTableHost, Protocol):
    """What the order API needs from the rest of the core: idempotency keys, stock and pickups, the
    order-number guard, and what it announces after a commit."""

    @property
    def requests(self) -> IdempotentRequests: ...

    @property
    def inventory(self) -> Inventory: ...

    @property
    def pickups(self) -> Pickups: ...

    def already_accepted(self, tx: Transaction, order_no: str) -> OrderRecord | None: ...

    def take_order_number(self, tx: Transaction, order: Order, now: float) -> OrderRecord | None: ...

    def _crash_point(self, point: str) -> None: ...

    def _after_commit(self, uow: UnitOfWork, now: float) -> None: ...


class Orders:
    """The order API of one core process (see the module docstring)."""

    def __init__(self, host: OrderHost) -> None:
        self.host = host

    def submit(self, orders: Sequence[tuple[Any, str | None, float]]) -> list[ApiReply | Exception]:
        """Orders (body, Idempotency-Key, now) that arrived together, in one store transaction — one commit
        for all — each answered as ``submit_order`` answers it alone, in the order given (a later order sees
        what an earlier one reserved; a key twice in one call is in flight the second time). Should the
        transaction fail, each order runs again in a transaction of its own, so a bad order costs the others
        nothing but the retry; its outcome is the exception it raised."""
        committed = UnitOfWork()
        outcomes: list[ApiReply | Exception] = []
        jobs: list[Job] = []
        for body, key, now in orders:
            if not key:
                outcomes.append(missing_key())
                continue
            try:
                order = sfcc.order_from_scapi(body)
            except InvalidPayload as exc:
                act: Act = ApiReply(422, {"error": "invalid_order", "detail": str(exc), "errors": exc.errors})
            else:
                act = functools.partial(self._accept, order=order, now=now)
            job = Job("orders", key, fingerprint(body), now, act, len(outcomes))
            early = self.host.requests.claim(job)
            if early is None:
                jobs.append(job)
                early = in_flight()  # a placeholder until the job has run
            outcomes.append(early)
        try:
            self.host.requests.run_together(jobs, outcomes, committed)
        finally:
            self.host.requests.release(jobs)
        if orders:
            self.host._after_commit(committed, max(now for _, _, now in orders))
        if jobs:
            self.host._crash_point("order_intake.after_commit")
        return outcomes

    def _accept(self, tx: Transaction, uow: UnitOfWork, *, order: Order, now: float) -> ApiReply:
        existing = self.host.already_accepted(tx, order.order_no) or self.host.take_order_number(
            tx, order, now
        )
        if existing is not None:
            # The same order exported again under another key: at-least-once export, no new effect.
            self.host._count("duplicate_orders")
            return ApiReply(
                200,
                {
                    "order_id": existing.order_no,
                    "correlation_id": existing.correlation_id,
                    "status": existing.status.value,
                    "duplicate": True,
                },
            )
        record = OrderRecord(
            order_no=order.order_no,
            correlation_id=order.order_no,
            confirmed_to_customer=order.confirmed_to_customer,
            lines=[(line.sku, line.quantity) for line in order.lines],
            total_minor=order.total_minor,
            currency=order.currency,
            payment_ref=order.payment.reference if order.payment else None,
            accepted_at=now,
            history=[(now, OrderStatus.RECEIVED.value, "OrderReceived")],
            erp=erp_for_new_order(self.host.config.migration, order.order_no, order.site_id, now),
        )
        if order.pickup_store:
            routed = self.host.pickups.route_new(tx, order, now)
            location = routed["location"] or None
            record = updated(record, routed)
        else:
            location = self.host.inventory.reserve_order(tx, order)
        if location is not None:
            record = updated(record, {"location": location, "reserved": True})
            event = OrderEvent.STOCK_RESERVED
            for sku, _ in record.lines:
                self.host.inventory.schedule_publication(tx, sku, now, uow)
        elif order.confirmed_to_customer:
            record = updated(record, {"location": self.host.config.locations[0], "short": True})
            event = OrderEvent.STOCK_SHORT
        else:
            event = OrderEvent.STOCK_UNAVAILABLE
        record = self.host._transition(tx, record, event, now, uow)
        if record.status is OrderStatus.REJECTED:
            self.host._count("rejected")
            return ApiReply(
                200,
                {
                    "order_id": record.order_no,
                    "correlation_id": record.correlation_id,
                    "status": "rejected",
                    "reason": "insufficient_stock",
                },
            )
        self.host._count("accepted")
        return ApiReply(
            202, {"order_id": record.order_no, "correlation_id": record.correlation_id, "status": "accepted"}
        )
