"""The core's guards, chosen at assembly: one frozen :class:`Guards` value the core reads at each guard point.

The real core runs with ``Guards()``: every guard on, every strategy the production one. Each field is one
guard of the invariant catalogue (DESIGN.md) — inbox dedupe keyed by (source, event id), the inbox checked
before the effect, order-number dedupe, per-order sequencing, ERP look-up before a re-create, idempotency
keys on refunds, reconciliation watchdogs, the outbox in the transaction that changes the aggregate, retry
policy, circuit breaker, token buckets, correlation ids, the remedy guard, reroutes and the commands that
keep stock and the ERP honest (restocks, plant changes). sim/broken_cores.py builds each deliberately
broken core as the real core with exactly one field replaced, to prove the harness sees the guard missing.

Rules kept: the guards are fixed for the life of a core (frozen; no switch at run time); a strategy
field's default is the production behaviour and lives here or in core/reliability, never in sim/.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from retailsim.core.config import CoreConfig
from retailsim.core.documents import DocKind
from retailsim.core.models import Order
from retailsim.core.reliability.breaker import CircuitBreaker
from retailsim.core.reliability.retry import RetryPolicy
from retailsim.core.stores.base import ConcurrencyConflict, Transaction
from retailsim.core.workflows import order_to_cash as o2c
from retailsim.core.workflows.order_to_cash import OrderRecord

# Record an event id in the inbox; False when the event was processed before (tx, source, event id, now).
Inbox = Callable[[Transaction, str, str, float], bool]
# The order's transition table (record, event, now, policy, facts).
OrderTable = Callable[[OrderRecord, o2c.OrderEvent, float, o2c.Policy, dict[str, Any] | None], o2c.Outcome]


def inbox_by_source(tx: Transaction, source: str, event_id: str, now: float) -> bool:
    """Inbox dedupe keyed by (source, event id): two systems' events never collide."""
    return tx.add_inbox(source, event_id, now)


class OrderNumbers(Protocol):
    """Dedupe by order number: an order exported twice (under another key) is the same order."""

    def already_accepted(self, tx: Transaction, order_no: str) -> OrderRecord | None: ...

    def take(self, tx: Transaction, order: Order, now: float) -> OrderRecord | None: ...


@dataclass(frozen=True, slots=True)
class UniqueOrderNumbers:
    """The order number is the order's identity: its document is saved insert-only."""

    def already_accepted(self, tx: Transaction, order_no: str) -> OrderRecord | None:
        return tx.load_model(DocKind.ORDER, order_no, OrderRecord)

    def take(self, tx: Transaction, order: Order, now: float) -> OrderRecord | None:
        """Save a new order's document insert-only; the rival's record if another process took the number
        meanwhile. A row that does not exist cannot be locked, so two workers may both find an order
        number free (the same export under two keys at once): the store's unique key decides."""
        try:
            tx.save_model(DocKind.ORDER_DOC, order.order_no, order, now, create=True)
        except ConcurrencyConflict:
            rival = self.already_accepted(tx, order.order_no)
            if rival is None:
                raise
            return rival
        return None


def capped_retries(config: CoreConfig) -> RetryPolicy:
    return RetryPolicy(config.retry_base_s, config.retry_cap_s, config.retry_max_attempts)


def half_opening_breaker(config: CoreConfig) -> CircuitBreaker:
    return CircuitBreaker(config.breaker_failures, config.breaker_open_s)


@dataclass(frozen=True, slots=True)
class Guards:
    """The guards one core runs with (see the module docstring); ``Guards()`` is the real core's."""

    inbox: Inbox = inbox_by_source
    inbox_before_effect: bool = True
    order_numbers: OrderNumbers = field(default_factory=UniqueOrderNumbers)
    order_table: OrderTable = o2c.apply  # per-order sequencing: a stale event changes nothing
    erp_lookup_before_create: bool = True
    refund_key: bool = True
    reconciliation: bool = True
    outbox_in_transaction: bool = True
    retry_policy: Callable[[CoreConfig], RetryPolicy] = capped_retries
    breaker: Callable[[CoreConfig], CircuitBreaker] = half_opening_breaker
    rate_limits: bool = True
    correlation_id: bool = True
    remedy_guard: bool = True
    reroute: bool = True
    # ERP migration (core/service/migration_job.py, erp_routing.py): the job moves an order once, and only
    # once its legacy ERP lane is empty; a return's ERP commands go to its order's ERP of record.
    migration_moves_once: bool = True
    migration_waits_for_legacy_lane: bool = True
    returns_follow_order: bool = True
    # A collection's 200 is judged record by record (a record the system refused is not delivered).
    collection_records_judged: bool = True
    # Command kinds the core decides but never sends (completed as superseded): none in the real core.
    silenced_commands: frozenset[str] = frozenset()
