"""``IntegrationCore``: one process of the integration core, wiring its rooms (see core/service/__init__.py).

The facade holds what every room shares — settings, guards, counters, the order's records and transition
table (``_transition``), what a committed transaction's unit of work announces (``_after_commit``;
unit_of_work.py: every room's method that changes something takes that ``uow``) — and hands each public
method to the room that owns it: orders to Orders (orders.py), webhooks to Webhooks (webhooks.py: the
(source, topic) table), timers to Timers (timers.py: kind → handler), delivery to the Dispatcher
(dispatch.py, through the command registry of core/adapters) and what an accepted reply means to
ReplyEffects (reply_effects.py); stock to the Inventory, watchdogs to the Reconciliation, store pickups,
warehouse adjustments and parcels, the agent's timeline and actions, and return-to-refund to their rooms.
Each room sees the core through a typed protocol (core/service/hosts.py and its own module). The guards
the core runs with are one frozen ``Guards`` value chosen at assembly (core/guards.py).

Rules kept: no clock and no global random (``now`` and ``rng`` are parameters); downstream effects are
made idempotent (payment keys, ERP look-up before any re-create, warehouse reference ids, upserts). Every
store transaction is opened through ``_transaction(point)`` (transactions.py) and every reply hand-back
passes ``_crash_point(name)``: the named crash points (core/crash_points.py) where a host may kill the
process (``crash_hook``; None outside the simulation).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from retailsim.core.adapters import stripe
from retailsim.core.adapters.http import (
    OutboundRequest,
    Reply,
)
from retailsim.core.adapters.registry import CommandRegistry, build_registry
from retailsim.core.adapters.spec import (
    never_sent,
)
from retailsim.core.config import CLOUD_ERP, DESTINATIONS, INTERNAL, CoreConfig
from retailsim.core.crash_points import CrashHook
from retailsim.core.documents import DocKind
from retailsim.core.guards import Guards
from retailsim.core.models import Order
from retailsim.core.reliability.breaker import CircuitBreaker
from retailsim.core.reliability.ratelimit import TokenBucket
from retailsim.core.reliability.retry import RetryPolicy
from retailsim.core.service.additive_facts import AdditiveFacts
from retailsim.core.service.dispatch import Delivery, Dispatcher
from retailsim.core.service.intake import IdempotentRequests
from retailsim.core.service.inventory import Inventory
from retailsim.core.service.migration_job import MigrationJob
from retailsim.core.service.orders import Orders
from retailsim.core.service.pickups import Pickups
from retailsim.core.service.reconciliation import Reconciliation
from retailsim.core.service.replies import ApiReply
from retailsim.core.service.reply_effects import ReplyEffects
from retailsim.core.service.returns import Returns
from retailsim.core.service.service_desk import ServiceDesk
from retailsim.core.service.timers import Timers
from retailsim.core.service.transactions import Transactions
from retailsim.core.service.unit_of_work import UnitOfWork
from retailsim.core.service.webhooks import Webhooks, verdict
from retailsim.core.stores.base import (
    OutboxMessage,
    Store,
    Transaction,
)
from retailsim.core.workflows import order_to_cash as o2c
from retailsim.core.workflows import return_to_refund as r2r
from retailsim.core.workflows.order_to_cash import OrderEvent, OrderRecord
from retailsim.core.workflows.return_to_refund import ReturnRecord

__all__ = ["DESTINATIONS", "INTERNAL", "CoreConfig", "Delivery", "IntegrationCore"]


class IntegrationCore:
    """One process of the integration core over a durable ``Store``, with one set of ``Guards``.

    Its rooms are collaborators, not mixins: store transactions, idempotent requests, orders, webhooks,
    timers, delivery and reply effects, inventory, store pickups, additive facts, the service desk,
    returns and reconciliation (``transactions``, ``requests``, ``orders``, ``webhooks``, ``timers``,
    ``dispatch``, ``reply_effects``, ``inventory``, ``pickups``, ``additive``, ``service_desk``,
    ``returns``, ``reconciliation``).
    """

    def __init__(
        self,
        store: Store,
        config: CoreConfig | None = None,
        rng: random.Random | None = None,
        *,
        guards: Guards | None = None,
    ) -> None:
        self.store = store
        self.config = config or CoreConfig()
        self.rng = rng or random.Random(0)
        self.guards = guards or Guards()
        self.policy = o2c.Policy(
            backorder_grace_s=self.config.backorder_grace_s,
            shipment_watch_s=self.config.shipment_watch_s,
            delivery_watch_s=self.config.delivery_watch_s,
            dc_locations=tuple(self.config.locations),
        )
        self.counters: dict[str, int] = {}
        self._pending_counts = threading.local()
        # Observers (set by whoever hosts the core): wake a destination's workers; see a status change.
        self.on_append: Callable[[str], None] | None = None
        self.on_status: Callable[[str, str, float], None] | None = None
        self.on_return_status: Callable[[str, str, float], None] | None = None
        self.return_policy = r2r.ReturnPolicy(
            window_s=self.config.return_window_s, dc_locations=tuple(self.config.locations)
        )
        # Called at every crash point (core/crash_points.py) by whoever hosts the core to crash it there;
        # None in production and live mode.
        self.crash_hook: CrashHook | None = None
        # What each outbox command kind means (core/adapters): the ERP's from the configured dialect, and a
        # migration's cloud ERP's from its own.
        migration = self.config.migration
        cloud = (CLOUD_ERP, migration.cloud_dialect) if migration is not None else None
        commands = build_registry(self.config.erp_dialect, cloud=cloud)
        for kind in sorted(self.guards.silenced_commands):
            commands = commands.replaced(kind, render=never_sent)
        bulk = self.config.bulk_status
        self.transactions = Transactions(self, commands.latest_only(), commands.batched(), bulk.window_s)
        self.requests = IdempotentRequests(self)
        self.reconciliation = Reconciliation(self)
        self.inventory = Inventory(self)
        self.pickups = Pickups(self)
        self.additive = AdditiveFacts(self)
        self.service_desk = ServiceDesk(self)
        self.returns = Returns(self)
        self.orders = Orders(self)
        self.migration = MigrationJob(self)
        limits = sorted(self.config.rate_limits.items()) if self.guards.rate_limits else []
        self.dispatch = Dispatcher(
            self,
            commands,
            self.guards.retry_policy(self.config),
            {d: self.guards.breaker(self.config) for d in self.config.destinations()},
            {d: TokenBucket(rate, burst=max(1.0, rate)) for d, rate in limits},
        )
        self.webhooks = Webhooks(self)
        self.timers = Timers(self)
        self.reply_effects = ReplyEffects(self)

    webhook_verdict = staticmethod(verdict)

    # ---- helpers ----------------------------------------------------------------------------------

    def _transaction(self, point: str) -> AbstractContextManager[Transaction]:
        """A store transaction whose crash point ``point`` is passed just before its commit."""
        return self.transactions.open(point)

    def _crash_point(self, point: str) -> None:
        """Pass a crash point outside a transaction (a reply about to be handed back, a lease taken)."""
        self.transactions.crash_point(point)

    def _count(self, name: str, n: int = 1) -> None:
        pending: list[tuple[str, int]] | None = getattr(self._pending_counts, "names", None)
        if pending is not None:
            pending.append((name, n))  # inside a transaction: counted at its commit (``_counting``)
        else:
            self.counters[name] = self.counters.get(name, 0) + n

    def _after_commit(self, uow: UnitOfWork, now: float) -> None:
        if not (uow.woken or uow.transitions or uow.return_transitions):
            return  # most replies (a status synced, a fetch read) announce nothing
        if self.on_append is not None:
            for destination in sorted(uow.woken):
                self.on_append(destination)
        if self.on_status is not None:
            for order_no, status in uow.transitions:
                self.on_status(order_no, status, now)
        if self.on_return_status is not None:
            for return_no, status in uow.return_transitions:
                self.on_return_status(return_no, status, now)

    def already_accepted(self, tx: Transaction, order_no: str) -> OrderRecord | None:
        """Dedupe by order number: an order exported twice (under another key) is the same order."""
        return self.guards.order_numbers.already_accepted(tx, order_no)

    def take_order_number(self, tx: Transaction, order: Order, now: float) -> OrderRecord | None:
        """Save a new order's document; the rival's record if another process took the number meanwhile."""
        return self.guards.order_numbers.take(tx, order, now)

    def first_delivery(self, tx: Transaction, source: str, event_id: str, now: float) -> bool:
        """Inbox dedupe: record the event id; False when this event was processed before."""
        return self.guards.inbox(tx, source, event_id, now)

    def apply_event(
        self, record: OrderRecord, event: OrderEvent, now: float, facts: dict[str, Any] | None
    ) -> o2c.Outcome:
        """The order's transition table, stale events ignored (per-order sequencing)."""
        return self.guards.order_table(record, event, now, self.policy, facts)

    @staticmethod
    def _load_record(tx: Transaction, order_no: str) -> OrderRecord | None:
        return tx.load_model(DocKind.ORDER, order_no, OrderRecord)

    @staticmethod
    def _save_record(tx: Transaction, record: OrderRecord, now: float) -> None:
        tx.save_model(DocKind.ORDER, record.order_no, record, now)

    def _transition(
        self,
        tx: Transaction,
        record: OrderRecord,
        event: OrderEvent,
        now: float,
        uow: UnitOfWork,
        facts: dict[str, Any] | None = None,
    ) -> OrderRecord:
        outcome = self.apply_event(record, event, now, facts)
        if outcome.repeat:
            self._count("repeated_events")
            uow.note("ignored", f"order {record.order_no} is {record.status.value} already")
            return outcome.record
        if outcome.stale:
            self._count("stale_events")
            uow.note(
                "stale", f"order {record.order_no} is {record.status.value}, past {event.value}"
            )
            self._save_record(tx, outcome.record, now)
            return outcome.record
        new = outcome.record
        self.inventory.on_transition(tx, record, new, now, uow)
        self._save_record(tx, new, now)
        self.transactions.emit(tx, new, outcome.commands, now, uow.woken)
        status = new.status.value  # an enum's ``value`` is a property lookup: read once
        uow.transitions.append((new.order_no, status))
        uow.note("processed", f"order {new.order_no} {record.status.value} -> {status}")
        return new

    # ---- returns (core/service/returns.py) -----------------------------------------------------------

    def request_return(self, body: Any, idempotency_key: str | None, now: float) -> ApiReply:
        """The return API (storefront or service agent): the order API's idempotency rules."""
        return self.returns.request_return(body, idempotency_key, now)

    def return_record(self, return_no: str) -> ReturnRecord | None:
        return self.returns.return_record(return_no)

    def refund_idempotency_key(self, record: ReturnRecord) -> str | None:
        return self.returns.refund_idempotency_key(record)

    def restock_idempotency_key(self, record: ReturnRecord) -> str | None:
        return self.returns.restock_idempotency_key(record)

    # ---- the service agent (core/service/service_desk.py) -------------------------------------------

    def order_timeline(self, order_no: str) -> dict[str, Any] | None:
        """The order and every system's record of it, as one dated timeline (``GET /v1/orders/{id}``)."""
        return self.service_desk.order_timeline(order_no)

    def agent_action(self, order_no: str, body: Any, idempotency_key: str | None, now: float) -> ApiReply:
        """An agent's action on an order (``POST /v1/orders/{id}/actions``)."""
        return self.service_desk.agent_action(order_no, body, idempotency_key, now)

    # ---- inventory (core/service/inventory.py) ---------------------------------------------------

    def load_inventory(self, rows: list[tuple[str, str, int]], now: float) -> None:
        """Initial (or full) load of on-hand stock per (sku, location) from the ERP's snapshot."""
        self.inventory.load(rows, now)

    def available_to_promise(self, sku: str) -> dict[str, int]:
        return self.inventory.available_to_promise(sku)

    # ---- ingress: orders --------------------------------------------------------------------------

    def submit_order(self, body: Any, idempotency_key: str | None, now: float) -> ApiReply:
        """The storefront's order API. Accepted means durable: the order is committed before 202."""
        outcome = self.submit_orders([(body, idempotency_key, now)])[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def submit_orders(self, orders: Sequence[tuple[Any, str | None, float]]) -> list[ApiReply | Exception]:
        """Orders (body, Idempotency-Key, now) that arrived together, in one store transaction, each answered
        as ``submit_order`` answers it alone (core/service/orders.py)."""
        return self.orders.submit(orders)

    @contextmanager
    def _counting(self) -> Iterator[None]:
        """Counts made inside (in this thread) are kept only if the block completes: a transaction that
        rolls back counted nothing."""
        pending: list[tuple[str, int]] = []
        self._pending_counts.names = pending
        try:
            yield
        finally:
            self._pending_counts.names = None
        for name, n in pending:  # not reached when the block raised
            self.counters[name] = self.counters.get(name, 0) + n

    # ---- ingress: webhooks ------------------------------------------------------------------------

    def receive_webhook(self, source: str, event_id: str, topic: str, body: Any, now: float) -> ApiReply:
        """A warehouse, carrier or payment event. Duplicates are acknowledged and have no effect."""
        return self.webhooks.receive(source, event_id, topic, body, now)

    def handle_webhook(
        self,
        tx: Transaction,
        source: str,
        event_id: str,
        topic: str,
        body: Any,
        now: float,
        uow: UnitOfWork,
    ) -> bool:
        """Inbox first, then the effect, in the caller's transaction; True when it was a duplicate."""
        return self.webhooks.handle(tx, source, event_id, topic, body, now, uow)

    # ---- egress (core/service/dispatch.py) ----------------------------------------------------------

    @property
    def breakers(self) -> dict[str, CircuitBreaker]:
        return self.dispatch.breakers

    @property
    def buckets(self) -> dict[str, TokenBucket]:
        return self.dispatch.buckets

    @property
    def retry(self) -> RetryPolicy:
        return self.dispatch.retry

    @property
    def commands(self) -> CommandRegistry:
        return self.dispatch.commands

    def next_due_at(self, destination: str, now: float) -> float | None:
        """When ``claim`` could next hand out work for a destination (None: nothing is pending)."""
        return self.dispatch.next_due_at(destination, now)

    def nothing_to_claim(self, destination: str, now: float) -> bool:
        """True when ``claim`` now would return None and change nothing (a worker may park at once)."""
        return self.dispatch.nothing_to_claim(destination, now)

    def claim(self, destination: str, now: float) -> Delivery | None:
        """The next message to send to ``destination`` now, or None (nothing due, breaker open, throttled)."""
        return self.dispatch.claim(destination, now)

    def on_reply(self, delivery: Delivery, reply: Reply, now: float) -> OutboundRequest | None:
        """Judge a reply. Returns a follow-up request for the same command (ERP look-up miss → create)."""
        return self.dispatch.on_reply(delivery, reply, now)

    def erp_lookup_before_create(self, message: OutboxMessage) -> bool:
        """Look a document up in the ERP before creating it again: SAP has no duplicate check of its own."""
        return self.guards.erp_lookup_before_create and message.attempts > 1

    def sales_order_plant(self, record: OrderRecord) -> str:
        """The plant a sales order's items are delivered from. A backorder (an order confirmed to the
        customer without stock, ``short``) is booked without one: the ERP's availability check would
        otherwise confirm — and reserve — units the core has already promised to orders accepted before
        it but not yet posted, and those orders' goods issues would fall short of what the warehouse
        ships. (Backorders are never fulfilled today; they expire and are cancelled.)"""
        return "" if record.short else record.location

    def payment_idempotency_key(self, record: OrderRecord, command: str) -> str | None:
        return stripe.idempotency_key(record.order_no, command)

    # ---- internal timers (destination "core") -------------------------------------------------------

    def run_timers(self, now: float) -> int:
        """Fire every due internal timer (backorder expiry, batch inventory feed); the number fired."""
        return self.timers.run(now)

    # ---- reconciliation ---------------------------------------------------------------------------

    def reconcile_order(
        self, tx: Transaction, record: OrderRecord, timer: OutboxMessage, now: float, uow: UnitOfWork
    ) -> None:
        """A watchdog fired (core/service/reconciliation.py)."""
        self.reconciliation.reconcile_order(tx, record, timer, now, uow)

    # ---- after a crash ----------------------------------------------------------------------------

    def recover(self) -> int:
        """On start: in-flight leases of the previous process go back to pending. Returns how many."""
        return self.store.release_leases()

    # ---- operations -------------------------------------------------------------------------------

    def order_record(self, order_no: str) -> OrderRecord | None:
        with self._transaction("order_record.read") as tx:
            return self._load_record(tx, order_no)

    def replay_dead_letter(self, dlq_id: int, now: float) -> bool:
        message = self.store.replay_dead_letter(dlq_id, now)
        if message is None:
            return False
        self._count("dlq_replayed")
        if self.on_append is not None:
            self.on_append(message.destination)
        self._crash_point("dlq_replay.after_commit")
        return True

    def ops_summary(self) -> dict[str, Any]:
        stats = self.store.outbox_stats()
        dead = self.store.dead_letters()
        return {
            "outbox": {
                "pending": stats.pending,
                "in_flight": stats.in_flight,
                "by_destination": stats.by_destination,
            },
            "dlq": {
                "size": sum(1 for d in dead if d.status == "dead"),
                "replayed": sum(1 for d in dead if d.status == "replayed"),
            },
            "breakers": {d: b.state.value for d, b in self.breakers.items()},
            "counters": dict(sorted(self.counters.items())),
        }
