"""The open-order migration job: unshipped legacy orders moved to the cloud ERP exactly once.

A pass (``run_pass``, driven from outside on the job's schedule) picks up to ``job_batch`` legacy orders
that the legacy ERP holds and nobody has shipped (``MOVABLE``), in order-number order, and moves each in
one store transaction (crash point ``migration.move.before_commit``):

1. the job's durable state for the order is written (``DocKind.MIGRATION``: ``moving``, with the legacy
   document), the order's ERP of record becomes the cloud ERP and ``MigrateSalesOrder`` joins the cloud
   ERP's outbox lane of the order — ahead of any later command of the order there (a goods issue waits
   for the create);
2. the cloud's accepted reply (``ORDER_MIGRATED``, in the transaction that completes the message) records
   the cloud document on the order, marks the job ``created`` and queues ``RetireSalesOrder`` to the legacy
   ERP for the legacy document;
3. the legacy's accepted reply (``LEGACY_RETIRED``) marks the job ``retired``.

Why this order: the create goes first, so the order is never in neither ERP; it is idempotent in the cloud
(the dialect's own rule: NetSuite upserts by external id, SAP looks up before a re-create), so a lost
reply re-sent creates nothing twice; the retire is idempotent in the legacy ("already closed" is benign).
A crash before a commit loses the whole step, which the next pass (1) or the outbox (2, 3) does again;
after a commit the outbox holds the next step. The job never picks an order twice: the record's ERP and
the job's state are read in the move's own transaction (the guard ``migration_moves_once``).

Why the job waits for the legacy lane: a command already queued for the legacy ERP for the order (pending,
in flight, or parked awaiting its acknowledgement — sap_ecc's deferred replies) is rendered from the
order's record when it is sent; moved under it, it would be aimed at the cloud document in the legacy ERP
or cancel/re-plant a legacy document the cloud copy never hears of. So the move's transaction asks the
store whether the order's lane to the legacy ERP holds an unfinished message and, if it does, skips the
order in this pass (counted ``migration_waits``); a later pass, once the lane has drained, moves it (the
guard ``migration_waits_for_legacy_lane``). A skipped order still takes its place in the pass's batch.
The lane is read after the order's record, which the transaction holds (a row lock in PostgreSQL): a
command for the order is appended in a transaction that changes that record, so it is either seen here or
queued after the move, when the record already routes it to the cloud ERP.

Rules kept: every step is one store transaction with its crash point; no clock (``now`` passed in); the
candidates are sorted by order number, never a set's order; an order with unfinished legacy ERP work is
never moved (it waits for a later pass).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Literal, Protocol

from retailsim.core.adapters import migration as specs
from retailsim.core.adapters.registry import erp_dialect
from retailsim.core.adapters.spec import Answer
from retailsim.core.config import CLOUD_ERP
from retailsim.core.documents import DocKind
from retailsim.core.guards import Guards
from retailsim.core.service.erp_routing import LEGACY_ERP
from retailsim.core.service.hosts import OrderTableHost
from retailsim.core.service.unit_of_work import UnitOfWork
from retailsim.core.stores.base import NewMessage, Store, Transaction
from retailsim.core.workflows.order_to_cash import OrderStatus

# Orders the legacy ERP holds and nobody has shipped yet: what the job moves.
MOVABLE = frozenset({OrderStatus.POSTED_TO_ERP.value, OrderStatus.ALLOCATED.value})
# What one move did: moved it, left it for a later pass (its legacy ERP lane is not empty), or nothing to do.
Move = Literal["moved", "waits", "skipped"]
MOVED: Move = "moved"
WAITS: Move = "waits"
SKIPPED: Move = "skipped"


class MigrationHost(OrderTableHost, Protocol):
    """What the job needs: the store, its transactions and crash points, the guards, commit news."""

    @property
    def store(self) -> Store: ...

    @property
    def guards(self) -> Guards: ...

    @property
    def rng(self) -> random.Random: ...

    def _transaction(self, point: str) -> AbstractContextManager[Transaction]: ...

    def _crash_point(self, point: str) -> None: ...

    def _after_commit(self, uow: UnitOfWork, now: float) -> None: ...

    @property
    def on_append(self) -> Callable[[str], None] | None: ...


class MigrationJob:
    """The open-order migration job (see the module docstring)."""

    def __init__(self, host: MigrationHost) -> None:
        self.host = host

    def candidates(self) -> list[str]:
        """Orders the job would move now, by order number (the guard off: legacy or not)."""
        return self.candidates_in(self.host.store, anywhere=not self.host.guards.migration_moves_once)

    @staticmethod
    def candidates_in(store: Store, *, anywhere: bool = False) -> list[str]:
        """Legacy orders the job would move now (the migration backlog), by order number."""
        return sorted(
            order_no
            for order_no, record in store.aggregates(DocKind.ORDER)
            if str(record["status"]) in MOVABLE
            and record.get("erp_sales_order")
            and (anywhere or record.get("erp", LEGACY_ERP) == LEGACY_ERP)
        )

    def run_pass(self, now: float) -> int:
        """Move up to ``job_batch`` legacy orders; how many moved. Outside the job's window: none."""
        migration = self.host.config.migration
        if migration is None or not migration.job_start_at <= now < migration.job_end_at:
            return 0
        moved = 0
        for order_no in self.candidates()[: migration.job_batch]:
            uow = UnitOfWork()
            with self.host._transaction("migration.move.before_commit") as tx:
                move = self._move(tx, order_no, now, uow)
            done = int(move == MOVED)
            moved += done
            self.host._count("migration_moves", done)  # counted once committed: a death rolls it back
            if move == WAITS:
                self.host._count("migration_waits")
            self.host._after_commit(uow, now)
            self.host._crash_point("migration.move.after_commit")
        return moved

    def _move(self, tx: Transaction, order_no: str, now: float, uow: UnitOfWork) -> Move:
        """Move one order in ``tx``: ``MOVED``, ``WAITS`` (legacy ERP work unfinished) or ``SKIPPED``."""
        record = self.host._load_record(tx, order_no)
        if record is None or record.status.value not in MOVABLE or not record.erp_sales_order:
            return SKIPPED
        guards = self.host.guards
        if guards.migration_moves_once and (
            record.erp != LEGACY_ERP or tx.load(DocKind.MIGRATION, order_no) is not None
        ):
            return SKIPPED
        if guards.migration_waits_for_legacy_lane and tx.has_open_message(LEGACY_ERP, order_no):
            return WAITS
        job = {"state": "moving", "legacy_sales_order": record.erp_sales_order, "moved_at": now}
        tx.save(DocKind.MIGRATION, order_no, job, now)
        self.host._save_record(tx, record.model_copy(update={"erp": CLOUD_ERP}), now)
        tx.append(NewMessage(CLOUD_ERP, specs.MIGRATE, order_no, record.correlation_id, {}, now))
        uow.woken.add(CLOUD_ERP)
        uow.note("processed", f"order {order_no} moving to {CLOUD_ERP}")
        return MOVED

    def order_migrated(self, tx: Transaction, answer: Answer, uow: UnitOfWork) -> None:
        """The cloud ERP holds the order: keep its document, queue the legacy document's retirement."""
        migration = self.host.config.migration
        assert migration is not None, "a migration reply without a migration"
        record, now = answer.record, answer.now
        job = tx.load(DocKind.MIGRATION, record.order_no) or {}
        cloud_document = specs.created_sales_order(erp_dialect(migration.cloud_dialect), answer)
        self.host._save_record(tx, record.model_copy(update={"erp_sales_order": cloud_document}), now)
        tx.save(DocKind.MIGRATION, record.order_no, {**job, "state": "created", "cloud": cloud_document}, now)
        legacy_document = str(job.get("legacy_sales_order") or "")
        payload = {specs.LEGACY_DOCUMENT: legacy_document}
        tx.append(NewMessage(LEGACY_ERP, specs.RETIRE, record.order_no, record.correlation_id, payload, now))
        uow.woken.add(LEGACY_ERP)

    def legacy_retired(self, tx: Transaction, answer: Answer, uow: UnitOfWork) -> None:
        """The legacy ERP closed the order's document: the order's move is done."""
        order_no = answer.message.aggregate_id
        job = tx.load(DocKind.MIGRATION, order_no) or {}
        tx.save(DocKind.MIGRATION, order_no, {**job, "state": "retired"}, answer.now)
        self.host._count("migration_retired")
