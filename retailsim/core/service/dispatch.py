"""Outbox delivery, driven from outside (the simulation's delivery workers or the live dispatcher).

``claim`` hands out the next due message for a destination as a ready-made HTTP request, honouring the
destination's circuit breaker and token bucket; ``on_reply`` judges the answer, has the core apply what it
means in the same transaction that marks the message delivered, and schedules a retry (full-jitter
backoff, Retry-After as a floor) or dead-letters it. What each command kind renders, which refusals are
benign and what a reply means is the command registry's (core/adapters/registry.py): nothing here
switches on a kind.

Rules kept: a message is dead-lettered for its own failures, not its system's (while the breaker is open
it waits); a throttled call costs no attempt; a document the ERP may hold already is looked up before it
is created again; every request carries the message's correlation id (the ``correlation_id`` guard);
every store transaction passes its crash point (core/crash_points.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
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
from retailsim.core.adapters.spec import Answer, CommandContext, CommandInput, CommandSpec, Subject
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
    """A claimed outbox message and the request to send for it (``step`` for multi-call commands)."""

    message: OutboxMessage
    request: OutboundRequest
    step: str = "send"


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
            return Delivery(message, request, step)

    def _finish_silently(self, message: OutboxMessage, reason: str) -> None:
        with self._transaction("delivery.superseded.before_commit") as tx:
            tx.complete(message.seq)
        self.host._count(reason)

    def _render(self, message: OutboxMessage, now: float) -> tuple[OutboundRequest, str] | None:
        """The request for a claimed message and its step ("lookup": the ERP is asked first), or None when
        there is nothing to send (its aggregate is gone, or the command is superseded: completed here)."""
        spec = self.commands.spec_for(message.destination, message.kind)
        command = self._command_input(spec, message, now)
        if command is None:
            self._finish_silently(message, "orphan_messages")
            return None
        if spec.lookup is not None and self.host.erp_lookup_before_create(message):
            return self._with_correlation(spec.lookup.render(command), message), "lookup"
        request = spec.render(command)
        if request is None:
            self._finish_silently(message, "superseded_messages")
            return None
        return self._with_correlation(request, message), "send"

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

    def _with_correlation(self, request: OutboundRequest, message: OutboxMessage) -> OutboundRequest:
        if not self.host.guards.correlation_id:
            return request
        headers = dict(request.headers)
        headers["X-Correlation-ID"] = message.correlation_id
        return OutboundRequest(request.method, request.path, request.body, headers, request.query)

    def on_reply(self, delivery: Delivery, reply: Reply, now: float) -> OutboundRequest | None:
        """Judge a reply. Returns a follow-up request for the same command (ERP look-up miss → create)."""
        message = delivery.message
        destination = message.destination
        breaker = self.breakers[destination]
        spec = self.commands.spec_for(message.destination, message.kind)
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
            if reply.status == 429 or is_salesforce_limit(reply):
                pause = retry_after_s(reply) or 1.0
                bucket = self.buckets.get(destination)
                if bucket is not None:
                    bucket.slow_down(now, pause)
                breaker.record_neutral()
            else:
                breaker.record_failure(now)
            self._retry_or_bury(message, reply, now)
            return None
        uow = UnitOfWork()
        with self._transaction("delivery.reply_applied.before_commit") as tx:
            if verdict is Verdict.SUCCESS or spec.benign(reply):
                breaker.record_success(now)
                self.host.reply_effects.apply(
                    tx, spec, Answer(message, reply, delivery.step, now), uow
                )
                tx.complete(message.seq)
            else:
                breaker.record_neutral()
                failure_event = spec.refused_means(reply)
                if failure_event is not None:
                    record = self.host._load_record(tx, message.aggregate_id)
                    if record is not None:
                        self.host._transition(tx, record, failure_event, now, uow)
                    tx.complete(message.seq)
                else:
                    self.host._count("dead_lettered")
                    tx.dead_letter(message.seq, error_text(reply), message.attempts, now)
        self.host._after_commit(uow, now)
        self._crash_point("delivery.reply_applied.after_commit")
        return None

    def _create_after_miss(self, spec: CommandSpec, message: OutboxMessage, now: float) -> OutboundRequest:
        """The ERP look-up found nothing: now create the document (the first one never landed)."""
        assert spec.lookup is not None
        dated = message.available_at if spec.lookup.create_when_due else now
        command = self._command_input(spec, message, dated, after_miss=True)
        request = spec.render(command) if command is not None else None
        assert request is not None, f"{message.kind} {message.aggregate_id} has nothing to create"
        return self._with_correlation(request, message)

    def _retry_or_bury(self, message: OutboxMessage, reply: Reply, now: float) -> None:
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
        with self._transaction("delivery.retry.before_commit") as tx:
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
        if self.host.on_append is not None:
            self.host.on_append(message.destination)
        self._crash_point("delivery.retry.after_commit")
