"""Deliberately broken cores: each switches one guard off, to prove the harness catches its absence.

These are test doubles — subclasses that override one method — kept out of core/ so that the production
code path has no "broken" switches. ``retailsim run --core NAME`` and ``retailsim fuzz --core NAME`` run
them, so that a failure they cause can be replayed from the command line exactly as a test found it.

=================  ===================================================  ==========================================
name               guard switched off                                   caught by (scenario → invariant)
=================  ===================================================  ==========================================
no-dedupe          inbox and order-number dedupe                        duplicate-webhooks → no_duplicate_erp_orders
dedupe-without-    the source system in the inbox key (event ids of      warehouse-and-store-feeds → events_accounted
source             different systems collide: first deliveries dropped)  (and duplicate-webhooks)
inbox-after-       the inbox checked before the effect (a duplicate's    duplicate-webhooks → inventory_conserved
effect             effect commits though it is answered "duplicate")    (and warehouse-and-store-feeds)
no-erp-lookup      ERP look-up before re-creating a document            lost-erp-replies → no_duplicate_erp_orders
ack-before-commit  "accepted means durable" (202 before the commit)     core-crash → no_lost_orders
no-sequencing      stale events ignored (per-order sequencing)          duplicate-webhooks → per_order_ordering
no-reconciliation  watchdogs pulling the WMS and carrier                black-friday → reconciled_at_quiescence
no-refund-key      the refund's Idempotency-Key (``{return_no}:refund``)  omnichannel-returns → refund_exactly_once
no-restock         restocking returned goods (store adjustment, ERP GR)  omnichannel-returns → inventory_conserved
no-retry           retries (the first failure dead-letters the message)  erp-outage → no_lost_orders
no-breaker         the circuit breaker (a down ERP is hammered until the  erp-outage → no_lost_orders
                   messages' attempts run out and they dead-letter)
no-retry-cap       the retry budget (a message its system keeps failing   erp-bad-transport → dlq_accounted
                   is retried forever and never dead-letters)            (its retry-budget audit)
no-rate-limit      the token bucket per system (every due message calls  flash-sale → ``kpis.throttled_calls``
                   a throttled ERP at once; a 429 costs no attempt, so    (no invariant: nothing is lost, the
                   nothing is lost — the ERP is hammered)                 ERP's gateway refuses a flood)
no-correlation     the X-Correlation-ID header on outbound calls         baseline → correlation_complete
no-remedy-guard    an agent's action applied once (key, earlier remedy)  delayed-shipment-support → reconciled_at_quiescence
no-plant-change    the ERP's sales order follows a rerouted order        bopis-reroute → inventory_conserved
no-reroute         rerouting a pickup the store declined                 bopis-reroute → reconciled_at_quiescence
outbox-apart       the outbox appended in the transaction that changes   core-crash → no_lost_orders (and
                   the order (it commits the order, then appends its     ``fuzz --runs 20 --seed 1`` →
                   commands in a second transaction: a death between     reconciled_at_quiescence): its death at
                   the two leaves an order that nothing moves on)        ``order_intake.after_commit`` falls between
no-half-open       the breaker's half-open probe (once open, it stays     erp-outage → recovered_promptly (the stall
                   open: the recovered ERP is never called again)         watch stops the run early, naming erp)
=================  ===================================================  ==========================================
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from retailsim.core.adapters.http import OutboundRequest
from retailsim.core.adapters.spec import never_sent
from retailsim.core.crash_points import DESCRIPTIONS
from retailsim.core.models import Order
from retailsim.core.reliability.breaker import BreakerState, CircuitBreaker
from retailsim.core.reliability.retry import RetryPolicy
from retailsim.core.service import ApiReply, IntegrationCore
from retailsim.core.stores.base import NewMessage, OutboxMessage, Store, Transaction
from retailsim.core.workflows import order_to_cash as o2c
from retailsim.core.workflows.order_to_cash import OrderEvent, OrderRecord
from retailsim.core.workflows.return_to_refund import ReturnRecord


class NoDedupeCore(IntegrationCore):
    """Processes every delivery as new: no inbox, and an order exported twice is booked twice."""

    def first_delivery(self, tx: Transaction, source: str, event_id: str, now: float) -> bool:
        return True

    def already_accepted(self, tx: Transaction, order_no: str) -> OrderRecord | None:
        return None

    def take_order_number(self, tx: Transaction, order: Order, now: float) -> OrderRecord | None:
        tx.save_model("order_doc", order.order_no, order, now)
        return None


class DedupeWithoutSourceCore(IntegrationCore):
    """Keys its inbox by the event id alone: another system's event that happens to carry an id seen
    before is taken for a duplicate, acknowledged and dropped (reconciliation may repair the order later)."""

    def first_delivery(self, tx: Transaction, source: str, event_id: str, now: float) -> bool:
        return tx.add_inbox("webhooks", event_id, now)


class InboxAfterEffectCore(IntegrationCore):
    """Applies a webhook, then checks the inbox: a duplicate is answered "duplicate", but its effect is
    already in the transaction that commits — harmless for order states, which absorb a repeat; an
    additive fact (a warehouse adjustment) is applied twice."""

    def handle_webhook(
        self,
        tx: Transaction,
        source: str,
        event_id: str,
        topic: str,
        body: Any,
        now: float,
        woken: set[str],
        transitions: list[tuple[str, str]],
    ) -> bool:
        self._apply_webhook(tx, source, topic, body, now, woken, transitions)
        return not self.first_delivery(tx, source, event_id, now)


class NoErpLookupCore(IntegrationCore):
    """Re-posts a sales order after a timeout without asking the ERP whether the first one landed."""

    def erp_lookup_before_create(self, message: OutboxMessage) -> bool:
        return False


class AckBeforeCommitCore(IntegrationCore):
    """Answers 202 at once and commits orders in batches every 30 s: a crash loses what it acknowledged."""

    FLUSH_EVERY_S = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unsaved: list[tuple[Any, str, float]] = []

    def submit_order(self, body: Any, idempotency_key: str | None, now: float) -> ApiReply:
        if not idempotency_key:
            return super().submit_order(body, idempotency_key, now)
        self._flush(now)
        self._unsaved.append((body, idempotency_key, now))
        return ApiReply(
            202,
            {
                "order_id": str(body.get("orderNo")),
                "correlation_id": str(body.get("orderNo")),
                "status": "accepted",
            },
        )

    def _flush(self, now: float) -> None:
        if self._unsaved and now - self._unsaved[0][2] >= self.FLUSH_EVERY_S:
            pending, self._unsaved = self._unsaved, []
            for body, key, _ in pending:
                super().submit_order(body, key, now)

    def claim(self, destination: str, now: float) -> Any:
        self._flush(now)
        return super().claim(destination, now)


class NoSequencingCore(IntegrationCore):
    """Applies every event as it arrives, even one older than the order's state."""

    def apply_event(
        self, record: OrderRecord, event: OrderEvent, now: float, facts: dict[str, Any] | None
    ) -> o2c.Outcome:
        outcome = super().apply_event(record, event, now, facts)
        if not outcome.stale:
            return outcome
        target = o2c.EVENT_TARGET[event]
        forced = record.model_copy(update={"status": target, "status_seq": record.status_seq + 1})
        commands = o2c._status_commands(target, forced.status_seq)
        return o2c.Outcome(forced, tuple(commands))


