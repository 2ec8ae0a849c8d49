"""The integration core: production middleware between the storefront and the back-office systems.

A functional core with a durable shell. Every inbound message is handled in one store transaction that
checks idempotency/inbox, loads the aggregate, applies a pure transition, saves it and appends outgoing
commands to the outbox. Time (``now``) and randomness (``rng``) are parameters: nothing here reads a
clock or a global random generator, and nothing here imports SimPy or the simulation.
"""

from retailsim.core.config import CoreConfig
from retailsim.core.service import IntegrationCore

__all__ = ["CoreConfig", "IntegrationCore"]
