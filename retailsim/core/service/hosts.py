"""What the core's collaborators ask of the core that wires them: the shared part of their dependencies.

Each collaborator (delivery, inventory, pickups, additive facts, reconciliation, idempotent requests)
depends on a small Protocol of its own; the members most of them share — the settings, counters, the
webhook's verdict notes and the order's transition table — are declared once here, and each collaborator's
protocol extends this one with what only it needs. ``IntegrationCore`` satisfies all of them.

Rules kept: a collaborator never imports the facade (no import cycle); it sees the core only through its
protocol, so mypy checks every call it makes.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

from retailsim.core.config import CoreConfig
from retailsim.core.guards import Guards
from retailsim.core.service.intake import IdempotentRequests
from retailsim.core.service.inventory import Inventory
from retailsim.core.service.unit_of_work import UnitOfWork
from retailsim.core.stores.base import Transaction
from retailsim.core.workflows.order_to_cash import OrderEvent, OrderRecord


class OrderTableHost(Protocol):
    """Settings, counters, webhook notes, and the order's records and transition table."""

    @property
    def config(self) -> CoreConfig: ...

    def _count(self, name: str, n: int = 1) -> None: ...

    def _load_record(self, tx: Transaction, order_no: str) -> OrderRecord | None: ...

    def _save_record(self, tx: Transaction, record: OrderRecord, now: float) -> None: ...

    def _transition(
        self,
        tx: Transaction,
        record: OrderRecord,
        event: OrderEvent,
        now: float,
        uow: UnitOfWork,
        facts: dict[str, Any] | None = None,
    ) -> OrderRecord: ...


class IdempotentHost(OrderTableHost, Protocol):
    """What the rooms that serve idempotent requests (returns, agent actions) share: guards, stock,
    transactions, and the order API's idempotency rules around their work."""

    @property
    def guards(self) -> Guards: ...

    @property
    def inventory(self) -> Inventory: ...

    def _transaction(self, point: str) -> AbstractContextManager[Transaction]: ...

    @property
    def requests(self) -> IdempotentRequests: ...
