"""Reconciliation: the core's watchdogs ask the systems of record what became of an order that waits for
news, and apply what they say as the webhooks that never came.

A watchdog timer (``WATCHES``: shipment, delivery, pickup) fires while the order still waits in the
statuses it watches: it appends a fetch (ShipBob order, EasyPost trackers, the store's pickup) and re-arms
itself, ``watch_rounds`` times; what is still unsettled then is drift. The fetch's reply is read by
``warehouse_order_fetched``, ``trackers_fetched`` or ``pickup_fetched`` (effects named by the adapters'
specs) through the same transitions a webhook takes; a status that moved counts as a repair.

Rules kept: the core cannot see the systems' ledgers, only their APIs, as in production; the guard
``reconciliation`` off (a broken core) never asks; a watchdog of the DC does not watch a store pickup and
the other way round (a reroute hands the order over).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from retailsim.core.adapters import pos, shipbob
from retailsim.core.adapters.spec import Answer
from retailsim.core.config import INTERNAL, CoreConfig
from retailsim.core.guards import Guards
from retailsim.core.service.hosts import OrderTableHost
from retailsim.core.service.pickups import Pickups
from retailsim.core.service.unit_of_work import UnitOfWork
from retailsim.core.service.webhooks import Webhooks
from retailsim.core.stores.base import NewMessage, OutboxMessage, Transaction
from retailsim.core.workflows import order_to_cash as o2c
from retailsim.core.workflows.order_to_cash import OrderRecord, OrderStatus


class ReconciliationHost(OrderTableHost, Protocol):
    """What reconciliation needs from the rest of the core: settings, counters, the order's transitions."""

    @property
    def policy(self) -> o2c.Policy: ...

    @property
    def guards(self) -> Guards: ...

    @property
    def webhooks(self) -> Webhooks: ...

    @property
    def pickups(self) -> Pickups: ...


@dataclass(frozen=True, slots=True)
class Watch:
    """A watchdog timer: while the order waits in ``waiting_in``, ask ``destination`` with ``fetch``, and
    re-arm after ``rearm_s`` of the config; ``at_store`` says whether it watches store pickups (True),
    DC orders (False) or either (None) — a reroute hands the order to the other watchdog."""

    waiting_in: frozenset[OrderStatus]
    destination: str
    fetch: str
    at_store: bool | None
    rearm_s: Callable[[CoreConfig], float]


WATCHES = {
    "WatchShipment": Watch(
        frozenset({OrderStatus.POSTED_TO_ERP, OrderStatus.ALLOCATED}),
        "wms",
        "FetchWarehouseOrder",
        at_store=False,
        rearm_s=lambda config: config.shipment_watch_s,
    ),
    "WatchDelivery": Watch(
        frozenset({OrderStatus.SHIPPED, OrderStatus.IN_TRANSIT}),
        "carrier",
        "FetchTracker",
        at_store=None,
        rearm_s=lambda config: config.delivery_watch_s / 4,
    ),
    "WatchPickup": Watch(
        frozenset({OrderStatus.POSTED_TO_ERP, OrderStatus.ALLOCATED, OrderStatus.READY_FOR_PICKUP}),
        "pos",
        "FetchPickup",
        at_store=True,
        rearm_s=lambda config: config.shipment_watch_s,
    ),
}


