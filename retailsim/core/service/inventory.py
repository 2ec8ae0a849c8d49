"""The core's view of stock: positions per (SKU, location), reservations, and what the storefront is told.

The positions are loaded from the ERP's (and the stores') snapshots, reserved when an order is accepted
(at the first location that can cover the whole order), consumed when it ships or is collected, released
when it is cancelled or rejected; a change of what may be promised is published to the storefront —
coalesced per SKU (``publish_coalesce_s``), or as a batch feed when ``inventory_publication`` is batch.

Rules kept: every change happens in the caller's transaction (the order's, the webhook's), so stock and
the aggregate that moved it commit together; a SKU has at most one publication waiting; available to
promise never counts safety stock.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from retailsim.core.config import INTERNAL, CoreConfig
from retailsim.core.documents import DocKind
from retailsim.core.models import Order
from retailsim.core.service.unit_of_work import UnitOfWork
from retailsim.core.stores.base import NewMessage, Position, Transaction
from retailsim.core.workflows.order_to_cash import OrderRecord, OrderStatus


class InventoryHost(Protocol):
    """What inventory needs from the rest of the core: settings, transactions, crash points, wake-ups."""

    @property
    def config(self) -> CoreConfig: ...

    def _transaction(self, point: str) -> AbstractContextManager[Transaction]: ...

    def _crash_point(self, point: str) -> None: ...

    def _after_commit(self, uow: UnitOfWork, now: float) -> None: ...


class Inventory:
    """Stock positions and their publication (see the module docstring)."""

    def __init__(self, host: InventoryHost) -> None:
        self.host = host

    def _transaction(self, point: str) -> AbstractContextManager[Transaction]:
        return self.host._transaction(point)

    def _crash_point(self, point: str) -> None:
        self.host._crash_point(point)

    def load(self, rows: list[tuple[str, str, int]], now: float) -> None:
        """Initial (or full) load of on-hand stock per (sku, location) from the ERP's snapshot."""
        uow = UnitOfWork()
        with self._transaction("inventory_load.before_commit") as tx:
            for sku, location, on_hand in rows:
                position = tx.get_position(sku, location)
                if position is None:
                    tx.put_position(Position(sku, location, on_hand, 0, self.host.config.safety_stock))
                else:
                    position.on_hand = on_hand
                    tx.put_position(position)
            if self.host.config.inventory_publication == "batch":
                tx.append(NewMessage(INTERNAL, "PublishInventoryFeed", "inventory", "inventory", {}, now))
                uow.woken.add(INTERNAL)
            else:
                for sku in sorted({row[0] for row in rows}):
                    self.schedule_publication(tx, sku, now, uow, delay_s=0.0)
        self.host._after_commit(uow, now)
        self._crash_point("inventory_load.after_commit")

    def available_to_promise(self, sku: str) -> dict[str, int]:
        with self._transaction("atp_query.read") as tx:
            result = {}
            for location in self.host.config.locations:
                position = tx.get_position(sku, location)
                if position is not None:
                    result[location] = position.available
        return result

    def schedule_publication(
        self, tx: Transaction, sku: str, now: float, uow: UnitOfWork, delay_s: float | None = None
    ) -> None:
        if self.host.config.inventory_publication != "events":
            return
        marker = tx.load(DocKind.ATP_PUBLICATION, sku)
        if marker is not None and marker.get("pending"):
            return  # coalesced into the publication already waiting
        tx.save(DocKind.ATP_PUBLICATION, sku, {"pending": True}, now)
        wait = self.host.config.publish_coalesce_s if delay_s is None else delay_s
        tx.append(
            NewMessage(
                "storefront",
                "PublishAvailability",
                f"inventory:{sku}",
                f"inventory:{sku}",
                {"sku": sku},
                now + wait,
            )
        )
        uow.woken.add("storefront")

    def reserve_order(self, tx: Transaction, order: Order) -> str | None:
        """Pick the first DC able to ship the whole order and reserve there; None if none can."""
        needed: dict[str, int] = {}
        for line in order.lines:
            needed[line.sku] = needed.get(line.sku, 0) + line.quantity
        return self.reserve_at(tx, needed, self.host.config.locations)

    def on_transition(
        self, tx: Transaction, old: OrderRecord, new: OrderRecord, now: float, uow: UnitOfWork
    ) -> None:
        """Stock follows a reserved order: consumed when it ships or is set aside at a store, released
        (and republished) when it is cancelled or rejected."""
        if not old.reserved:
            return
        if new.status in (OrderStatus.SHIPPED, OrderStatus.READY_FOR_PICKUP):
            for sku, quantity in new.lines:
                position = tx.get_position(sku, new.location)
                if position is not None:
                    position.on_hand -= quantity
                    position.reserved -= quantity
                    tx.put_position(position)
        elif new.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
            for sku, quantity in new.lines:
                position = tx.get_position(sku, new.location)
                if position is not None:
                    position.reserved -= quantity
                    tx.put_position(position)
                    self.schedule_publication(tx, sku, now, uow)

    @staticmethod
    def reserve_at(tx: Transaction, needed: dict[str, int], candidates: list[str]) -> str | None:
        """Reserve the whole order at the first candidate that can cover it; None if none can."""
        for location in candidates:
            positions = [tx.get_position(sku, location) for sku in needed]
            if all(p is not None and p.available >= needed[p.sku] for p in positions):
                for position in positions:
                    assert position is not None
                    position.reserved += needed[position.sku]
                    tx.put_position(position)
                return location
        return None
