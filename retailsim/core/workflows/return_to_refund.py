"""Return-to-refund as a transition table: (state, event) → new state, plus the commands it issues.

requested → (eligibility) → authorizing (return authorization in the ERP) → authorized (awaiting the
goods) → received (disposition and credit memo) → refunding (the payment gateway) → refunded; or
requested → rejected when the return is not eligible. An exchange ends received → exchanged instead:
no credit memo and no refund, a free replacement order (with reference to the ERP's customer return)
ships the same goods; when there is no stock for it, the exchange falls back to a refund. A parcel lost
in transit is claimed by a service agent as a return with no goods to come back (``goods_expected``
false): it is received as soon as the ERP authorizes it, written off, and refunded.

A return requested at a store counter is received there at once: its receipt may reach the core before
the ERP has authorized it, so a receipt in ``authorizing`` is kept as a fact and applied the moment the
authorization lands (the only chained step of the table).

Rules kept here, as in order-to-cash:
* The table is the whole truth. An event whose state the return has already passed is *stale* (a
  duplicate POS event, a replayed reply) and changes nothing but a counter; any other event the table
  does not allow raises :class:`IllegalTransition`, changing nothing.
* Pure: ``apply`` and ``eligibility`` read no clock (``now`` is a parameter) and do no I/O.
* A refund is issued exactly once per return: only the entry into ``refunding`` issues
  ``RefundPayment``, and its idempotency key is derived from the return number (``{return_no}:refund``),
  so every retry of it is the same refund at the gateway.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from retailsim.core.errors import IllegalTransition
from retailsim.core.workflows.facts import checked_facts
from retailsim.core.workflows.order_to_cash import Command


class ReturnStatus(StrEnum):
    REQUESTED = "requested"
    AUTHORIZING = "authorizing"
    AUTHORIZED = "authorized"
    RECEIVED = "received"
    REFUNDING = "refunding"
    REFUNDED = "refunded"
    EXCHANGED = "exchanged"
    REJECTED = "rejected"


RANK: dict[ReturnStatus, int] = {
    ReturnStatus.REQUESTED: 0,
    ReturnStatus.AUTHORIZING: 1,
    ReturnStatus.AUTHORIZED: 2,
    ReturnStatus.RECEIVED: 3,
    ReturnStatus.REFUNDING: 4,
    ReturnStatus.REFUNDED: 5,
    ReturnStatus.EXCHANGED: 5,
    ReturnStatus.REJECTED: 5,
}
TERMINAL = frozenset({ReturnStatus.REFUNDED, ReturnStatus.EXCHANGED, ReturnStatus.REJECTED})


class ReturnEvent(StrEnum):
    ELIGIBLE = "ReturnEligible"
    INELIGIBLE = "ReturnIneligible"
    AUTHORIZATION_POSTED = "ReturnAuthorizationPosted"
    GOODS_RECEIVED = "ReturnGoodsReceived"
    CREDIT_MEMO_POSTED = "CreditMemoPosted"
    REFUND_SUCCEEDED = "RefundSucceeded"
    EXCHANGE_ORDERED = "ExchangeOrderCreated"
    EXCHANGE_UNAVAILABLE = "ExchangeUnavailable"  # no stock for the replacement: refund instead


S, E = ReturnStatus, ReturnEvent

TRANSITIONS: dict[tuple[ReturnStatus, ReturnEvent], ReturnStatus] = {
    (S.REQUESTED, E.ELIGIBLE): S.AUTHORIZING,
    (S.REQUESTED, E.INELIGIBLE): S.REJECTED,
    (S.AUTHORIZING, E.AUTHORIZATION_POSTED): S.AUTHORIZED,
    (S.AUTHORIZING, E.GOODS_RECEIVED): S.AUTHORIZING,  # kept as a fact until the authorization lands
    (S.AUTHORIZED, E.GOODS_RECEIVED): S.RECEIVED,
    (S.RECEIVED, E.CREDIT_MEMO_POSTED): S.REFUNDING,
    (S.REFUNDING, E.REFUND_SUCCEEDED): S.REFUNDED,
    (S.RECEIVED, E.EXCHANGE_ORDERED): S.EXCHANGED,
    (S.RECEIVED, E.EXCHANGE_UNAVAILABLE): S.RECEIVED,
}

EVENT_TARGET: dict[ReturnEvent, ReturnStatus] = {
    E.ELIGIBLE: S.AUTHORIZING,
    E.INELIGIBLE: S.REJECTED,
    E.AUTHORIZATION_POSTED: S.AUTHORIZED,
    E.GOODS_RECEIVED: S.RECEIVED,
    E.CREDIT_MEMO_POSTED: S.REFUNDING,
    E.REFUND_SUCCEEDED: S.REFUNDED,
    E.EXCHANGE_ORDERED: S.EXCHANGED,
    E.EXCHANGE_UNAVAILABLE: S.RECEIVED,
}

# Conditions and what is done with such goods (disposition). Anything else is refused by policy;
# "lost" only on a lost-in-transit claim, where there are no goods to inspect.
DISPOSITION = {"resellable": "restock", "opened": "refurbish", "damaged": "scrap", "lost": "write_off"}
# Statuses the customer sees on the storefront (and the store, for store returns).
CUSTOMER_VISIBLE = frozenset({S.AUTHORIZED, S.RECEIVED, S.REFUNDED, S.EXCHANGED, S.REJECTED})


class ReturnLineState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str
    quantity: int
    condition: str = "resellable"
    unit_price_minor: int = 0
    disposition: str | None = None


class ReturnRecord(BaseModel):
    """The core's durable state of one return (the aggregate, kind ``return``, keyed by return number)."""

    model_config = ConfigDict(extra="forbid")

    return_no: str
    order_no: str
    correlation_id: str  # the return number: it travels through every system the return touches
    channel: str  # pos | storefront | agent
    location: str  # where the goods come back: a store id, or the DC
    reason: str = ""
    status: ReturnStatus = S.REQUESTED
    status_seq: int = 0
    lines: list[ReturnLineState] = []
    amount_minor: int = 0
    payment_ref: str | None = None
    erp_sales_order: str | None = None
    erp_return_order: str | None = None
    erp_credit_memo: str | None = None
    refund_id: str | None = None
    wms_return_id: str | None = None
    rejection: str | None = None
    requested_at: float = 0.0
    received_at: float | None = None
    refunded_at: float | None = None
    stale_events: int = 0
    history: list[tuple[float, str, str]] = []
    exchange: bool = False  # the customer wants the same goods again, not the money
    goods_expected: bool = True  # False: a parcel lost in transit, claimed by a service agent
    replacement_order: str | None = None
    case_id: str | None = None  # the Service Cloud case an agent opened this return from
    # Stores that check returned goods in unit by unit: each unit's condition, by SKU, as it arrived
    # (each resellable one is restocked at once, so the received return restocks nothing more).
    units_received: dict[str, list[str]] = {}


