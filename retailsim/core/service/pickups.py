"""The core's store pickups (buy online, pick up in store): routing, pickup orders, and rerouting.

A BOPIS order names the store the customer chose (SCAPI shipment ``c_fromStoreId``). The core reserves
against its own view of each store's stock (loaded from the POS like the DC's from the ERP), sends the
store a pickup order, and follows the store's events through the order-to-cash table. When the store
cannot fulfil — at acceptance by the core's view, or later when the associate finds the shelf short and
declines — the core reroutes: the next store that can cover the whole order, else the DC (shipped home),
else the order is cancelled. Every location tried is kept in the order's ``routing`` (time, location,
why): the audit trail the agent's timeline shows.

Rules kept: one transaction per event, as everywhere in the core; a decline from a store the order has
already left, or any pickup event for a location that is not the order's current one, is stale and
changes nothing; a reply to a pickup order for a superseded location changes nothing; the ERP's sales
order follows the goods (its items move to the new plant) so that the ERP's book of the DC matches what
the warehouse ships. The store's count in a decline replaces the core's view of those SKUs there. No
clock, no global random.
"""

from __future__ import annotations

from typing import Any, Protocol

from retailsim.core.adapters import pos
from retailsim.core.errors import NotYetKnown
from retailsim.core.guards import Guards
from retailsim.core.models import Order
from retailsim.core.service.hosts import OrderTableHost
from retailsim.core.service.inventory import Inventory
from retailsim.core.service.unit_of_work import UnitOfWork
from retailsim.core.stores.base import Transaction
from retailsim.core.workflows.order_to_cash import OrderEvent, OrderRecord, OrderStatus

STILL_ROUTABLE = frozenset({OrderStatus.POSTED_TO_ERP, OrderStatus.ALLOCATED})


def needed_units(lines: list[tuple[str, int]]) -> dict[str, int]:
    needed: dict[str, int] = {}
    for sku, quantity in lines:
        needed[sku] = needed.get(sku, 0) + quantity
    return needed


class PickupsHost(OrderTableHost, Protocol):
    """What pickups need from the rest of the core: settings, guards, stock, counters, the order's table."""

    @property
    def guards(self) -> Guards: ...

    @property
    def inventory(self) -> Inventory: ...


class Pickups:
    """Store pickups of one core (see the module docstring)."""

    def __init__(self, host: PickupsHost) -> None:
        self.host = host

    # ---- routing ----------------------------------------------------------------------------------

    def candidates(self, chosen: str, tried: list[str]) -> list[str]:
        """Where to try, in order: the chosen store, the other stores after it, then the DCs."""
        stores = list(self.host.config.stores)
        if chosen in stores:
            start = stores.index(chosen)
            stores = stores[start:] + stores[:start]
        ordered = [*stores, *self.host.config.locations]
        return [location for location in ordered if location not in tried]

    def route_new(self, tx: Transaction, order: Order, now: float) -> dict[str, Any]:
        """Where a new BOPIS order goes, as facts for its record (location is "" when nowhere can)."""
        chosen = order.pickup_store or ""
        location = self.host.inventory.reserve_at(
            tx,
            needed_units([(line.sku, line.quantity) for line in order.lines]),
            self.candidates(chosen, []),
        )
        routing = [(now, chosen, "chosen by the customer")]
        if location is not None and location != chosen:
            routing.append((now, location, f"{chosen} short at acceptance"))
            self.host._count("pickups_rerouted")
        return {
            "pickup_store": chosen,
            "routing": routing,
            "location": location or "",
            "reserved": bool(location),
        }

    # ---- the store's events -----------------------------------------------------------------------

    def apply_webhook(
        self,
        tx: Transaction,
        topic: str,
        body: Any,
        now: float,
        uow: UnitOfWork,
    ) -> None:
        facts = pos.parse_pickup(body)
        record: OrderRecord | None = self.host._load_record(tx, facts["order_no"])
        if record is None:
            raise NotYetKnown(f"order {facts['order_no']} is not known yet")
        if facts["store_id"] != record.location:
            # The order has moved on from this store (or never went there): nothing to do.
            self.host._count("stale_pickup_events")
            uow.note(
                "stale", f"order {record.order_no} has moved on from store {facts['store_id']}"
            )
            return
        if topic == pos.TOPIC_PICKUP_READY:
            self.host._transition(tx, record, OrderEvent.PICKUP_READY, now, uow)
        elif topic == pos.TOPIC_PICKUP_COLLECTED:
            if record.status in STILL_ROUTABLE:  # "ready" is still on its way: it was set aside first
                record = self.host._transition(tx, record, OrderEvent.PICKUP_READY, now, uow)
            self.host._transition(
                tx, record, OrderEvent.PICKED_UP, now, uow, {"delivered_at": now}
            )
        elif topic == pos.TOPIC_PICKUP_DECLINED:
            self.reroute(tx, record, facts["short"], now, uow)

    def reroute(
        self,
        tx: Transaction,
        record: OrderRecord,
        counted: list[tuple[str, int]],
        now: float,
        uow: UnitOfWork,
    ) -> None:
        """The store declined: release it, believe its count, and send the order where it can be met."""
        if not self.host.guards.reroute:
            self.host._count("pickups_declined_ignored")
            return
        if record.status not in STILL_ROUTABLE:
            self.host._count("stale_pickup_events")
            uow.note(
                "stale", f"order {record.order_no} is {record.status.value}, past a decline"
            )
            return
        declined = record.location
        for sku, quantity in record.lines:
            position = tx.get_position(sku, declined)
            if position is not None and record.reserved:
                position.reserved -= quantity
                tx.put_position(position)
        for sku, on_hand in counted:
            position = tx.get_position(sku, declined)
            if position is not None:
                position.on_hand = on_hand
                tx.put_position(position)
        released = record.model_copy(update={"reserved": False})
        tried = [location for _, location, _ in record.routing]
        candidates = self.candidates(record.pickup_store or declined, [*tried, declined])
        location = self.host.inventory.reserve_at(tx, needed_units(record.lines), candidates)
        if location is None:
            routing = [*record.routing, (now, "", f"{declined} declined; no store or DC can fulfil")]
            self.host._count("pickups_unfulfillable")
            self.host._transition(
                tx, released, OrderEvent.PICKUP_UNFULFILLABLE, now, uow, {"routing": routing}
            )
            return
        self.host._count("pickups_rerouted")
        routing = [*record.routing, (now, location, f"{declined} declined the pickup")]
        self.host._transition(
            tx,
            released,
            OrderEvent.PICKUP_REROUTED,
            now,
            uow,
            {"location": location, "reserved": True, "routing": routing},
        )
