"""What an accepted reply means for the core's records, as the command's spec (core/adapters) says.

``apply`` loads the spec's subject (the order or the return the message is about), applies the domain
event the reply means (``OrderMeant`` through the order's transition table, ``ReturnMeant`` through the
return's) and then the spec's named ``Effect``: a status sequence synced, or a fetch's answer read by
reconciliation, additive facts or returns. A spec's ``FollowUp`` commands (the next steps of a document
that takes several requests) are appended before the event, so they lead the aggregate's lane. It runs
inside the transaction that marks the message delivered (dispatch.py).

Rules kept: a reply about a record that no longer exists changes nothing; nothing here switches on a
command kind — the effect table is keyed by the specs' ``Effect``; an older status is never sent again to
a system that holds a newer one (``synced``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from retailsim.core.adapters.spec import Answer, CommandSpec, Effect, OrderMeant, ReturnMeant, Subject
from retailsim.core.frozen import updated
from retailsim.core.service.additive_facts import AdditiveFacts
from retailsim.core.service.hosts import OrderTableHost
from retailsim.core.service.migration_job import MigrationJob
from retailsim.core.service.reconciliation import Reconciliation
from retailsim.core.service.records import load_return
from retailsim.core.service.returns import Returns
from retailsim.core.service.unit_of_work import UnitOfWork
from retailsim.core.stores.base import NewMessage, Transaction

# A handler of an accepted reply's effect: (tx, answer, uow).
Handler = Callable[[Transaction, Answer, UnitOfWork], None]


class ReplyEffectHost(OrderTableHost, Protocol):
    """The rooms whose records a reply's effect changes."""

    @property
    def reconciliation(self) -> Reconciliation: ...

    @property
    def additive(self) -> AdditiveFacts: ...

    @property
    def returns(self) -> Returns: ...

    @property
    def migration(self) -> MigrationJob: ...


class ReplyEffects:
    """An accepted reply's domain event and effect (see the module docstring)."""

    def __init__(self, host: ReplyEffectHost) -> None:
        self.host = host
        self._by_effect: dict[Effect, Handler] = {
            Effect.STATUS_SYNCED: self._status_synced,
            Effect.WAREHOUSE_ORDER_FETCHED: host.reconciliation.warehouse_order_fetched,
            Effect.TRACKERS_FETCHED: host.reconciliation.trackers_fetched,
            Effect.PICKUP_FETCHED: host.reconciliation.pickup_fetched,
            Effect.ADJUSTMENTS_FETCHED: host.additive.adjustments_fetched,
            Effect.WAREHOUSE_RETURN_CREATED: host.returns.warehouse_return_created,
            Effect.RETURN_GOODS_BOOKED: host.returns.return_goods_booked,
            Effect.ORDER_MIGRATED: host.migration.order_migrated,
            Effect.LEGACY_RETIRED: host.migration.legacy_retired,
        }

    def apply(
        self,
        tx: Transaction,
        spec: CommandSpec,
        answer: Answer,
        uow: UnitOfWork,
    ) -> None:
        """What an accepted reply means, as its spec says: an order or return event, and/or an effect."""
        if spec.means is None and spec.effect is None and spec.follow_ups is None:
            return
        message, now = answer.message, answer.now
        if spec.subject is Subject.ORDER:
            order = self.host._load_record(tx, message.aggregate_id)
            if order is None:
                return
            answer = Answer(message, answer.reply, answer.step, now, order=order)
        elif spec.subject is Subject.RETURN:
            returned = load_return(tx, message.aggregate_id)
            if returned is None:
                return
            answer = Answer(message, answer.reply, answer.step, now, returned=returned)
        for step in spec.follow_ups(answer) if spec.follow_ups is not None else ():
            tx.append(
                NewMessage(message.destination, step.kind, message.aggregate_id, message.correlation_id,
                           step.payload, now)
            )  # fmt: skip
            uow.woken.add(message.destination)
        meaning = spec.means(answer) if spec.means is not None else None
        if isinstance(meaning, OrderMeant):
            self.host._transition(tx, answer.record, meaning.event, now, uow, meaning.facts)
        elif isinstance(meaning, ReturnMeant):
            self.host.returns.transition(tx, answer.return_record, meaning.event, now, uow, meaning.facts)
        if spec.effect is not None:
            self._by_effect[spec.effect](tx, answer, uow)

    def _status_synced(self, tx: Transaction, answer: Answer, uow: UnitOfWork) -> None:
        """The system holds this status sequence now: an older status is never sent to it again."""
        record, message = answer.record, answer.message
        seq = int(message.payload["seq"])
        if seq > record.synced.get(message.destination, 0):
            synced = {**record.synced, message.destination: seq}
            self.host._save_record(tx, updated(record, {"synced": synced}), answer.now)
