"""The core's crash points: the named places in its durable shell where a process may die.

In the spirit of FoundationDB's BUGGIFY, every store-transaction boundary and every point where the core
hands a reply back is named here, once. The core calls its ``crash_hook`` (``None`` in production and in
live mode: nothing happens) with the name as it passes each point:

* ``….before_commit`` — inside the transaction, its writes made, the commit not yet done. A process
  death here loses the whole transaction: the store rolls it back.
* ``….after_commit`` — the transaction committed and the observers were told; the reply (202, 200,
  the worker's next step) not yet handed back. A death here keeps the commit and loses the reply.
* ``….read`` — inside a read-only transaction: a death here loses nothing but the caller's answer.
* ``….claimed`` — a message leased from the outbox (an atomic store operation), its request not yet
  sent. A death here leaves the lease, which the next process's ``recover`` releases.

A hook that wants the process dead raises (the simulation raises an exception derived from
``BaseException``, so that no ``except Exception`` on the way can swallow a process death). The names
are stable: scenario files and fuzz plans refer to them. Rules kept: pure data, nothing imported.
"""

from __future__ import annotations

from collections.abc import Callable

CrashHook = Callable[[str], None]

CATALOGUE: tuple[tuple[str, str], ...] = (
    ("inventory_load.before_commit", "stock snapshot written, not committed"),
    ("inventory_load.after_commit", "stock snapshot committed, publications not yet announced"),
    ("order_intake.before_commit", "orders, reservations, keys and outbox written, not committed"),
    ("order_intake.after_commit", "orders committed, the storefront's 202 not yet handed back"),
    ("return_request.before_commit", "a return request and its outbox written, not committed"),
    ("return_request.after_commit", "a return request committed, its 202 not yet handed back"),
    ("agent_action.before_commit", "an agent's action (reship, refund, return) written, not committed"),
    ("agent_action.after_commit", "an agent's action committed, its reply not yet handed back"),
    ("webhook.before_commit", "a webhook's inbox id, effect and outbox written, not committed"),
    ("webhook.after_commit", "a webhook committed, its 200 not yet handed back"),
    ("delivery.claimed", "an outbox message leased to a worker, its request not yet sent"),
    ("delivery.render.read", "reading the order or return a request is rendered from"),
    ("delivery.publication.before_commit", "an availability publication marked sent, not committed"),
    ("delivery.superseded.before_commit", "a message with nothing left to send completed, not committed"),
    ("delivery.lookup_miss.read", "reading the document to create after an ERP look-up found none"),
    ("delivery.reply_applied.before_commit", "a reply applied and its message completed, not committed"),
    ("delivery.reply_applied.after_commit", "a reply applied and committed, the worker not yet told"),
    ("delivery.retry.before_commit", "a failed message rescheduled (or dead-lettered), not committed"),
    ("delivery.retry.after_commit", "a failed message rescheduled and committed, workers not yet woken"),
    ("timers.claimed", "an internal timer (backorder expiry, watchdog, feed) leased, not yet fired"),
    ("timers.before_commit", "a timer fired (its effects and follow-ups written), not committed"),
    ("timers.after_commit", "a timer fired and committed, the next one not yet claimed"),
    ("dlq_replay.after_commit", "a dead letter put back in the outbox, the operator not yet answered"),
    ("atp_query.read", "reading available-to-promise for a channel (the marketplace's connector)"),
    ("order_timeline.read", "reading an order's timeline for a service agent"),
    ("order_record.read", "reading an order record (operations API)"),
    ("return_record.read", "reading a return record (operations API)"),
    ("migration.move.before_commit", "an order moved to the cloud ERP (job state, record, outbox), not committed"),
    ("migration.move.after_commit", "an order's move committed, the migration job's next order not yet begun"),
)

CRASH_POINTS: tuple[str, ...] = tuple(name for name, _ in CATALOGUE)
DESCRIPTIONS: dict[str, str] = dict(CATALOGUE)
