"""The core's application service, room by room (``IntegrationCore`` in facade.py wires them; each room is
a collaborator that sees the core through a typed protocol — no mixins, no ``Any``-typed ``self``):

- ``facade.py`` — ``IntegrationCore``: order acceptance, webhooks ((source, topic) table),
  timers, operations; wires the collaborators below; every store transaction and crash point passes
  through it.
- ``intake.py`` — idempotent requests: an ``Idempotency-Key`` run at most once, orders batched per commit.
- ``inventory.py`` — stock positions, reservations and the storefront's availability publication.
- ``reconciliation.py`` — the watchdogs and what the systems of record say when asked.
- ``unit_of_work.py`` — what one transaction announces after its commit.
- ``dispatch.py`` — outbox delivery: claim (breaker, token bucket), render and judge through the command
  registry (core/adapters), retries and dead letters.
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
