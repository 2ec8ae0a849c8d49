"""Deferred replies: a message whose system answered "received" waits in the outbox for its acknowledgement.

A command whose spec ``AwaitsAck`` (core/adapters/deferred.py; the legacy ECC's IDoc submission) is not done
when the system answers: the answer is a receipt. Here:

* **park** — the receipt is noted under the message's aggregate (``DocKind.AWAITED_ACK``: receipt,
  deadline, the message) and the message is put back in the outbox due at the deadline, keeping its place
  in its aggregate's lane (nothing later for the order goes to the ERP before it is posted). A look-up that
  finds a submission still in process parks the message on that receipt instead of sending anything.
  Parking arms the collector (one ``CollectsAcks`` message, ``DocKind.ACK_COLLECTION`` keeps its cursor).
* **collect** — the collector's reply is read into acknowledgements, each applied to the message waiting
  for exactly that receipt before its deadline: DONE goes through the normal reply handling (the spec's
  ``means``, step "ack") and completes the message; RESEND puts it back due now, its attempt refunded (the
  batch's fault, not the message's) — it is claimed again and, being a retry, looks up before it resends;
  REFUSED dead-letters it with the system's words. The collector re-arms while any deadline is ahead.
* **late** — an acknowledgement after the deadline, or about another receipt, is stale and changes
  nothing (counted ``stale_acks``): the message has been (or will be) claimed again and its look-up, not
  the acknowledgement, decides.

Rules kept: nothing here switches on a command kind (the spec's ``deferred`` value says what to do); each
outcome is written in one transaction with the message's completion, retry or dead letter; the collector
is idempotent (reading a file twice finds no waiting receipt the second time); every transaction passes
the dispatcher's crash points; what a transaction woke is announced only after its commit.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

from retailsim.core.adapters.deferred import Ack, AckOutcome, AwaitsAck, CollectsAcks
from retailsim.core.adapters.http import Reply
from retailsim.core.adapters.registry import CommandRegistry
from retailsim.core.adapters.spec import Answer
from retailsim.core.documents import DocKind
from retailsim.core.service.reply_effects import ReplyEffects
from retailsim.core.service.unit_of_work import UnitOfWork
from retailsim.core.stores.base import NewMessage, OutboxMessage, Transaction

# The collector is thought lost (its message dead-lettered) when it has not run for this many periods: a
# park arms another. Two collectors at once are harmless (a second reading finds nothing waiting).
LOST_COLLECTOR_PERIODS = 10


class DeferredHost(Protocol):
    """What deferred replies need from the core: transactions, crash points, counters, reply effects."""

    def _transaction(self, point: str) -> AbstractContextManager[Transaction]: ...

    def _crash_point(self, point: str) -> None: ...

    def _count(self, name: str, n: int = 1) -> None: ...

    @property
    def reply_effects(self) -> ReplyEffects: ...

    def _after_commit(self, uow: UnitOfWork, now: float) -> None: ...


class DeferredReplies:
    """Messages awaiting an acknowledgement, and the collection of acknowledgements (module docstring)."""

    def __init__(self, host: DeferredHost, commands: CommandRegistry) -> None:
        self.host = host
        self.commands = commands

    def takes(self, message: OutboxMessage, step: str, reply: Reply, now: float) -> bool:
        """Handle an accepted reply of a deferred command here; False: the dispatcher handles it as usual
        (a look-up that found the document posted, or found nothing and so creates it)."""
        deferred = self.commands[message.kind].deferred
        if isinstance(deferred, CollectsAcks):
            self._collect(message, deferred, reply, now)
            return True
        if isinstance(deferred, AwaitsAck):
            receipt = deferred.in_process(reply) if step == "lookup" else deferred.receipt(reply)
            if receipt is not None:
                self._park(message, deferred, receipt, now)
                return True
        return False

    def _park(self, message: OutboxMessage, deferred: AwaitsAck, receipt: str, now: float) -> None:
        deadline = now + deferred.deadline_s
        uow = UnitOfWork()
        with self.host._transaction("delivery.reply_applied.before_commit") as tx:
            tx.save(
                DocKind.AWAITED_ACK,
                message.aggregate_id,
                {"receipt": receipt, "deadline": deadline, "message": _message_fields(message)},
                now,
            )
            tx.retry_later(message.seq, deadline, message.attempts, f"awaiting acknowledgement of {receipt}")
            self._arm(tx, message.destination, deferred.collector, deadline, now, uow)
            self.host._count("acks_awaited")
        self.host._after_commit(uow, now)
        self.host._crash_point("delivery.reply_applied.after_commit")

    def _arm(
        self,
        tx: Transaction,
        destination: str,
        collector: CollectsAcks,
        until: float,
        now: float,
        uow: UnitOfWork,
    ) -> None:
        """Keep the collector running until ``until``; start it when none runs."""
        state = tx.load(DocKind.ACK_COLLECTION, collector.kind) or {
            "after": "0",
            "until": 0.0,
            "next_at": None,
        }
        next_at = state["next_at"]
        lost = next_at is not None and next_at < now - LOST_COLLECTOR_PERIODS * collector.every_s
        if next_at is None or lost:
            next_at = now + collector.every_s
            tx.append(
                NewMessage(
                    destination,
                    collector.kind,
                    collector.kind,
                    collector.kind,
                    {"after": state["after"]},
                    next_at,
                )
            )
            uow.woken.add(destination)
        tx.save(
            DocKind.ACK_COLLECTION,
            collector.kind,
            {"after": state["after"], "until": max(float(state["until"]), until), "next_at": next_at},
            now,
        )

    def _collect(self, message: OutboxMessage, collector: CollectsAcks, reply: Reply, now: float) -> None:
        uow = UnitOfWork()
        with self.host._transaction("delivery.reply_applied.before_commit") as tx:
            for ack in collector.acks(reply):
                self._apply(tx, ack, now, uow)
            state = tx.load(DocKind.ACK_COLLECTION, collector.kind) or {"after": "0", "until": 0.0}
            after = collector.cursor(reply) or str(state["after"])
            next_at = now + collector.every_s if now < float(state["until"]) else None
            if next_at is not None:
                tx.append(
                    NewMessage(
                        message.destination,
                        collector.kind,
                        collector.kind,
                        collector.kind,
                        {"after": after},
                        next_at,
                    )
                )
                uow.woken.add(message.destination)
            tx.save(
                DocKind.ACK_COLLECTION,
                collector.kind,
                {"after": after, "until": state["until"], "next_at": next_at},
                now,
            )
            tx.complete(message.seq)
        self.host._after_commit(uow, now)
        self.host._crash_point("delivery.reply_applied.after_commit")

    def _apply(self, tx: Transaction, ack: Ack, now: float, uow: UnitOfWork) -> None:
        """One acknowledgement, applied to the message waiting for exactly its receipt (else stale)."""
        waiting = tx.load(DocKind.AWAITED_ACK, ack.reference)
        if not waiting or waiting.get("receipt") != ack.receipt or float(waiting["deadline"]) <= now:
            self.host._count("stale_acks")
            return
        tx.save(DocKind.AWAITED_ACK, ack.reference, {}, now)
        message = OutboxMessage(**waiting["message"])
        if ack.outcome is AckOutcome.DONE:
            spec = self.commands[message.kind]
            self.host.reply_effects.apply(tx, spec, Answer(message, Reply(200, ack.body), "ack", now), uow)
            tx.complete(message.seq)
        elif ack.outcome is AckOutcome.RESEND:
            self.host._count("acks_resend")
            self._resend(tx, message, ack.text, now)
            uow.woken.add(message.destination)
        else:
            self.host._count("dead_lettered")
            tx.dead_letter(message.seq, ack.text, message.attempts, now)

    def _resend(self, tx: Transaction, message: OutboxMessage, text: str, now: float) -> None:
        """Due again now, the attempt refunded (the batch's fault, not the message's) but never below one:
        the next claim is a retry, so it looks the order up before it submits again."""
        tx.retry_later(message.seq, now, max(1, message.attempts - 1), text)


def _message_fields(message: OutboxMessage) -> dict[str, Any]:
    """What rebuilds the waiting message when its acknowledgement comes (its seq, kind, aggregate...)."""
    return {
        "seq": message.seq,
        "destination": message.destination,
        "kind": message.kind,
        "aggregate_id": message.aggregate_id,
        "correlation_id": message.correlation_id,
        "payload": message.payload,
        "available_at": message.available_at,
        "attempts": message.attempts,
    }