@dataclass(frozen=True, slots=True)
class ReturnPolicy:
    window_s: float = 30 * 86400.0
    dc_locations: tuple[str, ...] = ("DC1",)


@dataclass(frozen=True, slots=True)
class ReturnOutcome:
    record: ReturnRecord
    commands: tuple[Command, ...]
    stale: bool = False


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What eligibility needs to know about the original order (from the order's aggregate)."""

    status: str
    invoiced: bool  # the ERP billed it (goods issue posted)
    delivered_at: float | None
    lines: dict[str, int]  # sku → quantity ordered
    already_returned: dict[str, int]  # sku → quantity on other, non-rejected returns


def eligibility(
    record: ReturnRecord, order: OrderFacts | None, now: float, policy: ReturnPolicy
) -> str | None:
    """None when the return may go ahead, else the reason it may not (pure)."""
    if order is None:
        return "unknown_order"
    if not order.invoiced:
        return "not_invoiced"
    if not record.goods_expected:
        if order.status != "delivery_failed":
            return "parcel_not_lost"
    elif order.delivered_at is None:
        return "not_invoiced"
    elif now - order.delivered_at > policy.window_s:
        return "outside_return_window"
    for line in record.lines:
        if line.condition not in DISPOSITION or (line.condition == "lost") is record.goods_expected:
            return f"condition_not_accepted:{line.condition}"
        allowed = order.lines.get(line.sku, 0) - order.already_returned.get(line.sku, 0)
        if line.quantity > allowed:
            return f"quantity_exceeds_order:{line.sku}"
    return None


def restocked_at_dc(record: ReturnRecord, policy: ReturnPolicy) -> bool:
    """Goods of this return go back on a DC's shelves, booked by the ERP's return goods receipt."""
    return (
        record.location in policy.dc_locations
        and bool(record.erp_return_order)
        and any(line.disposition == "restock" for line in record.lines)
    )


def _commands_for(record: ReturnRecord, target: ReturnStatus, policy: ReturnPolicy) -> list[Command]:
    commands: list[Command] = []
    at_store = record.location not in policy.dc_locations
    if target is S.AUTHORIZING:
        commands.append(Command("erp", "CreateCustomerReturn"))
    elif target is S.AUTHORIZED and not at_store and record.goods_expected:
        commands.append(Command("wms", "CreateWarehouseReturn"))
    elif target is S.RECEIVED:
        if at_store:
            if any(line.disposition == "restock" for line in record.lines) and not record.units_received:
                commands.append(Command("pos", "RestockReturnedGoods"))
        elif any(line.disposition == "restock" for line in record.lines):
            commands.append(Command("erp", "PostReturnGoodsReceipt"))
        if record.exchange:
            # Goods restocked at a DC: the replacement follows the ERP's goods receipt (core/service/returns.py),
            # so that the ERP has the units it is asked to deliver again.
            if not restocked_at_dc(record, policy):
                commands.append(Command("core", "CreateExchangeOrder"))
        else:
            commands.append(Command("erp", "CreateCreditMemoRequest"))
    elif target is S.REFUNDING:
        commands.append(Command("payment", "RefundPayment"))
    return commands


def _status_commands(record: ReturnRecord, status: ReturnStatus, seq: int) -> list[Command]:
    if status not in CUSTOMER_VISIBLE:
        return []
    commands = [Command("storefront", "UpdateReturnStatus", {"status": status.value, "seq": seq})]
    if record.channel == "pos":
        commands.append(Command("pos", "UpdateStoreReturn", {"status": status.value, "seq": seq}))
    if record.case_id:
        commands.append(
            Command("service_cloud", "UpdateCaseReturnStatus", {"status": status.value, "seq": seq})
        )
    return commands


def _enter(
    record: ReturnRecord,
    target: ReturnStatus,
    event: ReturnEvent,
    now: float,
    update: dict[str, Any],
    policy: ReturnPolicy,
) -> tuple[ReturnRecord, list[Command]]:
    seq = record.status_seq + 1
    changes = dict(update)
    changes.update(status=target, status_seq=seq, history=[*record.history, (now, target.value, event.value)])
    if target is S.RECEIVED:
        lines = [
            line.model_copy(update={"disposition": DISPOSITION.get(line.condition, "scrap")})
            for line in changes.get("lines", record.lines)
        ]
        changes["lines"] = lines
    new = record.model_copy(update=changes)
    commands = _commands_for(new, target, policy)
    commands.extend(_status_commands(new, target, seq))
    return new, commands


def apply(
    record: ReturnRecord,
    event: ReturnEvent,
    now: float,
    policy: ReturnPolicy,
    facts: dict[str, Any] | None = None,
) -> ReturnOutcome:
    """Apply ``event`` to ``record``; raise IllegalTransition for an event that makes no sense (and
    InvalidFacts for facts that are no fields of the record, or of the wrong type)."""
    facts = checked_facts(ReturnRecord, facts)
    target = TRANSITIONS.get((record.status, event))
    if target is None:
        wanted = EVENT_TARGET[event]
        if record.status in TERMINAL or RANK[wanted] <= RANK[record.status]:
            stale = record.model_copy(update={"stale_events": record.stale_events + 1})
            return ReturnOutcome(stale, (), stale=True)
        raise IllegalTransition("return_to_refund", record.status.value, event.value)
    update: dict[str, Any] = dict(facts or {})
    if event is E.EXCHANGE_UNAVAILABLE:
        # No stock for the replacement: the customer gets the money back instead, as for any return.
        history = [*record.history, (now, S.RECEIVED.value, event.value)]
        fallback = record.model_copy(update={**update, "exchange": False, "history": history})
        return ReturnOutcome(fallback, (Command("erp", "CreateCreditMemoRequest"),))
    if event is E.GOODS_RECEIVED and record.status is S.AUTHORIZING:
        if record.received_at is not None:
            stale = record.model_copy(update={"stale_events": record.stale_events + 1})
            return ReturnOutcome(stale, (), stale=True)
        return ReturnOutcome(record.model_copy(update=update), ())
    new, commands = _enter(record, target, event, now, update, policy)
    if target is S.AUTHORIZED and new.received_at is not None:
        # The goods came back over the counter before the ERP authorized the return: receive them now.
        new, more = _enter(new, S.RECEIVED, E.GOODS_RECEIVED, now, {}, policy)
        commands.extend(more)
    return ReturnOutcome(new, tuple(commands))


def refund_idempotency_key(return_no: str) -> str:
    return f"{return_no}:refund"