class NoReconciliationCore(IntegrationCore):
    """Trusts webhooks to arrive: its watchdogs never ask the WMS or the carrier."""

    def reconcile_order(
        self, tx: Transaction, record: OrderRecord, timer: OutboxMessage, now: float, woken: set[str]
    ) -> None:
        return None


class NoRefundKeyCore(IntegrationCore):
    """Refunds without an Idempotency-Key: a refund whose reply was lost is refunded again on retry."""

    def refund_idempotency_key(self, record: ReturnRecord) -> str | None:
        return None


class NoRestockCore(IntegrationCore):
    """Decides "restock" for resellable returns but never tells the store or the ERP to put them back."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for kind in ("RestockReturnedGoods", "PostReturnGoodsReceipt"):
            self.commands = self.commands.replaced(kind, render=never_sent)


class NoRetryCore(IntegrationCore):
    """Gives up on the first failed delivery: the message goes straight to the dead-letter queue."""

    def __init__(self, store: Store, *args: Any, **kwargs: Any) -> None:
        super().__init__(store, *args, **kwargs)
        self.retry = RetryPolicy(self.retry.base_s, self.retry.cap_s, max_attempts=1)


class _Unbounded(RetryPolicy):
    def exhausted(self, attempts: int) -> bool:
        return False


class NoRetryCapCore(IntegrationCore):
    """Retries a failing message forever, as with ``max_attempts = 0`` read as "unlimited": its attempts
    never reach the cap, so a document the ERP keeps failing on never reaches the dead-letter queue."""

    def __init__(self, store: Store, *args: Any, **kwargs: Any) -> None:
        super().__init__(store, *args, **kwargs)
        self.retry = _Unbounded(self.retry.base_s, self.retry.cap_s, self.retry.max_attempts)


class _NeverOpens(CircuitBreaker):
    def record_failure(self, now: float) -> None:
        self.probe_in_flight = False


class NoBreakerCore(IntegrationCore):
    """Has no circuit breaker: every message keeps calling a system that is down until it dead-letters."""

    def __init__(self, store: Store, *args: Any, **kwargs: Any) -> None:
        super().__init__(store, *args, **kwargs)
        self.breakers = {destination: _NeverOpens() for destination in self.breakers}


class NoRateLimitCore(IntegrationCore):
    """Has no token buckets: it sends as fast as messages fall due and learns the limits from 429s."""

    def __init__(self, store: Store, *args: Any, **kwargs: Any) -> None:
        super().__init__(store, *args, **kwargs)
        self.buckets = {}


class NoCorrelationCore(IntegrationCore):
    """Sends its calls without the order's correlation id."""

    @staticmethod
    def _with_correlation(request: OutboundRequest, message: OutboxMessage) -> OutboundRequest:
        return request


