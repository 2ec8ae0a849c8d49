"""``IntegrationCore``: one process of the integration core, wiring its rooms (see core/service/__init__.py).

Ingress (``submit_order``, ``receive_webhook``) runs each message in one store transaction: idempotency or
inbox check, load, pure transition, save, outbox append — all or nothing (intake.py: the idempotency
key's in-flight claim and its stored reply are in that same transaction). Orders that arrive together
may share one transaction (``submit_orders``), each answered as alone; what a transaction announces
afterwards is its unit of work (unit_of_work.py). Webhooks are routed by a (source, topic) table; internal timers by a
kind → handler table. Delivery (``claim``, ``on_reply``) is the Dispatcher's (dispatch.py, through the
command registry of core/adapters); stock is the Inventory's (inventory.py); watchdogs the
Reconciliation's (reconciliation.py); store pickups the Pickups' (pickups.py); warehouse adjustments
and parcels the AdditiveFacts' (additive_facts.py); the agent's timeline and actions the ServiceDesk's
(service_desk.py); return-to-refund the Returns' (returns.py). Each collaborator sees the core through a
typed protocol (core/service/hosts.py and its own module). The guards the core runs with are one frozen
``Guards`` value chosen at assembly (core/guards.py).

Rules kept: no clock and no global random (``now`` and ``rng`` are parameters); downstream effects are
made idempotent (payment keys, ERP look-up before any re-create, warehouse reference ids, upserts). Every
store transaction is opened through ``_transaction(point)`` and every reply hand-back passes
``_crash_point(name)``: the named crash points (core/crash_points.py) where a host may kill the process
(``crash_hook``; None outside the simulation).
"""

from __future__ import annotations

import functools
import json
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any

from pydantic import BaseModel, ValidationError

from retailsim.core.adapters import sfcc, stripe
from retailsim.core.adapters.http import (
    OutboundRequest,
    Reply,
)
from retailsim.core.adapters.registry import CommandRegistry, build_registry
from retailsim.core.adapters.spec import (
    never_sent,
)
from retailsim.core.config import DESTINATIONS, INTERNAL, CoreConfig
from retailsim.core.crash_points import DESCRIPTIONS, CrashHook
from retailsim.core.documents import DocKind
from retailsim.core.errors import InvalidPayload
from retailsim.core.guards import Guards
from retailsim.core.models import Order
from retailsim.core.reliability.breaker import CircuitBreaker
from retailsim.core.reliability.idempotency import fingerprint
from retailsim.core.reliability.ratelimit import TokenBucket
from retailsim.core.reliability.retry import RetryPolicy
from retailsim.core.service.additive_facts import AdditiveFacts
from retailsim.core.service.dispatch import Delivery, Dispatcher
from retailsim.core.service.intake import Act, IdempotentRequests, Job, once_points
from retailsim.core.service.inventory import Inventory
from retailsim.core.service.pickups import Pickups
from retailsim.core.service.reconciliation import Reconciliation
from retailsim.core.service.replies import ApiReply, in_flight, missing_key
from retailsim.core.service.reply_effects import ReplyEffects
from retailsim.core.service.returns import Returns
from retailsim.core.service.service_desk import ServiceDesk
from retailsim.core.service.timers import Timers
from retailsim.core.service.unit_of_work import UnitOfWork
from retailsim.core.service.webhooks import Webhooks, verdict
from retailsim.core.stores.base import (
    NewMessage,
    OutboxMessage,
    Store,
    Transaction,
)
from retailsim.core.workflows import order_to_cash as o2c
from retailsim.core.workflows import return_to_refund as r2r
from retailsim.core.workflows.order_to_cash import Command, OrderEvent, OrderRecord, OrderStatus
from retailsim.core.workflows.return_to_refund import ReturnRecord

__all__ = ["DESTINATIONS", "INTERNAL", "CoreConfig", "Delivery", "IntegrationCore"]


