"""Internal timers (the outbox's destination ``core``): messages the core sends itself, fired when due.

``run`` claims every due timer and fires each in a store transaction of its own, which also completes
it: the batch inventory feed's turn, a backorder's expiry, the watchdogs of reconciliation (``WATCHES``),
the warehouse adjustment watch, an exchange's replacement order. A kind → handler table says which; a
kind no handler takes is completed and does nothing.

Rules kept: a timer fires at most once per commit (a death before the commit leaves it to fire again
after its lease); what a fired timer changed is announced only after its commit; every transaction passes
its crash point (``timers.before_commit``) and the claim and the commit pass theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from retailsim.core.config import INTERNAL
from retailsim.core.service.additive_facts import AdditiveFacts
from retailsim.core.service.hosts import OrderTableHost
from retailsim.core.service.reconciliation import WATCHES, Reconciliation
from retailsim.core.service.returns import Returns
from retailsim.core.service.unit_of_work import UnitOfWork
from retailsim.core.stores.base import NewMessage, OutboxMessage, Store, Transaction
from retailsim.core.workflows.order_to_cash import OrderEvent

# A timer's handler: (tx, timer, now, uow).
Handler = Callable[[Transaction, OutboxMessage, float, UnitOfWork], None]


class TimerHost(OrderTableHost, Protocol):
    """What the timers need from the rest of the core: its store, transactions and crash points, what it
    announces after a commit, and the rooms whose timers these are."""

    @property
    def store(self) -> Store: ...

    @property
    def reconciliation(self) -> Reconciliation: ...

    @property
    def additive(self) -> AdditiveFacts: ...

    @property
    def returns(self) -> Returns: ...

    def _transaction(self, point: str) -> AbstractContextManager[Transaction]: ...

    def _crash_point(self, point: str) -> None: ...

    def _after_commit(self, uow: UnitOfWork, now: float) -> None: ...


class Timers:
    """The core's own timers by kind (see the module docstring)."""

    def __init__(self, host: TimerHost) -> None:
        self.host = host
        additive, returns = host.additive, host.returns
        self._by_kind: dict[str, Handler] = {
            "PublishInventoryFeed": self._publish_inventory_feed,
            "ExpireBackorder": self._expire_backorder,
            **{kind: self._watchdog for kind in WATCHES},
            "WatchAdjustments": lambda tx, timer, now, uow: additive.watch_adjustments(tx, now, uow),
            "CreateExchangeOrder": lambda tx, timer, now, uow: returns.create_exchange_order(
                tx, timer.aggregate_id, now, uow
            ),
        }

    def run(self, now: float) -> int:
        """Fire every due internal timer; the number fired."""
        host = self.host
        fired = 0
        while True:
            message = host.store.claim_next(INTERNAL, now, host.config.lease_s)
            if message is None:
                return fired
            fired += 1
            host._crash_point("timers.claimed")
            uow = UnitOfWork()
            with host._transaction("timers.before_commit") as tx:
                handler = self._by_kind.get(message.kind)
                if handler is not None:
                    handler(tx, message, now, uow)
                tx.complete(message.seq)
            host._after_commit(uow, now)
            host._crash_point("timers.after_commit")

    def _publish_inventory_feed(
        self, tx: Transaction, timer: OutboxMessage, now: float, uow: UnitOfWork
    ) -> None:
        """The batch inventory feed's turn: send it, and arm the next one."""
        tx.append(NewMessage("storefront", "InventoryFeed", "inventory", "inventory", {}, now))
        next_turn = now + self.host.config.feed_interval_s
        tx.append(NewMessage(INTERNAL, "PublishInventoryFeed", "inventory", "inventory", {}, next_turn))
        uow.woken.update(("storefront", INTERNAL))

    def _expire_backorder(
        self,
        tx: Transaction,
        timer: OutboxMessage,
        now: float,
        uow: UnitOfWork,
    ) -> None:
        record = self.host._load_record(tx, timer.aggregate_id)
        if record is not None:
            self.host._transition(tx, record, OrderEvent.BACKORDER_EXPIRED, now, uow)

    def _watchdog(self, tx: Transaction, timer: OutboxMessage, now: float, uow: UnitOfWork) -> None:
        record = self.host._load_record(tx, timer.aggregate_id)
        if record is not None:
            self.host.reconciliation.reconcile_order(tx, record, timer, now, uow)
