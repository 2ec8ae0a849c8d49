"""Additive facts from the warehouse: inventory adjustments (deltas) and orders shipped in several parcels.

An additive fact changes counts: applied twice, it moves stock twice. Rules kept: a delta is applied
inside the transaction whose inbox entry admits it (``handle_webhook`` checks the inbox first), so it moves
the DC's position once, posts one ERP goods movement (its reference looked up before a retry, since SAP
books a second posting) and republishes availability; deltas a webhook never delivered are recovered
from the WMS's adjustment list by the adjustment watch, under their event ids. A parcel is kept by its
shipment id; the order is shipped when its parcels hold every unit, delivered when every parcel is. Pure
like the rest of core/: ``now`` is a parameter.
"""

from __future__ import annotations

from typing import Any, Protocol

from retailsim.core.adapters import easypost, pix
from retailsim.core.adapters.spec import Answer
from retailsim.core.config import INTERNAL
from retailsim.core.documents import DocKind
from retailsim.core.service.erp_routing import stock_destination
from retailsim.core.service.hosts import OrderTableHost
from retailsim.core.service.inventory import Inventory
from retailsim.core.service.unit_of_work import UnitOfWork
from retailsim.core.stores.base import NewMessage, Position, Transaction
from retailsim.core.workflows.order_to_cash import OrderEvent, OrderRecord, OrderStatus

# How far a parcel's tracker has come (a parcel's status never goes back on a late, reordered event).
TRACKER_RANK = {"pre_transit": 0, "in_transit": 1, "out_for_delivery": 2, "available_for_pickup": 2}
TRACKER_RANK.update({s: 3 for s in ("delivered", "failure", "return_to_sender")})


class AdditiveFactsHost(OrderTableHost, Protocol):
    """What additive facts need from the rest of the core: settings, stock, the inbox, counters, the
    order's table."""

    @property
    def inventory(self) -> Inventory: ...

    def first_delivery(self, tx: Transaction, source: str, event_id: str, now: float) -> bool: ...


