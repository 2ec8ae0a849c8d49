"""Deliberately broken cores: each is the real core with one guard off or replaced, to prove the harness
catches its absence.

Each is assembled from :class:`~retailsim.core.guards.Guards` — the real core's guards with exactly one
field changed — never by overriding the core's methods; the broken strategies (an inbox that admits every
event, a breaker that never opens, …) live here, the real ones in core/. The one exception is
ack-before-commit, a host that answers before it calls the core: it wraps the public ``submit_order``.
``retailsim run --core NAME`` and ``retailsim fuzz --core NAME`` run them, so that a failure they cause
can be replayed from the command line exactly as a test found it.

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
migration-moves-   the migration job's check that an order is still a    cloud-erp-migration with a cloud ERP
twice              legacy one it has not moved (every pass moves the     without upsert (systems.erp_cloud.dialect
                   unshipped orders again, from wherever they are)       = "sap") → one_erp_of_record
returns-by-phase   a return's ERP commands follow its order's ERP of     cloud-erp-migration →
                   record (they go where the phase sends new orders)     return_credited_in_erp_of_record
migration-         the migration job's wait for an order's legacy ERP    cloud-erp-migration with a legacy command
ignores-legacy-    lane to drain (a queued plant change is sent after    queued before each pass (tests/sim/
lane               the move, aimed at the cloud document)                test_cloud_erp_migration.py) → one_erp_of_record
collection-trusts-  a collection's 200 read record by record (every      status pushes with Service Cloud or the
200                message of it is marked delivered, though its record  storefront failing some records (tests/sim/
                   says ``success: false`` — Service Cloud — or its      test_bulk_status.py, test_storefront_
                   subresponse's ``x-dw-status-code`` is an error —      batches.py) → reconciled_at_quiescence
                   the storefront's OCAPI batch)
=================  ===================================================  ==========================================
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from retailsim.core.config import CoreConfig
from retailsim.core.guards import Guards
from retailsim.core.models import Order
from retailsim.core.reliability.breaker import BreakerState, CircuitBreaker
from retailsim.core.reliability.retry import RetryPolicy
from retailsim.core.service import ApiReply, Delivery, IntegrationCore
from retailsim.core.stores.base import Store, Transaction
from retailsim.core.workflows import order_to_cash as o2c
from retailsim.core.workflows.order_to_cash import OrderEvent, OrderRecord

# How a run builds its core: (store, config, rng) → core.
CoreFactory = Callable[[Store, CoreConfig, random.Random], IntegrationCore]


def _admit_every_event(tx: Transaction, source: str, event_id: str, now: float) -> bool:
    """No inbox: every delivery is processed as new."""
    return True


def _inbox_without_source(tx: Transaction, source: str, event_id: str, now: float) -> bool:
    """Keyed by the event id alone: another system's event that happens to carry an id seen before is
    taken for a duplicate, acknowledged and dropped (reconciliation may repair the order later)."""
    return tx.add_inbox("webhooks", event_id, now)


class _BookEveryExport:
    """No order-number dedupe: an order exported twice is booked twice."""

    def already_accepted(self, tx: Transaction, order_no: str) -> OrderRecord | None:
        return None

    def take(self, tx: Transaction, order: Order, now: float) -> OrderRecord | None:
        tx.save_model("order_doc", order.order_no, order, now)
        return None


def _out_of_order_table(
    record: OrderRecord, event: OrderEvent, now: float, policy: o2c.Policy, facts: dict[str, Any] | None
) -> o2c.Outcome:
    """No per-order sequencing: an event older than the order's state is applied anyway."""
    outcome = o2c.apply(record, event, now, policy, facts)
    if not outcome.stale:
        return outcome
    target = o2c.EVENT_TARGET[event]
    forced = record.model_copy(update={"status": target, "status_seq": record.status_seq + 1})
    commands = o2c._status_commands(target, forced.status_seq)
    return o2c.Outcome(forced, tuple(commands))


class _Unbounded(RetryPolicy):
    """Retries forever, as with ``max_attempts = 0`` read as "unlimited"."""

    def exhausted(self, attempts: int) -> bool:
        return False


class _NeverOpens(CircuitBreaker):
    def record_failure(self, now: float) -> None:
        self.probe_in_flight = False


class _NeverHalfOpens(CircuitBreaker):
    def allow(self, now: float) -> bool:
        if self.state is BreakerState.OPEN:
            return False  # the open time passes, and no probe is ever let through
        return CircuitBreaker.allow(self, now)


def with_guards(guards: Guards) -> CoreFactory:
    """The real core assembled with ``guards``."""

    def build(
        store: Store, config: CoreConfig | None = None, rng: random.Random | None = None
    ) -> IntegrationCore:
        return IntegrationCore(store, config, rng, guards=guards)

    return build


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

    def claim(self, destination: str, now: float) -> Delivery | None:
        self._flush(now)
        return super().claim(destination, now)


CORES: dict[str, CoreFactory] = {
    "real": IntegrationCore,
    "no-dedupe": with_guards(Guards(inbox=_admit_every_event, order_numbers=_BookEveryExport())),
    "dedupe-without-source": with_guards(Guards(inbox=_inbox_without_source)),
    "inbox-after-effect": with_guards(Guards(inbox_before_effect=False)),
    "no-erp-lookup": with_guards(Guards(erp_lookup_before_create=False)),
    "ack-before-commit": AckBeforeCommitCore,
    "no-sequencing": with_guards(Guards(order_table=_out_of_order_table)),
    "no-reconciliation": with_guards(Guards(reconciliation=False)),
    "no-refund-key": with_guards(Guards(refund_key=False)),
    "no-restock": with_guards(
        Guards(silenced_commands=frozenset({"RestockReturnedGoods", "PostReturnGoodsReceipt"}))
    ),
    "no-retry": with_guards(
        Guards(
            retry_policy=lambda config: RetryPolicy(config.retry_base_s, config.retry_cap_s, max_attempts=1)
        )
    ),
    "no-breaker": with_guards(Guards(breaker=lambda config: _NeverOpens())),
    "no-retry-cap": with_guards(
        Guards(
            retry_policy=lambda config: _Unbounded(
                config.retry_base_s, config.retry_cap_s, config.retry_max_attempts
            )
        )
    ),
    "no-rate-limit": with_guards(Guards(rate_limits=False)),
    "no-correlation": with_guards(Guards(correlation_id=False)),
    "no-remedy-guard": with_guards(Guards(remedy_guard=False)),
    "no-plant-change": with_guards(Guards(silenced_commands=frozenset({"ChangeSalesOrderPlant"}))),
    "no-reroute": with_guards(Guards(reroute=False)),
    "outbox-apart": with_guards(Guards(outbox_in_transaction=False)),
    "no-half-open": with_guards(
        Guards(breaker=lambda config: _NeverHalfOpens(config.breaker_failures, config.breaker_open_s))
    ),
    "migration-moves-twice": with_guards(Guards(migration_moves_once=False)),
    "migration-ignores-legacy-lane": with_guards(Guards(migration_waits_for_legacy_lane=False)),
    "returns-by-phase": with_guards(Guards(returns_follow_order=False)),
    "collection-trusts-200": with_guards(Guards(collection_records_judged=False)),
}
