"""Order-to-cash as a transition table: (state, event) → new state, plus the commands it issues.

received → stock reserved → payment authorized → posted to ERP → allocated → shipped → in transit →
delivered; with rejected (no stock at a checkout that asked), backordered (short at acceptance of an
already-confirmed order, or a short pick) and cancelled (backorder policy, failed payment).

Buy online, pick up in store (BOPIS): posted to ERP → allocated (the store took the pickup order) → ready
for pickup → delivered (collected, paid at the counter). A store that cannot fulfil declines; the core
reroutes to another store or the DC, which re-enters "posted to ERP" with the new location (the one step
back the table allows, on purpose: ``allocated`` is internal, the customer sees "posted to ERP" again
with the new pickup store). A parcel the carrier gives up on (failure, return to sender) is "delivery
failed" until a service agent replaces it ("replaced": a free replacement order ships instead). A
replacement order needs no payment: it goes from stock reserved straight to payment authorized.

Rules kept here:
* The table is the whole truth. An event that the table does not allow is either *stale* (it would
  move the order to a state it has already passed: delivered-before-shipped leaves a late "shipped"
  with nothing to do) and is ignored, or *illegal* and raises :class:`IllegalTransition`, changing nothing.
* Pure: ``apply`` takes the record and the event and returns the new record and the commands; it reads
  no clock (``now`` is a parameter) and does no I/O.
* Every status the customer or an agent can see carries a sequence number, so receivers and the
  harness can tell an old status from a new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from retailsim.core.errors import IllegalTransition
from retailsim.core.frozen import updated
from retailsim.core.workflows.facts import checked_facts


class OrderStatus(StrEnum):
    RECEIVED = "received"
    STOCK_RESERVED = "stock_reserved"
    PAYMENT_AUTHORIZED = "payment_authorized"
    POSTED_TO_ERP = "posted_to_erp"
    ALLOCATED = "allocated"
    BACKORDERED = "backordered"
    READY_FOR_PICKUP = "ready_for_pickup"
    SHIPPED = "shipped"
    IN_TRANSIT = "in_transit"
    DELIVERY_FAILED = "delivery_failed"
    DELIVERED = "delivered"
    REPLACED = "replaced"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


RANK: dict[OrderStatus, int] = {
    OrderStatus.RECEIVED: 0,
    OrderStatus.STOCK_RESERVED: 1,
    OrderStatus.PAYMENT_AUTHORIZED: 2,
    OrderStatus.POSTED_TO_ERP: 3,
    OrderStatus.ALLOCATED: 4,
    OrderStatus.BACKORDERED: 5,
    OrderStatus.READY_FOR_PICKUP: 6,
    OrderStatus.SHIPPED: 6,
    OrderStatus.IN_TRANSIT: 7,
    OrderStatus.DELIVERY_FAILED: 8,
    OrderStatus.DELIVERED: 9,
    OrderStatus.REPLACED: 10,
    OrderStatus.REJECTED: 10,
    OrderStatus.CANCELLED: 10,
}
# Terminal: nothing more happens to the order. A failed delivery is not terminal (an agent may replace
# it), though the integration's own work ends there unless someone acts.
TERMINAL = frozenset(
    {OrderStatus.DELIVERED, OrderStatus.REPLACED, OrderStatus.REJECTED, OrderStatus.CANCELLED}
)


class OrderEvent(StrEnum):
    STOCK_RESERVED = "StockReserved"
    STOCK_SHORT = "StockShort"  # an order already confirmed to the customer, without stock
    STOCK_UNAVAILABLE = "StockUnavailable"  # a checkout that asked: refuse it
    PAYMENT_AUTHORIZED = "PaymentAuthorized"
    PAYMENT_FAILED = "PaymentFailed"
    SALES_ORDER_POSTED = "SalesOrderPosted"
    SALES_ORDER_POSTED_SHORT = "SalesOrderPostedShort"
    WAREHOUSE_ACCEPTED = "WarehouseOrderAccepted"
    SHIPMENT_ON_HOLD = "ShipmentOnHold"
    SHIPPED = "OrderShipped"
    IN_TRANSIT = "ParcelInTransit"
    DELIVERED = "ParcelDelivered"
    BACKORDER_EXPIRED = "BackorderExpired"
    PAYMENT_NOT_REQUIRED = "PaymentNotRequired"  # a free replacement order
    DELIVERY_FAILED = "ParcelDeliveryFailed"
    REPLACEMENT_ORDERED = "ReplacementOrdered"
    PICKUP_ACCEPTED = "StorePickupAccepted"
    PICKUP_READY = "PickupReady"
    PICKED_UP = "PickedUp"
    PICKUP_REROUTED = "PickupRerouted"
    PICKUP_UNFULFILLABLE = "PickupUnfulfillable"


S, E = OrderStatus, OrderEvent

TRANSITIONS: dict[tuple[OrderStatus, OrderEvent], OrderStatus] = {
    (S.RECEIVED, E.STOCK_RESERVED): S.STOCK_RESERVED,
    (S.RECEIVED, E.STOCK_SHORT): S.STOCK_RESERVED,
    (S.RECEIVED, E.STOCK_UNAVAILABLE): S.REJECTED,
    (S.STOCK_RESERVED, E.PAYMENT_AUTHORIZED): S.PAYMENT_AUTHORIZED,
    (S.STOCK_RESERVED, E.PAYMENT_FAILED): S.CANCELLED,
    (S.PAYMENT_AUTHORIZED, E.SALES_ORDER_POSTED): S.POSTED_TO_ERP,
    (S.PAYMENT_AUTHORIZED, E.SALES_ORDER_POSTED_SHORT): S.BACKORDERED,
    (S.POSTED_TO_ERP, E.WAREHOUSE_ACCEPTED): S.ALLOCATED,
    (S.POSTED_TO_ERP, E.SHIPMENT_ON_HOLD): S.BACKORDERED,
    (S.ALLOCATED, E.SHIPMENT_ON_HOLD): S.BACKORDERED,
    (S.POSTED_TO_ERP, E.SHIPPED): S.SHIPPED,
    (S.ALLOCATED, E.SHIPPED): S.SHIPPED,
    (S.SHIPPED, E.IN_TRANSIT): S.IN_TRANSIT,
    (S.SHIPPED, E.DELIVERED): S.DELIVERED,
    (S.IN_TRANSIT, E.DELIVERED): S.DELIVERED,
    (S.BACKORDERED, E.BACKORDER_EXPIRED): S.CANCELLED,
    (S.STOCK_RESERVED, E.PAYMENT_NOT_REQUIRED): S.PAYMENT_AUTHORIZED,
    (S.SHIPPED, E.DELIVERY_FAILED): S.DELIVERY_FAILED,
    (S.IN_TRANSIT, E.DELIVERY_FAILED): S.DELIVERY_FAILED,
    (S.DELIVERY_FAILED, E.REPLACEMENT_ORDERED): S.REPLACED,
    (S.POSTED_TO_ERP, E.PICKUP_ACCEPTED): S.ALLOCATED,
    (S.POSTED_TO_ERP, E.PICKUP_READY): S.READY_FOR_PICKUP,
    (S.ALLOCATED, E.PICKUP_READY): S.READY_FOR_PICKUP,
    (S.READY_FOR_PICKUP, E.PICKED_UP): S.DELIVERED,
    (S.POSTED_TO_ERP, E.PICKUP_REROUTED): S.POSTED_TO_ERP,
    (S.ALLOCATED, E.PICKUP_REROUTED): S.POSTED_TO_ERP,
    (S.POSTED_TO_ERP, E.PICKUP_UNFULFILLABLE): S.CANCELLED,
    (S.ALLOCATED, E.PICKUP_UNFULFILLABLE): S.CANCELLED,
}

# The state each event leads to, to tell a stale event (its state is passed) from an illegal one.
EVENT_TARGET: dict[OrderEvent, OrderStatus] = {}
for (_state, _event), _target in TRANSITIONS.items():
    EVENT_TARGET.setdefault(_event, _target)

# Statuses pushed to the storefront and to Service Cloud (others are internal milestones).
STOREFRONT_VISIBLE = frozenset(
    {
        S.POSTED_TO_ERP,
        S.BACKORDERED,
        S.READY_FOR_PICKUP,
        S.SHIPPED,
        S.DELIVERY_FAILED,
        S.DELIVERED,
        S.REPLACED,
        S.CANCELLED,
    }
)
SERVICE_VISIBLE = frozenset(
    {
        S.STOCK_RESERVED,
        S.POSTED_TO_ERP,
        S.BACKORDERED,
        S.READY_FOR_PICKUP,
        S.SHIPPED,
        S.IN_TRANSIT,
        S.DELIVERY_FAILED,
        S.DELIVERED,
        S.REPLACED,
        S.CANCELLED,
    }
)


# The empty containers of a new record, shared by every record: nothing changes a record's containers in
# place (a change is a new record with a new container: core/frozen.py), and a list or dict per record
# that never gets an item (routing, parcels) or not yet (history, synced) was ~200 bytes an order.
_NO_ENTRIES: dict[str, Any] = {}
_NO_ITEMS: list[Any] = []


def _no_entries() -> dict[str, Any]:
    return _NO_ENTRIES


def _no_items() -> list[Any]:
    return _NO_ITEMS


class OrderRecord(BaseModel):
    """The core's durable state of one order (the aggregate), saved as a JSON document.

    Frozen: a new state is an updated copy (core/frozen.py), and a store may hand the saved object to later readers.
    Its containers are never changed in place (a new record gets new ones): new records share their empty
    ones, and equal ``synced`` dicts are one shared dict (``frozen.updated``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_no: str
    correlation_id: str
    status: OrderStatus = S.RECEIVED
    status_seq: int = 0
    confirmed_to_customer: bool = False
    short: bool = False
    location: str = ""
    lines: list[tuple[str, int]] = Field(default_factory=_no_items)
    total_minor: int = 0
    currency: str = "USD"
    payment_ref: str | None = None
    erp_sales_order: str | None = None
    wms_order_id: str | None = None
    tracking_code: str | None = None
    carrier: str | None = None
    reserved: bool = False
    accepted_at: float = 0.0
    posted_at: float | None = None
    shipped_at: float | None = None
    delivered_at: float | None = None
    stale_events: int = 0
    # destination → newest status sequence it has acknowledged
    synced: dict[str, int] = Field(default_factory=_no_entries)
    # (time, status, event) — the timeline's spine
    history: list[tuple[float, str, str]] = Field(default_factory=_no_items)
    # BOPIS: the store the customer chose, and every fulfilment location tried, (time, location, why).
    pickup_store: str | None = None
    routing: list[tuple[float, str, str]] = Field(default_factory=_no_items)
    # Replacement orders: the order this one replaces and the ERP document it refers to; on the
    # original, the replacement that superseded it.
    replaces: str | None = None
    erp_reference: str | None = None
    replaced_by: str | None = None
    # Partial shipments: the warehouse's shipments of this order (shipment id → its tracking code, units
    # per SKU and the carrier's latest status), when it ships in more than one parcel.
    parcels: dict[str, dict[str, Any]] = Field(default_factory=_no_entries)
    # The ERP of record (its destination): set at acceptance, changed only by the ERP migration job.
    erp: str = "erp"


@dataclass(frozen=True, slots=True)
class Command:
    """An imperative instruction to a downstream system (or to the core itself, ``core``)."""

    destination: str
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Outcome:
    record: OrderRecord
    commands: tuple[Command, ...]
    stale: bool = False  # nothing to do: the event's state is passed, or is the order's state already
    repeat: bool = False  # of those, an event that restates the current state ("out for delivery")


@dataclass(frozen=True, slots=True)
class Policy:
    backorder_grace_s: float = 3600.0
    shipment_watch_s: float = 8 * 3600.0  # no "shipped" from the warehouse by then: ask it
    delivery_watch_s: float = 4 * 86400.0  # no "delivered" from the carrier by then: ask it
    dc_locations: tuple[str, ...] = ("DC1",)  # any other fulfilment location is a store


def _status_commands(status: OrderStatus, seq: int, storefront: bool = True) -> list[Command]:
    """Status pushes; a replacement order is the core's own (the storefront never had it)."""
    commands = []
    if status in STOREFRONT_VISIBLE and storefront:
        commands.append(Command("storefront", "UpdateOrderStatus", {"status": status.value, "seq": seq}))
    if status in SERVICE_VISIBLE:
        commands.append(Command("service_cloud", "UpsertOrderStatus", {"status": status.value, "seq": seq}))
    return commands


def at_store(record: OrderRecord, policy: Policy) -> bool:
    return bool(record.location) and record.location not in policy.dc_locations


def _release(new: OrderRecord, policy: Policy) -> list[Command]:
    """Hand the order to its fulfilment location: a store's pickup queue, or the DC's warehouse."""
    if at_store(new, policy):
        return [
            Command("pos", "ReleaseToStore", {"location": new.location}),
            # Store events are at least once when they come; some never come: ask the store then.
            Command("core", "WatchPickup", {"round": 1}, delay_s=policy.shipment_watch_s),
        ]
    return [
        Command("wms", "ReleaseToWarehouse"),
        Command("core", "WatchShipment", {"round": 1}, delay_s=policy.shipment_watch_s),
    ]


def _commands_for(
    record: OrderRecord, new: OrderRecord, target: OrderStatus, policy: Policy
) -> list[Command]:
    """What entering ``target`` (from ``record``, becoming ``new``) asks of the other systems."""
    commands: list[Command] = []
    if target is S.STOCK_RESERVED:
        if not record.replaces:
            commands.append(Command("payment", "VerifyPaymentAuthorization"))
    elif target is S.REJECTED:
        if record.payment_ref:
            commands.append(Command("payment", "VoidPaymentAuthorization"))
        return commands
    elif target is S.PAYMENT_AUTHORIZED:
        commands.append(Command("erp", "PostSalesOrder"))
    elif target is S.POSTED_TO_ERP:
        if record.status is not S.PAYMENT_AUTHORIZED:
            # Rerouted: the ERP's sales order follows the goods (its items move to the new plant).
            for index in range(len(new.lines)):
                item = str(10 * (index + 1))
                commands.append(
                    Command("erp", "ChangeSalesOrderPlant", {"location": new.location, "item": item})
                )
        commands.extend(_release(new, policy))
    elif target is S.BACKORDERED:
        commands.append(Command("core", "ExpireBackorder", delay_s=policy.backorder_grace_s))
    elif target is S.SHIPPED:
        if record.payment_ref:
            commands.append(Command("payment", "CapturePayment"))
        commands.append(Command("erp", "PostGoodsIssue"))
        # Reconciliation watchdog: webhooks are at least once *when they come*; some never come.
        commands.append(Command("core", "WatchDelivery", {"round": 1}, delay_s=policy.delivery_watch_s))
    elif target is S.DELIVERED and record.status is S.READY_FOR_PICKUP:
        # Collected at the counter: the card is charged and the goods issue posted now.
        if record.payment_ref:
            commands.append(Command("payment", "CapturePayment"))
        commands.append(Command("erp", "PostGoodsIssue"))
    elif target is S.CANCELLED:
        if record.status is S.BACKORDERED and not record.short:  # released to the WMS, then on hold
            commands.append(Command("wms", "CancelWarehouseOrder"))
        if record.erp_sales_order:
            commands.append(Command("erp", "CancelSalesOrder"))
        if record.payment_ref:
            commands.append(Command("payment", "VoidPaymentAuthorization"))
    return commands


def apply(
    record: OrderRecord,
    event: OrderEvent,
    now: float,
    policy: Policy,
    facts: dict[str, Any] | None = None,
) -> Outcome:
    """Apply ``event`` to ``record``; raise IllegalTransition for an event that makes no sense (and
    InvalidFacts for facts that are no fields of the record, or of the wrong type)."""
    facts = checked_facts(OrderRecord, facts)
    target = TRANSITIONS.get((record.status, event))
    if target is None:
        wanted = EVENT_TARGET[event]
        if wanted is record.status:
            return Outcome(record, (), stale=True, repeat=True)
        if record.status in TERMINAL or RANK[wanted] <= RANK[record.status]:
            stale = updated(record, {"stale_events": record.stale_events + 1})
            return Outcome(stale, (), stale=True)
        raise IllegalTransition("order_to_cash", record.status.value, event.value)
    seq = record.status_seq + 1
    history = [*record.history, (now, target.value, event.value)]
    new = updated(record, {**facts, "status": target, "status_seq": seq, "history": history})
    commands = _commands_for(record, new, target, policy)
    commands.extend(_status_commands(target, seq, storefront=not record.replaces))
    return Outcome(new, tuple(commands))