class AdditiveFacts:
    """Warehouse adjustments and parcels of one core (see the module docstring)."""

    def __init__(self, host: AdditiveFactsHost) -> None:
        self.host = host

    def apply_adjustment(self, tx: Transaction, body: Any, now: float, uow: UnitOfWork) -> None:
        """A warehouse inventory adjustment (a delta): the DC's position moves by it, the ERP gets one
        goods movement, and the storefront's availability is republished — once, the inbox saw to that.
        Its transaction number joins the applied ones, whose gaps the adjustment watch fills."""
        facts = pix.parse_adjustment(body)
        self._note_adjustment_applied(tx, int(facts["number"]), now, uow)
        location = self.host.config.locations[0]
        position = tx.get_position(facts["sku"], location) or Position(
            facts["sku"], location, 0, 0, self.host.config.safety_stock
        )
        position.on_hand += facts["delta"]
        tx.put_position(position)
        aggregate = f"inventory:{facts['sku']}"
        erp = stock_destination(self.host.config.migration, now)
        tx.append(
            NewMessage(
                erp,
                "PostGoodsMovement",
                aggregate,
                facts["reference"],
                {**facts, "plant": location},
                now,
            )
        )
        uow.woken.add(erp)
        self.host.inventory.schedule_publication(tx, facts["sku"], now, uow)
        self.host._count("inventory_adjustments")
        uow.note(
            "processed", f"{facts['sku']} {facts['delta']:+d} at {location} ({facts['reason']})"
        )

    def _note_adjustment_applied(self, tx: Transaction, number: int, now: float, uow: UnitOfWork) -> None:
        """Keep the applied transaction numbers (all up to ``contiguous``, and those above it), and keep the
        watch that asks the WMS for missed ones running for ``watch_rounds`` rounds after the last one."""
        seen = tx.load(DocKind.PIX, "applied") or {"contiguous": 0, "above": []}
        above = sorted({*seen["above"], number})
        contiguous = int(seen["contiguous"])
        while above and above[0] <= contiguous + 1:
            contiguous = max(contiguous, above.pop(0))
        tx.save(DocKind.PIX, "applied", {"contiguous": contiguous, "above": above}, now)
        watch = tx.load(DocKind.PIX, "watch") or {"pending": False, "quiet_rounds": 0}
        if not watch["pending"]:
            self._arm_adjustment_watch(tx, now, uow)
        tx.save(DocKind.PIX, "watch", {**watch, "pending": True, "quiet_rounds": 0}, now)

    def _arm_adjustment_watch(self, tx: Transaction, now: float, uow: UnitOfWork) -> None:
        tx.append(
            NewMessage(
                INTERNAL,
                "WatchAdjustments",
                "inventory",
                "inventory",
                {},
                now + self.host.config.adjustment_watch_s,
            )
        )
        uow.woken.add(INTERNAL)

    def watch_adjustments(self, tx: Transaction, now: float, uow: UnitOfWork) -> None:
        """The adjustment watch fired: ask the WMS for every adjustment after the contiguous applied ones
        (a dropped delta is found here, a late one too), and re-arm until ``watch_rounds`` quiet rounds."""
        seen = tx.load(DocKind.PIX, "applied") or {"contiguous": 0, "above": []}
        self.host._count("reconciliation_checks")
        tx.append(
            NewMessage(
                "wms", "FetchAdjustments", "inventory", "inventory", {"since": seen["contiguous"]}, now
            )
        )
        uow.woken.add("wms")
        watch = tx.load(DocKind.PIX, "watch") or {"pending": True, "quiet_rounds": 0}
        rounds = int(watch["quiet_rounds"]) + 1
        if rounds < self.host.config.watch_rounds:
            self._arm_adjustment_watch(tx, now, uow)
        tx.save(
            DocKind.PIX,
            "watch",
            {**watch, "pending": rounds < self.host.config.watch_rounds, "quiet_rounds": rounds},
            now,
        )

    def adjustments_fetched(
        self, tx: Transaction, answer: Answer, uow: UnitOfWork
    ) -> None:
        """Adjustments the WMS's list holds that the core has not applied: one missing at two watches in a
        row (not merely on its way) is applied now (a repair) under its event id, so a late webhook of it is
        a duplicate; one missing for the first time becomes a suspect."""
        reply, now = answer.reply, answer.now
        seen = tx.load(DocKind.PIX, "applied") or {"contiguous": 0, "above": []}
        applied = {int(n) for n in seen["above"]}
        suspects = {int(n) for n in (tx.load(DocKind.PIX, "watch") or {}).get("suspects", [])}
        missing: list[int] = []
        repaired = 0
        for event in reply.body if isinstance(reply.body, list) else []:
            if not isinstance(event, dict) or "TransactionNumber" not in event:
                continue
            number = int(event["TransactionNumber"])
            if number <= int(seen["contiguous"]) or number in applied:
                continue
            if number in suspects and self.host.first_delivery(tx, "wms", str(event.get("event_id")), now):
                self.apply_adjustment(tx, event, now, uow)
                repaired += 1
            else:
                missing.append(number)
        watch = tx.load(DocKind.PIX, "watch") or {"pending": False, "quiet_rounds": 0}
        tx.save(DocKind.PIX, "watch", {**watch, "suspects": sorted(missing)}, now)
        if repaired:
            self.host._count("reconciliation_repairs")
            self.host._count("adjustments_recovered", repaired)

    def apply_parcel(
        self,
        tx: Transaction,
        record: OrderRecord,
        facts: dict[str, Any],
        now: float,
        uow: UnitOfWork,
    ) -> OrderRecord:
        """One parcel of an order the warehouse ships in several: kept by its shipment id (a parcel is
        counted once however often it is told); the order is shipped when its parcels hold every unit."""
        tx.save(DocKind.TRACKING, facts["tracking_code"], {"order_no": record.order_no}, now)
        parcels = dict(record.parcels)
        parcels.setdefault(
            facts["shipment_id"],
            {"tracking": facts["tracking_code"], "units": dict(facts["units"]), "status": "pre_transit"},
        )
        record = record.model_copy(update={"parcels": parcels})
        ordered: dict[str, int] = {}
        for sku, quantity in record.lines:
            ordered[sku] = ordered.get(sku, 0) + quantity
        shipped: dict[str, int] = {}
        for parcel in parcels.values():
            for sku, quantity in parcel["units"].items():
                shipped[sku] = shipped.get(sku, 0) + int(quantity)
        if any(shipped.get(sku, 0) < quantity for sku, quantity in ordered.items()):
            self.host._save_record(tx, record, now)
            uow.note(
                "processed",
                f"order {record.order_no}: parcel {facts['shipment_id']} shipped, "
                f"{sum(shipped.values())} of {sum(ordered.values())} units",
            )
            return record
        first = parcels[min(parcels, key=lambda k: (len(k), k))]
        shipped_facts = {
            "wms_order_id": facts["wms_order_id"],
            "tracking_code": first["tracking"],
            "carrier": facts["carrier"],
            "shipped_at": now,
        }
        shipped_record: OrderRecord = self.host._transition(
            tx, record, OrderEvent.SHIPPED, now, uow, shipped_facts
        )
        return shipped_record

    def apply_parcel_status(
        self,
        tx: Transaction,
        record: OrderRecord,
        code: str,
        status: str,
        now: float,
        uow: UnitOfWork,
    ) -> OrderRecord | None:
        """A tracker status of one parcel of several: the parcel keeps its newest status; the order is in
        transit with its first parcel on the way, delivered when every parcel is, failed when one is."""
        parcels = {k: dict(v) for k, v in record.parcels.items()}
        told = [p for p in parcels.values() if p["tracking"] == code]
        for parcel in told:
            if TRACKER_RANK.get(status, 0) >= TRACKER_RANK.get(str(parcel["status"]), 0):
                parcel["status"] = status
        if told:
            record = record.model_copy(update={"parcels": parcels})
            self.host._save_record(tx, record, now)
        if record.status not in (OrderStatus.SHIPPED, OrderStatus.IN_TRANSIT):
            uow.note("processed", f"order {record.order_no}: parcel {code} {status}")
            return record if told else None
        statuses = [str(p["status"]) for p in parcels.values()]
        if any(s in easypost.GAVE_UP for s in statuses):
            event, facts = OrderEvent.DELIVERY_FAILED, None
        elif all(s in easypost.DELIVERED for s in statuses):
            event, facts = OrderEvent.DELIVERED, {"delivered_at": now}
        elif any(s in easypost.IN_TRANSIT or s in easypost.DELIVERED for s in statuses):
            event, facts = OrderEvent.IN_TRANSIT, None
        else:
            return record if told else None
        moved: OrderRecord = self.host._transition(tx, record, event, now, uow, facts)
        return moved
