"""The ``Store`` port: the core's durable state behind one protocol.

What a store keeps: idempotency records, the inbox of seen event ids, aggregates (as JSON documents with
a version), inventory positions, the outbox and the dead-letter queue. Rules every implementation keeps,
and the contract suite in tests/contract checks:

* A transaction is all or nothing. Writes made inside ``with store.transaction() as tx`` become visible
  together at commit, or not at all when the block raises.
* The outbox is delivered in order per (destination, aggregate): a message is claimable only when no
  earlier message for the same destination and aggregate is still pending or in flight.
* Latest wins where asked: a message appended with ``supersedes_pending`` (a status push) finishes, in the
  same transaction, every earlier message of its lane and kind that is still pending — claimed by no one —
  as ``superseded``, without a send: the system receives the newest state, never a stale one. One already
  in flight is left to finish, and the new message queues behind it.
* A lane can be asked about: ``has_open_message`` says whether an aggregate still has a message for a
  destination that is not finished — pending (a retry or a reply parked awaiting its acknowledgement is
  pending too), or in flight — counting the transaction's own appends and outcomes; delivered,
  superseded and dead-lettered messages are finished.
* A batch claim (``claim_batch``) takes several due lane heads of the given kinds at once, under the
  same rule: never a message behind an unfinished one of its lane.
* A claim is a lease: ``release_leases`` (on restart) or lease expiry returns it to pending, so a message
  is never lost with the process that claimed it.
* Uniqueness is enforced by the store (inbox ids, idempotency keys), not by check-then-insert in callers.
* An aggregate saved as a model (``save_model``, frozen pydantic models only) reads back equal to it,
  through ``load_model`` or, as its JSON document, through ``load`` and ``aggregates`` — and the other
  way round. Stores of JSON documents get both from :class:`ModelDocuments`; the memory store keeps the
  (immutable) model itself, which spares the simulation a dump and a validation per message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from retailsim.core.models import available_to_promise

Json = dict[str, Any]
M = TypeVar("M", bound=BaseModel)


@dataclass(slots=True)
class IdempotencyRecord:
    scope: str
    key: str
    fingerprint: str
    status: str  # "in_flight" | "done"
    response: Json | None
    created_at: float


@dataclass(slots=True)
class NewMessage:
    """An outgoing command, appended to the outbox inside the transaction that decided it."""

    destination: str
    kind: str
    aggregate_id: str
    correlation_id: str
    payload: Json
    available_at: float
    # Latest wins: earlier pending messages of this kind in this lane are superseded (see the docstring).
    supersedes_pending: bool = False


@dataclass(slots=True)
class OutboxMessage:
    seq: int
    destination: str
    kind: str
    aggregate_id: str
    correlation_id: str
    payload: Json
    available_at: float
    attempts: int = 0  # deliveries started: each claim counts one
    status: str = "pending"  # pending | in_flight | delivered | superseded | dead
    last_error: str = ""
    lease_until: float = 0.0


@dataclass(slots=True)
class DeadLetter:
    dlq_id: int
    seq: int
    destination: str
    kind: str
    aggregate_id: str
    correlation_id: str
    payload: Json
    reason: str
    attempts: int
    dead_at: float
    status: str = "dead"  # dead | replayed
    replayed_at: float | None = None


@dataclass(slots=True)
class Position:
    """Mutable inventory row; ``InventoryPosition`` is its frozen canonical twin for callers."""

    sku: str
    location: str
    on_hand: int
    reserved: int
    safety_stock: int = 0

    @property
    def available(self) -> int:
        return available_to_promise(self.on_hand, self.reserved, self.safety_stock)


@dataclass(slots=True)
class OutboxStats:
    pending: int = 0
    in_flight: int = 0
    by_destination: dict[str, int] = field(default_factory=dict)


class ConcurrencyConflict(Exception):
    """Another writer won (a unique key already exists, or a version moved). Safe to retry."""


class StoreUnavailable(Exception):
    """The store could not give this request a connection in time, or could not be reached: nothing of
    the request is known to be committed, and its idempotency key makes a retry safe. The API answers
    503 with Retry-After (never 500: it is the database's state, not a bug)."""


class Transaction(Protocol):
    def get_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None: ...

    def put_idempotency(self, record: IdempotencyRecord, *, create: bool) -> None:
        """Insert (``create=True``; raises ConcurrencyConflict when the key exists) or overwrite."""

    def add_inbox(self, source: str, event_id: str, now: float) -> bool:
        """Record an inbound event id; False when it was seen before."""

    def load(self, kind: str, aggregate_id: str) -> Json | None: ...

    def save(self, kind: str, aggregate_id: str, document: Json, now: float, *, create: bool = False) -> None:
        """Upsert the aggregate's document; with ``create=True`` insert only, raising ConcurrencyConflict
        when the aggregate exists (committed by another writer meanwhile) and leaving the transaction usable."""

    def load_model(self, kind: str, aggregate_id: str, model: type[M]) -> M | None:
        """The aggregate validated as ``model`` (None when absent)."""

    def save_model(
        self, kind: str, aggregate_id: str, value: BaseModel, now: float, *, create: bool = False
    ) -> None:
        """Save a frozen model as the aggregate's document (TypeError for a model that is not frozen);
        ``create`` as for ``save``."""

    def get_position(self, sku: str, location: str) -> Position | None: ...

    def put_position(self, position: Position) -> None: ...

    def append(self, message: NewMessage) -> None:
        """Add a message to the outbox at commit; with ``supersedes_pending``, the pending messages of its
        (destination, aggregate, kind) are superseded in the same commit (latest wins)."""

    def complete(self, seq: int) -> None:
        """Mark an in-flight message delivered (its successor for the aggregate becomes claimable)."""

    def retry_later(self, seq: int, available_at: float, attempts: int, error: str) -> None: ...

    def dead_letter(self, seq: int, reason: str, attempts: int, now: float) -> None: ...

    def has_open_message(self, destination: str, aggregate_id: str) -> bool:
        """Whether the aggregate's lane to ``destination`` holds an unfinished message (pending — parked
        included — or in flight), as this transaction would leave it."""


def require_frozen(value: BaseModel) -> None:
    """Only immutable models may be saved: a store may hand the same object to every later reader."""
    if not value.model_config.get("frozen"):
        raise TypeError(f"{type(value).__name__} is not a frozen model; save its document instead")


class ModelDocuments:
    """``load_model`` and ``save_model`` for a transaction that stores JSON documents."""

    def load(self, kind: str, aggregate_id: str) -> Json | None:
        raise NotImplementedError

    def save(self, kind: str, aggregate_id: str, document: Json, now: float, *, create: bool = False) -> None:
        raise NotImplementedError

    def load_model(self, kind: str, aggregate_id: str, model: type[M]) -> M | None:
        document = self.load(kind, aggregate_id)
        return model.model_validate(document) if document is not None else None

    def save_model(
        self, kind: str, aggregate_id: str, value: BaseModel, now: float, *, create: bool = False
    ) -> None:
        require_frozen(value)
        self.save(kind, aggregate_id, value.model_dump(mode="json"), now, create=create)


class Store(Protocol):
    def transaction(self) -> AbstractContextManager[Transaction]: ...

    def claim_next(self, destination: str, now: float, lease_s: float) -> OutboxMessage | None:
        """Atomically take the oldest due, unblocked message for a destination, as a lease."""

    def claim_batch(
        self, destination: str, kinds: frozenset[str], now: float, lease_s: float, limit: int
    ) -> list[OutboxMessage]:
        """Atomically take up to ``limit`` due, unblocked messages of ``kinds`` for a destination, oldest
        due first, each as a lease (a collection's companions of a message ``claim_next`` took). Only lane
        heads qualify, as for ``claim_next``: per-lane order holds however many are taken together."""

    def next_due_at(self, destination: str) -> float | None:
        """When the next pending message of a destination becomes due (None when there is none)."""

    def release_leases(self) -> int:
        """Return every in-flight message to pending (after a restart); the count released."""

    def replay_dead_letter(self, dlq_id: int, now: float) -> OutboxMessage | None:
        """Put a dead letter back in the outbox as a fresh message; None if unknown or replayed."""

    def dead_letters(self) -> list[DeadLetter]: ...

    def outbox_stats(self) -> OutboxStats: ...

    def backlog(self, destination: str | None = None) -> int:
        """Messages not yet delivered or dead, for one destination or all."""

    def aggregates(self, kind: str) -> Iterator[tuple[str, Json]]:
        """Every aggregate of a kind, ordered by id (reconciliation and reports)."""

    def positions(self) -> list[Position]: ...

    def destinations(self) -> list[str]: ...

    def close(self) -> None: ...
