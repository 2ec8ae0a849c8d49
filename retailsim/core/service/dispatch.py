"""Outbox delivery, driven from outside (the simulation's delivery workers or the live dispatcher).

``claim`` hands out the next due message for a destination as a ready-made HTTP request, honouring the
destination's circuit breaker and token bucket; ``on_reply`` judges the answer, has the core apply what it
means in the same transaction that marks the message delivered, and schedules a retry (full-jitter
backoff, Retry-After as a floor) or dead-letters it. What each command kind renders, which refusals are
benign and what a reply means is the command registry's (core/adapters/registry.py): nothing here
switches on a kind.

A kind with a collection form (its spec's ``Batch``: Service Cloud's status upserts) goes in bulk: when
a worker claims one, up to ``max_records - 1`` more due messages of that kind and destination are claimed
with it (lane heads only, so per-order order holds), each is rendered on its own (superseded and orphaned
ones complete silently as always), and one request carries them all; the token bucket pays one token for
it. The reply is applied in ONE transaction: a failure of the whole request (5xx, no reply, throttled)
retries each message by the usual rules, the breaker and the bucket counting the request once; a 2xx is
read record by record (``Batch.split``) and each message meets the rules its own reply would have met
alone — a record's failure costs only its message. The request's ``X-Correlation-ID`` lists the
messages' correlation ids, comma-separated, in the records' order.

Rules kept: a message is dead-lettered for its own failures, not its system's (while the breaker is open
it waits); a throttled call costs no attempt; a document the ERP may hold already is looked up before it
is created again; every request carries the message's correlation id (the ``correlation_id`` guard);
every store transaction passes its crash point (core/crash_points.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from retailsim.core.adapters.http import (
    OutboundRequest,
    Reply,
    Verdict,
    error_text,
    is_salesforce_limit,
    judge,
    retry_after_s,
)
from retailsim.core.adapters.registry import CommandRegistry
from retailsim.core.adapters.spec import (
    Answer,
    Batch,
    CommandContext,
    CommandInput,
    CommandSpec,
    Subject,
)
from retailsim.core.documents import DocKind
from retailsim.core.guards import Guards
from retailsim.core.models import Order
from retailsim.core.reliability.breaker import BreakerState, CircuitBreaker
from retailsim.core.reliability.ratelimit import TokenBucket
from retailsim.core.reliability.retry import RetryPolicy
from retailsim.core.service.deferred_replies import DeferredReplies
from retailsim.core.service.hosts import OrderTableHost
from retailsim.core.service.records import load_return
from retailsim.core.service.reply_effects import ReplyEffects
from retailsim.core.service.unit_of_work import UnitOfWork
from retailsim.core.stores.base import OutboxMessage, Store, Transaction


@dataclass(slots=True)
class Delivery:
    """A claimed outbox message and the request to send for it (``step`` for multi-call commands).

    A collection carries several messages (``batch``, ``message`` being the first): ``messages`` lists
    them in the request's order, and once the reply is judged ``replies`` holds the reply each message
    met — its record's, or the whole request's when that failed."""

    message: OutboxMessage
    request: OutboundRequest
    step: str = "send"
    batch: tuple[OutboxMessage, ...] = ()
    replies: list[Reply] = field(default_factory=list)

    @property
    def messages(self) -> tuple[OutboxMessage, ...]:
        return self.batch or (self.message,)


class DeliveryHost(CommandContext, OrderTableHost, Protocol):
    """What delivery needs from the rest of the core: its store and settings, its transactions and crash
    points, its counters, and the order side of an accepted reply."""

    @property
    def store(self) -> Store: ...

    @property
    def rng(self) -> random.Random: ...

    @property
    def guards(self) -> Guards: ...

    @property
    def on_append(self) -> Callable[[str], None] | None: ...

    def _transaction(self, point: str) -> AbstractContextManager[Transaction]: ...

    def _crash_point(self, point: str) -> None: ...

    @property
    def reply_effects(self) -> ReplyEffects: ...

    def _after_commit(self, uow: UnitOfWork, now: float) -> None: ...

    def erp_lookup_before_create(self, message: OutboxMessage) -> bool: ...


class Dispatcher:
    """Delivery of the outbox, one destination at a time (see the module docstring)."""

    def __init__(
        self,
        host: DeliveryHost,
        commands: CommandRegistry,
        retry: RetryPolicy,
        breakers: dict[str, CircuitBreaker],
        buckets: dict[str, TokenBucket],
    ) -> None:
        self.host = host
        self.commands = commands
        self.retry = retry
        self.breakers = breakers
        self.buckets = buckets
        self.deferred = DeferredReplies(host, commands)

    def _transaction(self, point: str) -> AbstractContextManager[Transaction]:
        return self.host._transaction(point)

    def _crash_point(self, point: str) -> None:
        self.host._crash_point(point)

    def next_due_at(self, destination: str, now: float) -> float | None:
        """When ``claim`` could next hand out work for a destination (None: nothing is pending)."""
        due = self.host.store.next_due_at(destination)
        if due is None:
            return None
        at = max(due, self.breakers[destination].retry_at(now)) if destination in self.breakers else due
        bucket = self.buckets.get(destination)
        if bucket is not None:
            at = max(at, bucket.ready_at(now))
        return at

    def nothing_to_claim(self, destination: str, now: float) -> bool:
        """True when ``claim`` now would certainly return None and change nothing, so a worker may park
        without it: no message is due and the breaker is not open (``claim`` would move an open breaker
        whose time is up to half-open). A bucket's token taken and given back is the same float again
        (``t - 1 + 1 == t`` exactly for ``t >= 1 - ε``), so skipping it changes no later timing."""
        if self.breakers[destination].state is BreakerState.OPEN:
            return False
        due = self.host.store.next_due_at(destination)
        return due is None or due > now

    def claim(self, destination: str, now: float) -> Delivery | None:
        """The next message to send to ``destination`` now, or None (nothing due, breaker open, throttled)."""
        breaker = self.breakers[destination]
        bucket = self.buckets.get(destination)
        while True:
            if bucket is not None and not bucket.try_take(now):
                return None
            if not breaker.allow(now):
                if bucket is not None:
                    bucket.give_back()
                return None
            message = self.host.store.claim_next(destination, now, self.host.config.lease_s)
            if message is not None:
                self._crash_point("delivery.claimed")
            rendered = self._render(message, now) if message is not None else None
            if message is None or rendered is None:
                breaker.record_neutral()
                if bucket is not None:
                    bucket.give_back()
                if message is None:
                    return None
                continue  # nothing to send any more (superseded); _render completed it
            request, step = rendered
            spec = self.commands.spec_for(destination, message.kind)
            if spec.batch is not None and step == "send":
                room = min(spec.batch.max_records, self.host.config.bulk_status.max_records) - 1
                if room > 0:
                    return self._collect(message, request, spec.batch, now, room)
            return Delivery(message, self._with_correlation(request, (message,)), step)

    def _collect(
        self, first: OutboxMessage, request: OutboundRequest, batch: Batch, now: float, room: int
    ) -> Delivery:
        """``first`` and up to ``room`` more due messages of its kind and destination, as one delivery (a
        collection when more than one is left to send once each is rendered)."""
        claimed = self.host.store.claim_batch(
            first.destination, frozenset({first.kind}), now, self.host.config.lease_s, room
        )
        messages, singles = [first], [request]
        for message in claimed:
            rendered = self._render(message, now)
            if rendered is not None:
                messages.append(message)
                singles.append(rendered[0])
        if len(messages) == 1:
            return Delivery(first, self._with_correlation(request, (first,)), "send")
        collection = self._with_correlation(batch.render_many(singles), messages)
        return Delivery(first, collection, "send", tuple(messages))

    def _finish_silently(self, message: OutboxMessage, reason: str) -> None:
        with self._transaction("delivery.superseded.before_commit") as tx:
            tx.complete(message.seq)
        self.host._count(reason)

    def _render(self, message: OutboxMessage, now: float) -> tuple[OutboundRequest, str] | None:
        """The request for a claimed message (before its correlation id) and its step ("lookup": the ERP is
        asked first), or None when there is nothing to send (its aggregate is gone, or the command is
        superseded: completed here)."""
        spec = self.commands.spec_for(message.destination, message.kind)
        command = self._command_input(spec, message, now)
        if command is None:
            self._finish_silently(message, "orphan_messages")
            return None
        if spec.lookup is not None and self.host.erp_lookup_before_create(message):
            return spec.lookup.render(command), "lookup"
        request = spec.render(command)
        if request is None:
            self._finish_silently(message, "superseded_messages")
            return None
        return request, "send"

    def _command_input(
        self, spec: CommandSpec, message: OutboxMessage, now: float, *, after_miss: bool = False
    ) -> CommandInput | None:
        """What the spec's subject needs loaded to render the message (None: its aggregate is gone);
        ``after_miss``: to create what the ERP look-up did not find."""
        if spec.subject is Subject.PAYLOAD:
            return CommandInput(message, now, self.host)
        if spec.subject is Subject.STOCK_FEED:
            stock: dict[str, int] = {}
            for position in self.host.store.positions():
                stock[position.sku] = stock.get(position.sku, 0) + position.available
            return CommandInput(message, now, self.host, stock=stock)
        if spec.subject is Subject.AVAILABILITY:
            sku = str(message.payload["sku"])
            with self._transaction("delivery.publication.before_commit") as tx:
                tx.save(DocKind.ATP_PUBLICATION, sku, {"pending": False}, now)
                positions = [tx.get_position(sku, location) for location in self.host.config.locations]
            available = sum(p.available for p in positions if p is not None)
            return CommandInput(message, now, self.host, available=available)
        reading = (
            self._transaction("delivery.lookup_miss.read")
            if after_miss
            else self._transaction("delivery.render.read")
        )
        with reading as tx:
            if spec.subject is Subject.RETURN:
                returned = load_return(tx, message.aggregate_id)
                sale = tx.load(DocKind.ORDER_DOC, returned.order_no) if returned is not None else None
                return (
                    CommandInput(message, now, self.host, returned=returned, sale=sale or {})
                    if returned
                    else None
                )
            record = self.host._load_record(tx, message.aggregate_id)
            order = (
                tx.load_model(DocKind.ORDER_DOC, message.aggregate_id, Order)
                if spec.needs_order_doc
                else None
            )
        return (
            CommandInput(message, now, self.host, order=record, order_doc=order)
            if record is not None
            else None
        )

    def _with_correlation(
        self, request: OutboundRequest, messages: Sequence[OutboxMessage]
    ) -> OutboundRequest:
        """The request with its messages' correlation ids (a collection's: comma-separated, in order)."""
        if not self.host.guards.correlation_id:
            return request
        headers = dict(request.headers)
        headers["X-Correlation-ID"] = (
            messages[0].correlation_id
            if len(messages) == 1
            else ",".join(message.correlation_id for message in messages)
        )
        return OutboundRequest(request.method, request.path, request.body, headers, request.query)

    def on_reply(self, delivery: Delivery, reply: Reply, now: float) -> OutboundRequest | None:
        """Judge a reply. Returns a follow-up request for the same command (ERP look-up miss → create)."""
        if delivery.batch:
            self._on_collection_reply(delivery, reply, now)
            return None
        message = delivery.message
        destination = message.destination
        breaker = self.breakers[destination]
        spec = self.commands.spec_for(message.destination, message.kind)
        delivery.replies = [reply]
        verdict = judge(reply)
        deferred = spec.deferred is not None and verdict is Verdict.SUCCESS
        if deferred and self.deferred.takes(message, delivery.step, reply, now):  # "received": it waits
            breaker.record_success(now)
            return None
        if verdict is Verdict.SUCCESS and delivery.step == "lookup" and spec.lookup is not None:
            if not spec.lookup.found(reply):
                breaker.record_success(now)
                delivery.step = "send"
                delivery.request = self._create_after_miss(spec, message, now)
                return delivery.request
            self.host._count("erp_lookup_hits")
        if verdict is Verdict.RETRY:
            self._request_failed(destination, reply, now)
            self._retry_or_bury((message,), reply, now)
            return None
        uow = UnitOfWork()
        with self._transaction("delivery.reply_applied.before_commit") as tx:
            accepted = verdict is Verdict.SUCCESS or spec.benign(reply)
            if accepted:
                breaker.record_success(now)
            else:
                breaker.record_neutral()
            self._settle(tx, spec, message, reply, accepted, delivery.step, now, uow)
        self.host._after_commit(uow, now)
        self._crash_point("delivery.reply_applied.after_commit")
        return None

    def _request_failed(self, destination: str, reply: Reply, now: float) -> None:
        """A request came back retriable: throttled (the bucket slows down) or failed (the breaker counts)."""
        breaker = self.breakers[destination]
        if reply.status == 429 or is_salesforce_limit(reply):
            pause = retry_after_s(reply) or 1.0
            bucket = self.buckets.get(destination)
            if bucket is not None:
                bucket.slow_down(now, pause)
            breaker.record_neutral()
        else:
            breaker.record_failure(now)

    def _settle(
        self,
        tx: Transaction,
        spec: CommandSpec,
        message: OutboxMessage,
        reply: Reply,
        accepted: bool,
        step: str,
        now: float,
        uow: UnitOfWork,
    ) -> None:
        """A message's non-retriable outcome, in ``tx``: accepted (a success or a benign refusal: its
        effects applied), refused with a meaning for the order, or dead-lettered."""
        if accepted:
            self.host.reply_effects.apply(tx, spec, Answer(message, reply, step, now), uow)
            tx.complete(message.seq)
            return
        failure_event = spec.refused_means(reply)
        if failure_event is not None:
            record = self.host._load_record(tx, message.aggregate_id)
            if record is not None:
                self.host._transition(tx, record, failure_event, now, uow)
            tx.complete(message.seq)
        else:
            self.host._count("dead_lettered")
            tx.dead_letter(message.seq, error_text(reply), message.attempts, now)

    def _on_collection_reply(self, delivery: Delivery, reply: Reply, now: float) -> None:
        """Judge a collection's reply: the whole request's failure retries every message; a 2xx is read
        record by record and every message's outcome is applied in one transaction."""
        messages = delivery.batch
        destination = delivery.message.destination
        spec = self.commands.spec_for(destination, delivery.message.kind)
        assert spec.batch is not None, f"{spec.kind} has no collection form"
        verdict = judge(reply)
        if verdict is Verdict.RETRY:
            delivery.replies = [reply] * len(messages)
            self._request_failed(destination, reply, now)
            self._retry_or_bury(messages, reply, now)
            return
        if verdict is Verdict.SUCCESS and self.host.guards.collection_records_judged:
            records = spec.batch.split(reply, len(messages))
            # A 2xx that cannot be read record by record: each is sent again (an upsert lands once).
            unreadable = Reply(502, f"unreadable collection reply: {str(reply.body)[:120]}")
            delivery.replies = records if records is not None else [unreadable] * len(messages)
        else:
            delivery.replies = [reply] * len(messages)
        breaker = self.breakers[destination]
        if verdict is Verdict.SUCCESS:
            breaker.record_success(now)
        else:
            breaker.record_neutral()
        uow = UnitOfWork()
        retried = False
        with self._transaction("delivery.reply_applied.before_commit") as tx:
            for message, answer in zip(messages, delivery.replies, strict=True):
                judged = judge(answer)
                if judged is Verdict.RETRY:
                    retried = True
                    self._retry_later_or_bury(tx, message, answer, now)
                else:
                    accepted = judged is Verdict.SUCCESS or spec.benign(answer)
                    self._settle(tx, spec, message, answer, accepted, delivery.step, now, uow)
        self.host._after_commit(uow, now)
        if retried and self.host.on_append is not None:
            self.host.on_append(destination)
        self._crash_point("delivery.reply_applied.after_commit")

    def _create_after_miss(self, spec: CommandSpec, message: OutboxMessage, now: float) -> OutboundRequest:
        """The ERP look-up found nothing: now create the document (the first one never landed)."""
        assert spec.lookup is not None
        dated = message.available_at if spec.lookup.create_when_due else now
        command = self._command_input(spec, message, dated, after_miss=True)
        request = spec.render(command) if command is not None else None
        assert request is not None, f"{message.kind} {message.aggregate_id} has nothing to create"
        return self._with_correlation(request, (message,))

    def _retry_or_bury(self, messages: Sequence[OutboxMessage], reply: Reply, now: float) -> None:
        """The request failed retriably: each of its messages is retried later or dead-lettered, in one
        transaction."""
        with self._transaction("delivery.retry.before_commit") as tx:
            for message in messages:
                self._retry_later_or_bury(tx, message, reply, now)
        if self.host.on_append is not None:
            self.host.on_append(messages[0].destination)
        self._crash_point("delivery.retry.after_commit")

    def _retry_later_or_bury(self, tx: Transaction, message: OutboxMessage, reply: Reply, now: float) -> None:
        """One message met a retriable ``reply``: schedule its next try, or dead-letter it (in ``tx``)."""
        throttled = reply.status == 429 or is_salesforce_limit(reply)
        if throttled:
            # Throttled at the gate: the request never reached the system, so it costs no attempt.
            message.attempts -= 1
        breaker = self.breakers[message.destination]
        system_down = breaker.state is not BreakerState.CLOSED
        if system_down and not throttled and reply.status is not None:
            # Refused while the breaker says the system is down (a half-open probe, or a call in flight
            # when it opened): the failure is the system's, and a refusal committed nothing, so it costs
            # the message no attempt — else a long outage spends the budgets of the messages that served
            # as probes. A timeout still counts: it may have committed, and the count is what makes the
            # next try look the document up before it creates it again.
            message.attempts -= 1
        # A message is dead-lettered for its own failures, not for its system's: while the breaker
        # says the system is down, the message waits for it however long the outage lasts — and a
        # throttled call, which cost nothing, never buries a message whose attempts ran up meanwhile.
        if self.retry.exhausted(message.attempts) and not system_down and not throttled:
            self.host._count("dead_lettered")
            tx.dead_letter(
                message.seq,
                f"retries exhausted after {message.attempts} attempts; last: {error_text(reply)}",
                message.attempts,
                now,
            )
        else:
            self.host._count("retries")
            delay = self.retry.delay(message.attempts, self.host.rng, retry_after_s(reply))
            if system_down:
                delay = max(delay, breaker.retry_at(now) - now)
            tx.retry_later(message.seq, now + delay, message.attempts, error_text(reply))
