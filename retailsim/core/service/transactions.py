"""The core's store transactions: every one passes its crash point, and the order's commands join the outbox.

``open(point)`` is the only way the core opens a store transaction: with a crash hook (the simulation's
core-crash fault), the hook is called at ``point`` after the body and before the commit, and a death
there rolls the transaction back as a real death would. ``emit`` appends the commands an order's
transition decided to the outbox in that same transaction — unless the guard ``outbox_in_transaction``
is off (a broken core): then they are kept aside and appended in a second transaction after the first
commits, with the ``….after_commit`` crash point between the two. A command of a ``latest_only`` kind (a
status push) is appended as one that supersedes its pending older siblings (core/stores/base.py); one of a
kind sent in collections (``windowed``, core.bulk_status) is due at the next tick of the flush window,
so the pushes decided within one window are claimed, and sent, together.

Rules kept: the state change and its commands commit together (the transactional outbox); crash points are
named in core/crash_points.py; a hook that is None (production, live mode) costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Protocol

from retailsim.core.crash_points import DESCRIPTIONS, CrashHook
from retailsim.core.guards import Guards
from retailsim.core.service.erp_routing import order_destination
from retailsim.core.stores.base import NewMessage, Store, Transaction
from retailsim.core.workflows.order_to_cash import Command, OrderRecord


class TransactionHost(Protocol):
    """The store, the guards, and the crash hook its host may set at any time."""

    @property
    def store(self) -> Store: ...

    @property
    def guards(self) -> Guards: ...

    @property
    def crash_hook(self) -> CrashHook | None: ...


class _CrashPointTransaction:
    """A store transaction that passes its crash point after its body and before its commit: a hook
    that raises there (a process death) rolls the transaction back, as a death before the commit would."""

    __slots__ = ("_hook", "_inner", "_point")

    def __init__(self, inner: AbstractContextManager[Transaction], hook: CrashHook, point: str) -> None:
        self._inner, self._hook, self._point = inner, hook, point

    def __enter__(self) -> Transaction:
        return self._inner.__enter__()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> bool | None:
        if kind is None:
            try:
                self._hook(self._point)
            except BaseException as death:
                self._inner.__exit__(type(death), death, death.__traceback__)
                raise
        return self._inner.__exit__(kind, error, trace)


class Transactions:
    """Store transactions with crash points, and the outbox they append to (see the module docstring)."""

    def __init__(
        self,
        host: TransactionHost,
        latest_only: frozenset[str] = frozenset(),
        windowed: frozenset[str] = frozenset(),
        window_s: float = 0.0,
    ) -> None:
        self.host = host
        self.latest_only = latest_only  # command kinds whose newest message supersedes pending older ones
        # Command kinds sent in collections: due at the next tick of a ``window_s`` clock (0: at once).
        self.windowed = windowed if window_s > 0 else frozenset()
        self.window_s = window_s
        # Commands decided in a transaction, appended in one of their own (only with the guard
        # ``outbox_in_transaction`` off: see ``_outbox_apart``).
        self._decided: list[NewMessage] = []

    def open(self, point: str) -> AbstractContextManager[Transaction]:
        """A store transaction whose crash point ``point`` is passed just before its commit."""
        if not self.host.guards.outbox_in_transaction:
            return self._outbox_apart(point)
        return self._one(point)

    def crash_point(self, point: str) -> None:
        """Pass a crash point outside a transaction (a reply about to be handed back, a lease taken)."""
        hook = self.host.crash_hook
        if hook is not None:
            hook(point)

    def emit(
        self, tx: Transaction, record: OrderRecord, commands: Sequence[Command], now: float, woken: set[str]
    ) -> None:
        """Append an order's commands to the outbox (in ``tx``) and wake their destinations."""
        outbox: Transaction | list[NewMessage] = (
            tx if self.host.guards.outbox_in_transaction else self._decided
        )
        for command in commands:
            destination = order_destination(record, command.destination)
            outbox.append(
                NewMessage(
                    destination=destination,
                    kind=command.kind,
                    aggregate_id=record.order_no,
                    correlation_id=record.correlation_id,
                    payload=command.payload,
                    available_at=self._due_at(command.kind, now + command.delay_s),
                    supersedes_pending=command.kind in self.latest_only,
                )
            )
            woken.add(destination)

    def _due_at(self, kind: str, at: float) -> float:
        """When a command decided to be due ``at`` is due: a windowed kind at the window's next tick."""
        if kind not in self.windowed:
            return at
        return math.ceil(at / self.window_s) * self.window_s

    def _one(self, point: str) -> AbstractContextManager[Transaction]:
        hook = self.host.crash_hook
        if hook is None:
            return self.host.store.transaction()
        return _CrashPointTransaction(self.host.store.transaction(), hook, point)

    @contextmanager
    def _outbox_apart(self, point: str) -> Iterator[Transaction]:
        """The guard ``outbox_in_transaction`` off: the aggregate's new state commits first and the commands
        it decided are appended in a second transaction ("the outbox write is just a log") — a death between
        the two commits leaves an aggregate whose next step nobody will ever send."""
        self._decided = []
        try:
            with self._one(point) as tx:
                yield tx
        finally:
            decided, self._decided = self._decided, []
        if not decided:
            return
        after = point.replace(".before_commit", ".after_commit")
        if after in DESCRIPTIONS:
            self.crash_point(after)  # the state is committed; its commands are not
        with self._one(point) as tx:
            for message in decided:
                tx.append(message)