class Reconciliation:
    """The watchdogs' side of the core (see the module docstring)."""

    def __init__(self, host: ReconciliationHost) -> None:
        self.host = host

    def reconcile_order(
        self, tx: Transaction, record: OrderRecord, timer: OutboxMessage, now: float, uow: UnitOfWork
    ) -> None:
        """A watchdog fired: if the order is still waiting for news, pull the system of record and re-arm.

        This is the core's own reconciliation, as production runs it: it cannot see the systems' ledgers,
        so it asks their APIs (ShipBob order look-up, EasyPost tracker look-up) and applies what they say
        through the same transition table. What it still cannot settle after ``watch_rounds`` is drift.
        """
        if not self.host.guards.reconciliation:
            return
        watch = WATCHES[timer.kind]
        if record.status not in watch.waiting_in:
            return
        if watch.at_store is not None and watch.at_store != o2c.at_store(record, self.host.policy):
            return  # rerouted since between a store and the DC: the other watchdog looks after it
        self.host._count("reconciliation_checks")
        round_no = int(timer.payload.get("round", 1))
        tx.append(NewMessage(watch.destination, watch.fetch, record.order_no, record.correlation_id, {}, now))
        uow.woken.add(watch.destination)
        if round_no < self.host.config.watch_rounds:
            tx.append(
                NewMessage(
                    INTERNAL,
                    timer.kind,
                    record.order_no,
                    record.correlation_id,
                    {"round": round_no + 1},
                    now + watch.rearm_s(self.host.config),
                )
            )
            uow.woken.add(INTERNAL)
        else:
            self.host._count("reconciliation_drift")

    def warehouse_order_fetched(
        self, tx: Transaction, answer: Answer, uow: UnitOfWork
    ) -> None:
        """The WMS's order, read as the webhooks that never came: each shipped parcel, or shipped/on hold."""
        record, now = answer.record, answer.now
        body = answer.reply.body
        orders = [
            o for o in (body or []) if isinstance(o, dict) and str(o.get("reference_id")) == record.order_no
        ]
        if not orders:
            return
        before, found = record.status, orders[0]
        status = str(found.get("status"))
        if found.get("shipments"):
            for shipment in found["shipments"]:  # shipped in parcels: each, as its webhook
                if shipment.get("status") == "Completed":
                    parcel = {
                        **{k: found.get(k) for k in ("reference_id", "status")},
                        "order_id": found.get("id"),
                        "event_time": "",
                        "shipment_id": shipment.get("id"),
                        "tracking": shipment.get("tracking"),
                        "products": shipment.get("products"),
                    }
                    facts = shipbob.parse_webhook(shipbob.TOPIC_SHIPPED, parcel)
                    record = (
                        self.host.webhooks.warehouse_news(
                            tx, record, shipbob.TOPIC_SHIPPED, facts, now, uow
                        )
                        or record
                    )
        elif status in ("Completed", "OnHold") and (status == "OnHold" or found.get("tracking")):
            topic = shipbob.TOPIC_SHIPPED if status == "Completed" else shipbob.TOPIC_ON_HOLD
            # The order as the warehouse's API returns it, read as the webhook that never came.
            facts = shipbob.parse_webhook(topic, {**found, "order_id": found.get("id"), "event_time": ""})
            record = (
                self.host.webhooks.warehouse_news(tx, record, topic, facts, now, uow) or record
            )
        self._count_repair(before, record)

    def trackers_fetched(
        self, tx: Transaction, answer: Answer, uow: UnitOfWork
    ) -> None:
        """The carrier's trackers, read as the events that never came (each parcel's when several)."""
        record, now, body = answer.record, answer.now, answer.reply.body
        trackers = body.get("trackers", []) if isinstance(body, dict) else []
        if not trackers:
            return
        before = record.status
        if len(record.parcels) > 1:
            for tracker in trackers:
                status, code = str(tracker.get("status")), str(tracker.get("tracking_code"))
                record = (
                    self.host.webhooks.tracker_status(tx, record, status, now, uow, code)
                    or record
                )
        else:
            status = str(trackers[0].get("status"))
            record = self.host.webhooks.tracker_status(tx, record, status, now, uow) or record
        self._count_repair(before, record)

    def pickup_fetched(
        self, tx: Transaction, answer: Answer, uow: UnitOfWork
    ) -> None:
        """The store's pickup order, read as the event that never came."""
        record = answer.record
        pickup = pos.found_pickup(answer.reply, record.location)
        if pickup is None or pickup.get("status") not in ("ready", "collected", "declined"):
            return
        self.host.pickups.apply_webhook(
            tx, f"pickup.{pickup['status']}", pickup, answer.now, uow
        )
        self._count_repair(record.status, self.host._load_record(tx, record.order_no) or record)

    def _count_repair(self, before: OrderStatus, after: OrderRecord) -> None:
        if after.status is not before:
            self.host._count("reconciliation_repairs")
