"""The core's application service, room by room (``IntegrationCore`` in facade.py wires them; each room is
a collaborator that sees the core through a typed protocol — no mixins, no ``Any``-typed ``self``):

- ``facade.py`` — ``IntegrationCore``: the public methods, the order's transition table and counters
  every room shares, operations (ops summary, dead-letter replay); wires the rooms below.
- ``transactions.py`` — every store transaction passes its crash point; the order's commands join the
  outbox in it (or apart, with the guard off).
- ``intake.py`` — idempotent requests: an ``Idempotency-Key`` run at most once, orders batched per commit,
  validated requests (returns, agent actions) under the same rules.
- ``orders.py`` — the storefront's order API: validate, reserve or route, accept (batched per commit).
- ``webhooks.py`` — the inbox and the (source, topic) → handler table; the warehouse's and carrier's news.
- ``timers.py`` — the core's own timers by kind (inventory feed, backorder expiry, watchdogs, exchanges).
- ``inventory.py`` — stock positions, reservations and the storefront's availability publication.
- ``reconciliation.py`` — the watchdogs and what the systems of record say when asked.
- ``unit_of_work.py`` — what one transaction announces after its commit.
- ``dispatch.py`` — outbox delivery: claim (breaker, token bucket), render and judge through the command
  registry (core/adapters), retries and dead letters.
- ``reply_effects.py`` — what an accepted reply means: the spec's domain event and its named effect.
- ``pickups.py`` — store pickups: routing, the store's events, reroutes.
- ``additive_facts.py`` — warehouse adjustments (deltas) and orders shipped in several parcels.
- ``service_desk.py`` — the service agent's timeline of an order and its remedies (reship, refund, return).
- ``returns.py`` — return-to-refund: the return API, the POS's and warehouse's return events, exchanges.
- ``records.py`` — reading return documents; ``hosts.py`` — what the collaborators share of the core.
- ``replies.py`` — ``ApiReply`` and the refusals every idempotent request shares.

``from retailsim.core.service import IntegrationCore, CoreConfig, ApiReply`` is the stable way in.
"""

from retailsim.core.config import CoreConfig
from retailsim.core.service.facade import DESTINATIONS, INTERNAL, Delivery, IntegrationCore
from retailsim.core.service.replies import ApiReply

__all__ = ["DESTINATIONS", "INTERNAL", "ApiReply", "CoreConfig", "Delivery", "IntegrationCore"]