class _CrashPointTransaction:
    """A store transaction that passes its crash point after its body and before its commit: a hook
    that raises there (a process death) rolls the transaction back, as a death before the commit would."""

    __slots__ = ("_hook", "_inner", "_point")

    def __init__(self, inner: AbstractContextManager[Transaction], hook: CrashHook, point: str) -> None:
        self._inner, self._hook, self._point = inner, hook, point

    def __enter__(self) -> Transaction:
        return self._inner.__enter__()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> bool | None:
        if kind is None:
            try:
                self._hook(self._point)
            except BaseException as death:
                self._inner.__exit__(type(death), death, death.__traceback__)
                raise
        return self._inner.__exit__(kind, error, trace)


class IntegrationCore:
    """One process of the integration core over a durable ``Store``, with one set of ``Guards``.

    Its rooms are collaborators, not mixins: idempotent requests, delivery, inventory, store pickups,
    additive facts, the service desk, returns and reconciliation (``requests``, ``dispatch``,
    ``inventory``, ``pickups``, ``additive``, ``service_desk``, ``returns``, ``reconciliation``).
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
        # Return status changes noted inside a transaction, announced after its commit. Per thread: the
        # live API runs ingress on several threads at once, and one request's notes are not another's.
        self._noted = threading.local()
        self.return_policy = r2r.ReturnPolicy(
            window_s=self.config.return_window_s, dc_locations=tuple(self.config.locations)
        )
        # Called at every crash point (core/crash_points.py) by whoever hosts the core to crash it there;
        # None in production and live mode.
        self.crash_hook: CrashHook | None = None
        self.requests = IdempotentRequests(self)
        self.reconciliation = Reconciliation(self)
        self.inventory = Inventory(self)
        self.pickups = Pickups(self)
        self.additive = AdditiveFacts(self)
        self.service_desk = ServiceDesk(self)
        self.returns = Returns(self)
        # What each outbox command kind means (core/adapters): the ERP's from the configured dialect.
        commands = build_registry(self.config.erp_dialect)
        for kind in sorted(self.guards.silenced_commands):
            commands = commands.replaced(kind, render=never_sent)
        limits = sorted(self.config.rate_limits.items()) if self.guards.rate_limits else []
        self.dispatch = Dispatcher(
            self,
            commands,
            self.guards.retry_policy(self.config),
            {d: self.guards.breaker(self.config) for d in DESTINATIONS},
            {d: TokenBucket(rate, burst=max(1.0, rate)) for d, rate in limits},
        )
        # Commands decided in a transaction, appended in one of their own (only with the guard
        # ``outbox_in_transaction`` off: see ``_outbox_apart``).
        self._decided: list[NewMessage] = []
        self.webhooks = Webhooks(self)
        self.timers = Timers(self)
        self.reply_effects = ReplyEffects(self)

    @property
    def _return_transitions(self) -> list[tuple[str, str]]:
        noted: list[tuple[str, str]] | None = getattr(self._noted, "returns", None)
        if noted is None:
            noted = self._noted.returns = []
        return noted

    @_return_transitions.setter
    def _return_transitions(self, value: list[tuple[str, str]]) -> None:
        self._noted.returns = value

    def _note_webhook(self, status: str, reason: str) -> None:
        """What the webhook being applied (in this thread) turned out to be (core/service/webhooks.py)."""
        self.webhooks.note(status, reason)

    webhook_verdict = staticmethod(verdict)

    # ---- helpers ----------------------------------------------------------------------------------

    def _transaction(self, point: str) -> AbstractContextManager[Transaction]:
        """A store transaction whose crash point ``point`` is passed just before its commit."""
        if not self.guards.outbox_in_transaction:
            return self._outbox_apart(point)
        return self._one_transaction(point)

    def _one_transaction(self, point: str) -> AbstractContextManager[Transaction]:
        hook = self.crash_hook
        if hook is None:
            return self.store.transaction()
        return _CrashPointTransaction(self.store.transaction(), hook, point)

    @contextmanager
    def _outbox_apart(self, point: str) -> Iterator[Transaction]:
        """The guard ``outbox_in_transaction`` off: the aggregate's new state commits first and the commands
        it decided are appended in a second transaction ("the outbox write is just a log") — a death between
        the two commits leaves an aggregate whose next step nobody will ever send."""
        self._decided = []
        try:
            with self._one_transaction(point) as tx:
                yield tx
        finally:
            decided, self._decided = self._decided, []
        if not decided:
            return
        after = point.replace(".before_commit", ".after_commit")
        if after in DESCRIPTIONS:
            self._crash_point(after)  # the state is committed; its commands are not
        with self._one_transaction(point) as tx:
            for message in decided:
                tx.append(message)

    def _crash_point(self, point: str) -> None:
        """Pass a crash point outside a transaction (a reply about to be handed back, a lease taken)."""
        hook = self.crash_hook
        if hook is not None:
            hook(point)

    def _count(self, name: str, n: int = 1) -> None:
        pending: list[tuple[str, int]] | None = getattr(self._pending_counts, "names", None)
        if pending is not None:
            pending.append((name, n))  # inside a transaction: counted at its commit (``_counting``)
        else:
            self.counters[name] = self.counters.get(name, 0) + n

    def _emit(
        self,
        tx: Transaction,
        record: OrderRecord,
        commands: tuple[Command, ...] | list[Command],
        now: float,
        woken: set[str],
    ) -> None:
        outbox: Transaction | list[NewMessage] = tx if self.guards.outbox_in_transaction else self._decided
        for command in commands:
            outbox.append(
                NewMessage(
                    destination=command.destination,
                    kind=command.kind,
                    aggregate_id=record.order_no,
                    correlation_id=record.correlation_id,
                    payload=command.payload,
                    available_at=now + command.delay_s,
                )
            )
            woken.add(command.destination)

    def _after_commit(self, woken: set[str], transitions: list[tuple[str, str]], now: float) -> None:
        if self.on_append is not None:
            for destination in sorted(woken):
                self.on_append(destination)
        if self.on_status is not None:
            for order_no, status in transitions:
                self.on_status(order_no, status, now)

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
        woken: set[str],
        transitions: list[tuple[str, str]],
        facts: dict[str, Any] | None = None,
    ) -> OrderRecord:
        outcome = self.apply_event(record, event, now, facts)
        if outcome.repeat:
            self._count("repeated_events")
            self._note_webhook("ignored", f"order {record.order_no} is {record.status.value} already")
            return outcome.record
        if outcome.stale:
            self._count("stale_events")
            self._note_webhook(
                "stale", f"order {record.order_no} is {record.status.value}, past {event.value}"
            )
            self._save_record(tx, outcome.record, now)
            return outcome.record
        new = outcome.record
        self.inventory.on_transition(tx, record, new, now, woken)
        self._save_record(tx, new, now)
        self._emit(tx, new, outcome.commands, now, woken)
        transitions.append((new.order_no, new.status.value))
        self._note_webhook("processed", f"order {new.order_no} {record.status.value} -> {new.status.value}")
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

    def _flush_return_statuses(self, now: float) -> None:
        self.returns.flush_statuses(now)

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
        """Orders (body, Idempotency-Key, now) that arrived together, in one store transaction — one commit
        for all — each answered as ``submit_order`` answers it alone, in the order given (a later order sees
        what an earlier one reserved; a key twice in one call is in flight the second time). Should the
        transaction fail, each order runs again in a transaction of its own, so a bad order costs the others
        nothing but the retry; its outcome is the exception it raised."""
        committed = UnitOfWork()
        outcomes: list[ApiReply | Exception] = []
        jobs: list[Job] = []
        for body, key, now in orders:
            if not key:
                outcomes.append(missing_key())
                continue
            try:
                order = sfcc.order_from_scapi(body)
            except InvalidPayload as exc:
                act: Act = ApiReply(422, {"error": "invalid_order", "detail": str(exc), "errors": exc.errors})
            else:
                act = functools.partial(self._accept_order, order=order, now=now)
            job = Job("orders", key, fingerprint(body), now, act, len(outcomes))
            early = self.requests.claim(job)
            if early is None:
                jobs.append(job)
                early = in_flight()  # a placeholder until the job has run
            outcomes.append(early)
        try:
            self.requests.run_together(jobs, outcomes, committed)
        finally:
            self.requests.release(jobs)
        if orders:
            self._after_commit(committed.woken, committed.transitions, max(now for _, _, now in orders))
        if jobs:
            self._crash_point("order_intake.after_commit")
        return outcomes

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

    def _run_idempotent(
        self,
        scope: str,
        key: str | None,
        fingerprinted: Any,
        now: float,
        model: type[BaseModel],
        body: Any,
        work: Callable[[Transaction, Any, set[str], list[tuple[str, str]]], ApiReply],
        invalid_error: str = "invalid_request",
    ) -> ApiReply:
        """The order API's idempotency rules (``once``) around ``work`` (returns, agent actions).

        No key → 400; a body ``model`` refuses → 422 with field errors; then ``work`` runs once per key in
        one transaction with the validated request. A refusal from ``work`` (4xx, which must have changed
        nothing) is not stored, so a corrected retry may use the key.
        """
        if not key:
            return missing_key()
        try:
            # Strict, as JSON (arrays for tuples): what the published schema says, no coercion of 0 to false.
            request = model.model_validate_json(json.dumps(body), strict=True)
        except ValidationError as exc:
            refused = ApiReply(
                422,
                {
                    "error": invalid_error,
                    "detail": f"invalid {scope} request",
                    "errors": sfcc.field_errors(exc),
                },
            )
            return self.requests.once(scope, key, fingerprinted, now, refused)
        self._return_transitions = []
        committed = UnitOfWork()
        reply = self.requests.once(
            scope,
            key,
            fingerprinted,
            now,
            lambda tx, uow: work(tx, request, uow.woken, uow.transitions),
            committed,
        )
        self._after_commit(committed.woken, committed.transitions, now)
        self._flush_return_statuses(now)
        self._crash_point(once_points(scope)[1])
        return reply

    def _accept_order(self, tx: Transaction, work: UnitOfWork, *, order: Order, now: float) -> ApiReply:
        woken, transitions = work.woken, work.transitions
        existing = self.already_accepted(tx, order.order_no) or self.take_order_number(tx, order, now)
        if existing is not None:
            # The same order exported again under another key: at-least-once export, no new effect.
            self._count("duplicate_orders")
            return ApiReply(
                200,
                {
                    "order_id": existing.order_no,
                    "correlation_id": existing.correlation_id,
                    "status": existing.status.value,
                    "duplicate": True,
                },
            )
        record = OrderRecord(
            order_no=order.order_no,
            correlation_id=order.order_no,
            confirmed_to_customer=order.confirmed_to_customer,
            lines=[(line.sku, line.quantity) for line in order.lines],
            total_minor=order.total_minor,
            currency=order.currency,
            payment_ref=order.payment.reference if order.payment else None,
            accepted_at=now,
            history=[(now, OrderStatus.RECEIVED.value, "OrderReceived")],
        )
        if order.pickup_store:
            routed = self.pickups.route_new(tx, order, now)
            location = routed["location"] or None
            record = record.model_copy(update=routed)
        else:
            location = self.inventory.reserve_order(tx, order)
        if location is not None:
            record = record.model_copy(update={"location": location, "reserved": True})
            event = OrderEvent.STOCK_RESERVED
            for sku, _ in record.lines:
                self.inventory.schedule_publication(tx, sku, now, woken)
        elif order.confirmed_to_customer:
            record = record.model_copy(update={"location": self.config.locations[0], "short": True})
            event = OrderEvent.STOCK_SHORT
        else:
            event = OrderEvent.STOCK_UNAVAILABLE
        record = self._transition(tx, record, event, now, woken, transitions)
        if record.status is OrderStatus.REJECTED:
            self._count("rejected")
            return ApiReply(
                200,
                {
                    "order_id": record.order_no,
                    "correlation_id": record.correlation_id,
                    "status": "rejected",
                    "reason": "insufficient_stock",
                },
            )
        self._count("accepted")
        return ApiReply(
            202, {"order_id": record.order_no, "correlation_id": record.correlation_id, "status": "accepted"}
        )

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
        woken: set[str],
        transitions: list[tuple[str, str]],
    ) -> bool:
        """Inbox first, then the effect, in the caller's transaction; True when it was a duplicate."""
        return self.webhooks.handle(tx, source, event_id, topic, body, now, woken, transitions)

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
        self, tx: Transaction, record: OrderRecord, timer: OutboxMessage, now: float, woken: set[str]
    ) -> None:
        """A watchdog fired (core/service/reconciliation.py)."""
        self.reconciliation.reconcile_order(tx, record, timer, now, woken)

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
