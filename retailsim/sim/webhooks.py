"""Webhook dispatch: the mock products' events on their way to the core's webhook API, at least once.

A system (warehouse, carrier, payment gateway, POS) emits an event; the fault plan says how many copies
go out and when (duplicated, reordered, dropped); each copy crosses a link to the core and is re-sent
with exponential backoff and jitter, as the real products do, until the core answers 2xx or the
sender's attempts (``delivery.webhook_max_attempts``) run out.

Rules kept: each source's draws come from its own stream (``webhooks/<source>``); every attempt goes into
the trace and into the event ledger (``events_accounted`` judges it: what was sent, each copy's
deliveries, what the core answered); a copy in flight keeps the world from being quiet.

No SimPy process per copy: a copy in flight is a small record, and each attempt is one timer whose
callback delivers it (one SimPy event per attempt, where a process per copy cost three: its start, its
wait and its end).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from random import Random

import simpy

from retailsim.scenarios.schema import DeliverySpec
from retailsim.sim.accounting import EventLedger
from retailsim.sim.core_process import CoreProcess
from retailsim.sim.faults import FaultSchedule
from retailsim.sim.links import Links
from retailsim.sim.monitors import Counts, TraceDigest
from retailsim.sim.seeds import Streams
from retailsim.systems.base import Webhook
from retailsim.systems.carrier import Carrier


@dataclass(eq=False, slots=True)
class _Copy:
    """One copy of an event on its way to the core: which copy, the sender's stream, attempts so far."""

    hook: Webhook
    copy: int
    rng: Random
    attempts: int = 0


@dataclass(eq=False, kw_only=True)
class WebhookDispatch:
    """Sends each event a system emits to the core, copy by copy, and counts the copies in flight."""

    env: simpy.Environment
    spec: DeliverySpec
    streams: Streams
    links: Links
    faults: FaultSchedule
    process: CoreProcess
    carrier: Carrier  # to tell which order a tracker event is about
    trace: TraceDigest
    counts: Counts
    event_ledger: EventLedger
    in_flight: int = field(init=False, default=0)

    def send(self, hook: Webhook) -> None:
        """A system emitted ``hook``: send its copies (none when a fault drops it)."""
        self.counts.webhooks_sent += 1
        delays = self.faults.webhook_deliveries(hook.source)
        self.event_ledger.sent(
            hook.source, hook.event_id, hook.topic, self.event_reference(hook), self.env.now, len(delays)
        )
        rng = self.streams(f"webhooks/{hook.source}")
        for copy, delay in enumerate(delays):
            self.in_flight += 1
            self._attempt_in(delay + self.links.latency.sample(rng), _Copy(hook, copy, rng))

    def event_reference(self, hook: Webhook) -> str:
        """The order (or return) an event is about, as its source names it (for ``events_accounted``)."""
        body = hook.body if isinstance(hook.body, dict) else {}
        if hook.source == "carrier":
            shipment = self.carrier.shipments.get(str((body.get("result") or {}).get("shipment_id")), {})
            return str(shipment.get("reference_id", ""))
        if hook.source == "payment":
            intent = (body.get("data") or {}).get("object") or {}
            return str((intent.get("metadata") or {}).get("order_no", ""))
        if "TransactionNumber" in body and "ItemName" in body:
            return "inventory"  # a warehouse adjustment: repaired by the core's adjustment watch
        return str(body.get("reference_id") or body.get("order_reference") or "")

    def _attempt_in(self, delay: float, copy: _Copy) -> None:
        timer = self.env.timeout(delay)
        timer.callbacks.append(lambda _timer: self._attempt(copy))

    def _attempt(self, copy: _Copy) -> None:
        """Deliver one copy to the core now; on no 2xx, back off for the next attempt or give up."""
        hook, now = copy.hook, self.env.now
        copy.attempts += 1
        process = self.process
        reached = process.up
        reply = None
        if reached:
            reply = process.ask(
                lambda core: core.receive_webhook(hook.source, hook.event_id, hook.topic, hook.body, now)
            )
        status = reply.status if reply is not None else None
        self.event_ledger.attempt(
            hook.source, hook.event_id, copy.copy, now, status, reply.body if reply is not None else None, reached
        )
        self.trace.record_at(now, "webhook", hook.source, hook.event_id, status)
        if status is not None and status < 300:
            self.in_flight -= 1
        elif copy.attempts >= self.spec.webhook_max_attempts:
            self.counts.webhooks_abandoned += 1
            self.in_flight -= 1
        else:
            # Senders back off exponentially with jitter (Shopify: 8 tries over 4 h; EasyPost: about a day).
            base = self.spec.webhook_retry_base * 2 ** (copy.attempts - 1)
            self._attempt_in(base * copy.rng.uniform(0.8, 1.2), copy)