class NoRemedyGuardCore(IntegrationCore):
    """Applies every agent action it is sent: no idempotency key, and no look at an earlier remedy —
    a console that re-sends a reship after a timeout ships a second replacement."""

    def allow_second_remedy(self) -> bool:
        return True

    def agent_action(self, order_no: str, body: Any, idempotency_key: str | None, now: float) -> ApiReply:
        return super().agent_action(order_no, body, f"{idempotency_key}:{now!r}", now)


class NoPlantChangeCore(IntegrationCore):
    """Reroutes pickups but leaves the ERP's sales order at the first plant: the ERP's book of the DC
    no longer issues what the warehouse ships."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = self.commands.replaced("ChangeSalesOrderPlant", render=never_sent)


class NoRerouteCore(IntegrationCore):
    """Takes note of a store's decline and does nothing more: the pickup order is left with nowhere to go."""

    def reroute(
        self,
        tx: Transaction,
        record: OrderRecord,
        counted: list[tuple[str, int]],
        now: float,
        woken: set[str],
        transitions: list[tuple[str, str]],
    ) -> None:
        self._count("pickups_declined_ignored")


class OutboxApartCore(IntegrationCore):
    """Commits an order's new state first and appends the commands it decided in a second transaction
    right after ("the outbox write is just a log"): a process death between the two commits leaves an
    order in its new state whose next step nobody will ever send."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._decided: list[NewMessage] = []

    def _emit(
        self,
        tx: Transaction,
        record: OrderRecord,
        commands: tuple[o2c.Command, ...] | list[o2c.Command],
        now: float,
        woken: set[str],
    ) -> None:
        stash = _StashingTransaction(self._decided)
        super()._emit(stash, record, commands, now, woken)  # type: ignore[arg-type]

    def _transaction(self, point: str) -> AbstractContextManager[Transaction]:
        return self._two_commits(point)

    @contextmanager
    def _two_commits(self, point: str) -> Iterator[Transaction]:
        self._decided = []
        try:
            with super()._transaction(point) as tx:
                yield tx
        finally:
            decided, self._decided = self._decided, []
        if not decided:
            return
        after = point.replace(".before_commit", ".after_commit")
        if after in DESCRIPTIONS:
            self._crash_point(after)  # the order's state is committed; its commands are not
        with super()._transaction(point) as tx:
            for message in decided:
                tx.append(message)


class _StashingTransaction:
    """Stands in for the transaction where ``_emit`` appends: keeps the messages for later."""

    def __init__(self, decided: list[NewMessage]) -> None:
        self._decided = decided

    def append(self, message: NewMessage) -> None:
        self._decided.append(message)
class _NeverHalfOpens(CircuitBreaker):
    def allow(self, now: float) -> bool:
        if self.state is BreakerState.OPEN:
            return False  # the open time passes, and no probe is ever let through
        return CircuitBreaker.allow(self, now)


class NoHalfOpenCore(IntegrationCore):
    """Its circuit breakers never half-open: a system that was down once is never called again."""

    def __init__(self, store: Store, *args: Any, **kwargs: Any) -> None:
        super().__init__(store, *args, **kwargs)
        self.breakers = {
            destination: _NeverHalfOpens(self.config.breaker_failures, self.config.breaker_open_s)
            for destination in self.breakers
        }


CORES: dict[str, type[IntegrationCore]] = {
    "real": IntegrationCore,
    "no-dedupe": NoDedupeCore,
    "dedupe-without-source": DedupeWithoutSourceCore,
    "inbox-after-effect": InboxAfterEffectCore,
    "no-erp-lookup": NoErpLookupCore,
    "ack-before-commit": AckBeforeCommitCore,
    "no-sequencing": NoSequencingCore,
    "no-reconciliation": NoReconciliationCore,
    "no-refund-key": NoRefundKeyCore,
    "no-restock": NoRestockCore,
    "no-retry": NoRetryCore,
    "no-breaker": NoBreakerCore,
    "no-retry-cap": NoRetryCapCore,
    "no-rate-limit": NoRateLimitCore,
    "no-correlation": NoCorrelationCore,
    "no-remedy-guard": NoRemedyGuardCore,
    "no-plant-change": NoPlantChangeCore,
    "no-reroute": NoRerouteCore,
    "outbox-apart": OutboxApartCore,
    "no-half-open": NoHalfOpenCore,
}
