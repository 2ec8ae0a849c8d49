"""Order-to-cash as a transition table: (state, event) → new state, plus the commands it issues.

received → stock reserved → payment authorized → posted to ERP → allocated → shipped → in transit →
delivered; with rejected (no stock at a checkout that asked), backordered (short at acceptance of an
already-confirmed order, or a short pick) and cancelled (backorder policy, failed payment).

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

from pydantic import BaseModel, ConfigDict

from retailsim.core.errors import IllegalTransition


class OrderStatus(StrEnum):
    RECEIVED = "received"
    STOCK_RESERVED = "stock_reserved"
    PAYMENT_AUTHORIZED = "payment_authorized"
    POSTED_TO_ERP = "posted_to_erp"
    ALLOCATED = "allocated"
    BACKORDERED = "backordered"
    SHIPPED = "shipped"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


RANK: dict[OrderStatus, int] = {
    OrderStatus.RECEIVED: 0,
    OrderStatus.STOCK_RESERVED: 1,
    OrderStatus.PAYMENT_AUTHORIZED: 2,
    OrderStatus.POSTED_TO_ERP: 3,
    OrderStatus.ALLOCATED: 4,
    OrderStatus.BACKORDERED: 5,
    OrderStatus.SHIPPED: 6,
    OrderStatus.IN_TRANSIT: 7,
    OrderStatus.DELIVERED: 8,
    OrderStatus.REJECTED: 9,
    OrderStatus.CANCELLED: 9,
}
TERMINAL = frozenset({OrderStatus.DELIVERED, OrderStatus.REJECTED, OrderStatus.CANCELLED})


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
}

# The state each event leads to, to tell a stale event (its state is passed) from an illegal one.
EVENT_TARGET: dict[OrderEvent, OrderStatus] = {}
for (_state, _event), _target in TRANSITIONS.items():
    EVENT_TARGET.setdefault(_event, _target)

# Statuses pushed to the storefront and to Service Cloud (others are internal milestones).
STOREFRONT_VISIBLE = frozenset({S.POSTED_TO_ERP, S.BACKORDERED, S.SHIPPED, S.DELIVERED, S.CANCELLED})
SERVICE_VISIBLE = frozenset(
    {S.STOCK_RESERVED, S.POSTED_TO_ERP, S.BACKORDERED, S.SHIPPED, S.IN_TRANSIT, S.DELIVERED, S.CANCELLED}
)


class OrderRecord(BaseModel):
    """The core's durable state of one order (the aggregate), saved as a JSON document.

    Frozen: a new state is a ``model_copy``, and a store may hand the saved object to later readers.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_no: str
    correlation_id: str
    status: OrderStatus = S.RECEIVED
    status_seq: int = 0
    confirmed_to_customer: bool = False
    short: bool = False
    location: str = ""
    lines: list[tuple[str, int]] = []
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
    synced: dict[str, int] = {}  # destination → newest status sequence it has acknowledged
    history: list[tuple[float, str, str]] = []  # (time, status, event) — the timeline's spine


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
    stale: bool = False


@dataclass(frozen=True, slots=True)
class Policy:
    backorder_grace_s: float = 3600.0
    shipment_watch_s: float = 8 * 3600.0  # no "shipped" from the warehouse by then: ask it
    delivery_watch_s: float = 4 * 86400.0  # no "delivered" from the carrier by then: ask it


def _status_commands(status: OrderStatus, seq: int) -> list[Command]:
    commands = []
    if status in STOREFRONT_VISIBLE:
        commands.append(Command("storefront", "UpdateOrderStatus", {"status": status.value, "seq": seq}))
    if status in SERVICE_VISIBLE:
        commands.append(Command("service_cloud", "UpsertOrderStatus", {"status": status.value, "seq": seq}))
    return commands


def _commands_for(record: OrderRecord, target: OrderStatus, policy: Policy) -> list[Command]:
    """What entering ``target`` asks of the other systems."""
    commands: list[Command] = []
    if target is S.STOCK_RESERVED:
        commands.append(Command("payment", "VerifyPaymentAuthorization"))
    elif target is S.REJECTED:
        if record.payment_ref:
            commands.append(Command("payment", "VoidPaymentAuthorization"))
        return commands
    elif target is S.PAYMENT_AUTHORIZED:
        commands.append(Command("erp", "PostSalesOrder"))
    elif target is S.POSTED_TO_ERP:
        commands.append(Command("wms", "ReleaseToWarehouse"))
        commands.append(Command("core", "WatchShipment", {"round": 1}, delay_s=policy.shipment_watch_s))
    elif target is S.BACKORDERED:
        commands.append(Command("core", "ExpireBackorder", delay_s=policy.backorder_grace_s))
    elif target is S.SHIPPED:
        commands.append(Command("payment", "CapturePayment"))
        commands.append(Command("erp", "PostGoodsIssue"))
        # Reconciliation watchdog: webhooks are at least once *when they come*; some never come.
        commands.append(Command("core", "WatchDelivery", {"round": 1}, delay_s=policy.delivery_watch_s))
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
    """Apply ``event`` to ``record``; raise IllegalTransition for an event that makes no sense."""
    target = TRANSITIONS.get((record.status, event))
    if target is None:
        wanted = EVENT_TARGET[event]
        if record.status in TERMINAL or RANK[wanted] <= RANK[record.status]:
            stale = record.model_copy(update={"stale_events": record.stale_events + 1})
            return Outcome(stale, (), stale=True)
        raise IllegalTransition("order_to_cash", record.status.value, event.value)
    seq = record.status_seq + 1
    update: dict[str, Any] = dict(facts or {})
    update.update(
        status=target,
        status_seq=seq,
        history=[*record.history, (now, target.value, event.value)],
    )
    commands = _commands_for(record, target, policy)
    commands.extend(_status_commands(target, seq))
    return Outcome(record.model_copy(update=update), tuple(commands))
