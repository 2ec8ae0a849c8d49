"""In-memory store: the simulation's default, and the model of a disk.

It survives a simulated core crash because the runtime keeps the store object and throws away only the
core process (its breakers, buckets and in-flight work), exactly as a real crash keeps the database.
Transactions buffer their writes and apply them at commit, so a block that raises leaves nothing behind.
Outbox ordering per (destination, aggregate) is kept with one FIFO per pair and a heap of due heads; a
message that supersedes pending ones walks its own FIFO only (a lane holds a few messages).
A finished message (delivered or superseded) is forgotten at once: no reader of the ``Store`` protocol asks
about one, and in a flash sale every order is in flight at once, so what the store keeps per order is
what bounds a run (the SQL stores keep the row, marked, on disk). Pending, in-flight and dead-lettered
messages are never dropped; a dead letter keeps what a replay needs.
An aggregate saved as a JSON document is kept flat (its keys and values in one tuple) and read back as a
new dict. An aggregate saved as a model is kept as that (frozen) model: ``load_model`` hands it back
without a JSON round trip, and ``load``/``aggregates`` give its JSON document, as a database would; its
fields-sets are shared with every equal one (``core/frozen.share_fields_sets``: a set per model was the
largest item of a run's memory). A model saved insert-only (``create=True``: written once, never
rewritten — the order as the storefront sent it) is kept as its JSON text instead, read back by
validating it as the SQL stores do: a third of the model's memory, for a validation per (rare) read.
"""

from __future__ import annotations

import heapq
import json
from collections import deque
from collections.abc import Iterator
from dataclasses import fields
from operator import attrgetter
from types import MappingProxyType, TracebackType
from typing import Any, cast

from pydantic import BaseModel

from retailsim.core.frozen import share_fields_sets
from retailsim.core.stores.base import (
    ConcurrencyConflict,
    DeadLetter,
    IdempotencyRecord,
    Json,
    M,
    NewMessage,
    OutboxMessage,
    OutboxStats,
    Position,
    require_frozen,
)


class _Flat(tuple):  # type: ignore[type-arg]
    """A JSON document at rest: its keys and values after each other in one tuple (a dict is 184 bytes from
    its first key: most documents saved as such have one or two — a tracking code's order); read back as a
    new dict, as a database hands out a new document."""

    __slots__ = ()


# What the memory "disk" keeps per aggregate: a JSON document (flat), a frozen model saved as one, or (a
# model saved insert-only) the model's JSON text.
Stored = _Flat | BaseModel | str


def _flat(document: Json) -> _Flat:
    return _Flat(item for pair in document.items() for item in pair)


def _document(value: Stored) -> Json:
    if isinstance(value, _Flat):
        return dict(zip(value[::2], value[1::2], strict=True))
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    document: Json = json.loads(value)
    return document

# An idempotency record at rest, filed under its scope and key: (fingerprint, status, response kept flat,
# created at) — not the record and its response dict; ``get_idempotency`` builds a new record.
_KeptRecord = tuple[str, str, _Flat | None, float]


def _kept(record: IdempotencyRecord) -> _KeptRecord:
    response = None if record.response is None else _flat(record.response)
    return (record.fingerprint, record.status, response, record.created_at)


def _record(scope: str, key: str, kept: _KeptRecord) -> IdempotencyRecord:
    fingerprint, status, response, created_at = kept
    return IdempotencyRecord(
        scope, key, fingerprint, status, None if response is None else _document(response), created_at
    )


_MESSAGE_FIELDS = attrgetter(*(f.name for f in fields(OutboxMessage)))


def _detached(message: OutboxMessage) -> OutboxMessage:
    """A copy for the caller, as a database row would be: changing it does not change the outbox.

    Built field by field: ``copy.copy`` of a slotted dataclass goes through ``__reduce_ex__`` and was one
    of the larger costs of a simulation (one copy per claim).
    """
    return OutboxMessage(*_MESSAGE_FIELDS(message))


# A transaction's write buffers start as these shared empty containers and get their own on the first
# write: most transactions of a run only read, and six fresh containers each cost more than the reads.
# They are read-only underneath (a write to one raises), so a forgotten copy cannot leak between
# transactions.
_NO_WRITES = cast(dict[Any, Any], MappingProxyType({}))
_NO_INBOX = cast(set[Any], frozenset())
_NO_ITEMS = cast(list[Any], ())


class _MemoryTransaction:
    __slots__ = ("_appends", "_docs", "_idempotency", "_inbox", "_outcomes", "_positions", "_store")

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._idempotency: dict[tuple[str, str], IdempotencyRecord] = _NO_WRITES
        self._inbox: set[tuple[str, str]] = _NO_INBOX
        self._docs: dict[tuple[str, str], Stored] = _NO_WRITES
        self._positions: dict[tuple[str, str], Position] = _NO_WRITES
        self._appends: list[NewMessage] = _NO_ITEMS
        self._outcomes: list[tuple[str, int, tuple[Any, ...]]] = _NO_ITEMS

    def _written_idempotency(self) -> dict[tuple[str, str], IdempotencyRecord]:
        if self._idempotency is _NO_WRITES:
            self._idempotency = {}
        return self._idempotency

    def _written_docs(self) -> dict[tuple[str, str], Stored]:
        if self._docs is _NO_WRITES:
            self._docs = {}
        return self._docs

    def _written_positions(self) -> dict[tuple[str, str], Position]:
        if self._positions is _NO_WRITES:
            self._positions = {}
        return self._positions

    def _outcome(self, outcome: tuple[str, int, tuple[Any, ...]]) -> None:
        if self._outcomes is _NO_ITEMS:
            self._outcomes = []
        self._outcomes.append(outcome)

    def get_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        found = self._idempotency.get((scope, key))
        if found is None:
            kept = self._store._idempotency.get(scope, {}).get(key)
            found = None if kept is None else _record(scope, key, kept)
        return found

    def put_idempotency(self, record: IdempotencyRecord, *, create: bool) -> None:
        k = (record.scope, record.key)
        kept = self._store._idempotency.get(record.scope, {})
        if create and (k in self._idempotency or record.key in kept):
            raise ConcurrencyConflict(f"idempotency key {record.key!r} exists")
        self._written_idempotency()[k] = record

    def add_inbox(self, source: str, event_id: str, now: float) -> bool:
        k = (source, event_id)
        if k in self._inbox or event_id in self._store._inbox.get(source, ()):
            return False
        if self._inbox is _NO_INBOX:
            self._inbox = set()
        self._inbox.add(k)
        return True

    def _stored(self, kind: str, aggregate_id: str) -> Stored | None:
        k = (kind, aggregate_id)
        if k in self._docs:
            return self._docs[k]
        of_kind = self._store._docs.get(kind)
        return None if of_kind is None else of_kind.get(aggregate_id)

    def load(self, kind: str, aggregate_id: str) -> Json | None:
        value = self._stored(kind, aggregate_id)
        return _document(value) if value is not None else None

    def save(self, kind: str, aggregate_id: str, document: Json, now: float, *, create: bool = False) -> None:
        if create:
            self._refuse_existing(kind, aggregate_id)
        self._written_docs()[(kind, aggregate_id)] = _flat(document)

    def _refuse_existing(self, kind: str, aggregate_id: str) -> None:
        if self._stored(kind, aggregate_id) is not None:
            raise ConcurrencyConflict(f"{kind} {aggregate_id!r} exists")

    def load_model(self, kind: str, aggregate_id: str, model: type[M]) -> M | None:
        value = self._stored(kind, aggregate_id)
        if value is None:
            return None
        if isinstance(value, model):
            return value  # frozen, so sharing it is as safe as a copy
        if isinstance(value, str):
            return model.model_validate_json(value)
        return model.model_validate(_document(value))

    def save_model(
        self, kind: str, aggregate_id: str, value: BaseModel, now: float, *, create: bool = False
    ) -> None:
        require_frozen(value)
        if create:
            # Insert-only: written once, kept for the run, read by the few commands that render it (the
            # order as the storefront sent it) — kept as its JSON text, a third of the model's memory.
            self._refuse_existing(kind, aggregate_id)
            self._written_docs()[(kind, aggregate_id)] = value.model_dump_json()
            return
        share_fields_sets(value)  # kept for the run: its fields-sets shared with every model alike
        self._written_docs()[(kind, aggregate_id)] = value

    def get_position(self, sku: str, location: str) -> Position | None:
        k = (sku, location)
        if k in self._positions:
            return self._positions[k]
        found = self._store._positions.get(k)
        if found is None:
            return None
        mine = Position(found.sku, found.location, found.on_hand, found.reserved, found.safety_stock)
        self._written_positions()[k] = mine
        return mine

    def put_position(self, position: Position) -> None:
        self._written_positions()[(position.sku, position.location)] = position

    def append(self, message: NewMessage) -> None:
        if self._appends is _NO_ITEMS:
            self._appends = []
        self._appends.append(message)

    def complete(self, seq: int) -> None:
        self._outcome(("complete", seq, ()))

    def retry_later(self, seq: int, available_at: float, attempts: int, error: str) -> None:
        self._outcome(("retry", seq, (available_at, attempts, error)))

    def dead_letter(self, seq: int, reason: str, attempts: int, now: float) -> None:
        self._outcome(("dead", seq, (reason, attempts, now)))

    def has_open_message(self, destination: str, aggregate_id: str) -> bool:
        if any(m.destination == destination and m.aggregate_id == aggregate_id for m in self._appends):
            return True
        finished = {seq for outcome, seq, _ in self._outcomes if outcome != "retry"}
        lane = self._store._lanes.get((destination, aggregate_id), ())
        return any(seq not in finished for seq in lane)

    def __enter__(self) -> _MemoryTransaction:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self._commit()

    def _commit(self) -> None:
        store = self._store
        for (scope, key), record in self._idempotency.items():
            of_scope = store._idempotency.get(scope)
            if of_scope is None:
                of_scope = store._idempotency[scope] = {}
            of_scope[key] = _kept(record)
        for source, event_id in self._inbox:
            seen = store._inbox.get(source)
            if seen is None:
                seen = store._inbox[source] = set()
            seen.add(event_id)
        for (kind, aggregate_id), value in self._docs.items():
            of_kind = store._docs.get(kind)
            if of_kind is None:
                of_kind = store._docs[kind] = {}
            of_kind[aggregate_id] = value
        if self._positions:
            store._positions.update(self._positions)
        for outcome, seq, args in self._outcomes:
            if outcome == "complete":
                store._finish(seq, "delivered")
            elif outcome == "retry":
                store._reschedule(seq, *args)
            else:
                store._bury(seq, *args)
        for message in self._appends:
            store._append(message)


class MemoryStore:
    """A ``Store`` in process memory. Not thread-safe: the simulation is single-threaded."""

    def __init__(self) -> None:
        # Idempotency records by scope, then key, each kept as a tuple (``_kept``).
        self._idempotency: dict[str, dict[str, _KeptRecord]] = {}
        # The inbox, one set of event ids per source: a (source, id) pair per event was a tuple an event.
        self._inbox: dict[str, set[str]] = {}
        # Aggregates by kind, then id: a (kind, id) tuple per aggregate was three tuples an order.
        self._docs: dict[str, dict[str, Stored]] = {}
        self._positions: dict[tuple[str, str], Position] = {}
        self._messages: dict[int, OutboxMessage] = {}
        self._lanes: dict[tuple[str, str], deque[int]] = {}
        self._due: dict[str, list[tuple[float, int]]] = {}
        self._dead: dict[int, DeadLetter] = {}
        self._seq = 0
        self._dlq_seq = 0
        self._in_flight = 0
        self._open_by_destination: dict[str, int] = {}

    def transaction(self) -> _MemoryTransaction:
        # The transaction is its own context manager: a generator-based one costs more than the work of
        # most transactions here, and the simulation opens several per message.
        return _MemoryTransaction(self)

    # ---- outbox internals -------------------------------------------------------------------------

    def _append(self, new: NewMessage) -> None:
        if new.supersedes_pending:
            self._supersede(new)
        self._seq += 1
        message = OutboxMessage(
            seq=self._seq,
            destination=new.destination,
            kind=new.kind,
            aggregate_id=new.aggregate_id,
            correlation_id=new.correlation_id,
            payload=new.payload,
            available_at=new.available_at,
        )
        self._messages[message.seq] = message
        self._open_by_destination[new.destination] = self._open_by_destination.get(new.destination, 0) + 1
        key = (new.destination, new.aggregate_id)
        lane = self._lanes.get(key)
        if lane:
            lane.append(message.seq)
        else:  # the lane's first message: it is due on its own
            self._lanes[key] = deque((message.seq,))
            heapq.heappush(self._due.setdefault(new.destination, []), (message.available_at, message.seq))

    def _supersede(self, new: NewMessage) -> None:
        """Finish the pending (unclaimed) messages of ``new``'s lane and kind: ``new`` carries the newer state."""
        lane = self._lanes.get((new.destination, new.aggregate_id))
        if not lane:
            return
        stale = [
            seq
            for seq in lane
            if self._messages[seq].kind == new.kind and self._messages[seq].status == "pending"
        ]
        for seq in stale:
            self._finish(seq, "superseded")

    def _finish(self, seq: int, status: str) -> None:
        message = self._messages.pop(seq, None)
        if message is None:
            return
        if message.status == "in_flight":
            self._in_flight -= 1
        self._open_by_destination[message.destination] -= 1
        message.status = status
        key = (message.destination, message.aggregate_id)
        lane = self._lanes[key]
        if lane and lane[0] == seq:
            lane.popleft()
        else:
            lane.remove(seq)
        if lane:
            head = self._messages[lane[0]]
            heapq.heappush(self._due[message.destination], (head.available_at, head.seq))
        else:
            del self._lanes[key]

    def _reschedule(self, seq: int, available_at: float, attempts: int, error: str) -> None:
        message = self._messages.get(seq)
        if message is None:
            return
        if message.status == "in_flight":
            self._in_flight -= 1
        message.status = "pending"
        message.available_at = available_at
        message.attempts = attempts
        message.last_error = error
        heapq.heappush(self._due[message.destination], (available_at, seq))

    def _bury(self, seq: int, reason: str, attempts: int, now: float) -> None:
        message = self._messages.get(seq)
        if message is None:
            return
        self._dlq_seq += 1
        self._dead[self._dlq_seq] = DeadLetter(
            dlq_id=self._dlq_seq,
            seq=seq,
            destination=message.destination,
            kind=message.kind,
            aggregate_id=message.aggregate_id,
            correlation_id=message.correlation_id,
            payload=message.payload,
            reason=reason,
            attempts=attempts,
            dead_at=now,
        )
        self._finish(seq, "dead")

    # ---- Store API --------------------------------------------------------------------------------

    def _due_head(self, destination: str, heap: list[tuple[float, int]]) -> OutboxMessage | None:
        """The message at the top of a destination's due heap once stale entries are dropped (no longer
        pending, moved to another time, or not the head of its lane): None when the heap is empty."""
        while heap:
            available_at, seq = heap[0]
            message = self._messages.get(seq)
            if (
                message is None
                or message.status != "pending"
                or message.available_at != available_at
                or self._lanes[(destination, message.aggregate_id)][0] != seq
            ):
                heapq.heappop(heap)  # stale heap entry
                continue
            return message
        return None

    def _lease(self, message: OutboxMessage, now: float, lease_s: float) -> OutboxMessage:
        message.status = "in_flight"
        message.attempts += 1
        message.lease_until = now + lease_s
        self._in_flight += 1
        return _detached(message)

    def claim_next(self, destination: str, now: float, lease_s: float) -> OutboxMessage | None:
        heap = self._due.get(destination)
        if heap is None:
            return None
        message = self._due_head(destination, heap)
        if message is None or message.available_at > now:
            return None
        heapq.heappop(heap)
        return self._lease(message, now, lease_s)

    def claim_batch(
        self, destination: str, kinds: frozenset[str], now: float, lease_s: float, limit: int
    ) -> list[OutboxMessage]:
        heap = self._due.get(destination)
        if heap is None:
            return []
        claimed: list[OutboxMessage] = []
        passed_over: list[tuple[float, int]] = []  # due heads of other kinds: left for claim_next
        while len(claimed) < limit:
            message = self._due_head(destination, heap)
            if message is None or message.available_at > now:
                break
            entry = heapq.heappop(heap)
            if message.kind not in kinds:
                passed_over.append(entry)
                continue
            claimed.append(self._lease(message, now, lease_s))
        for entry in passed_over:
            heapq.heappush(heap, entry)
        return claimed

    def next_due_at(self, destination: str) -> float | None:
        heap = self._due.get(destination)
        while heap:
            available_at, seq = heap[0]
            message = self._messages.get(seq)
            if message is None or message.status != "pending" or message.available_at != available_at:
                heapq.heappop(heap)
                continue
            return available_at
        return None

    def release_leases(self) -> int:
        released = 0
        for message in self._messages.values():
            if message.status == "in_flight":
                message.status = "pending"
                self._in_flight -= 1
                released += 1
                lane = self._lanes[(message.destination, message.aggregate_id)]
                if lane[0] == message.seq:
                    heapq.heappush(self._due[message.destination], (message.available_at, message.seq))
        return released

    def replay_dead_letter(self, dlq_id: int, now: float) -> OutboxMessage | None:
        dead = self._dead.get(dlq_id)
        if dead is None or dead.status != "dead":
            return None
        dead.status = "replayed"
        dead.replayed_at = now
        self._append(
            NewMessage(dead.destination, dead.kind, dead.aggregate_id, dead.correlation_id, dead.payload, now)
        )
        return _detached(self._messages[self._seq])

    def dead_letters(self) -> list[DeadLetter]:
        return [self._dead[k] for k in sorted(self._dead)]

    def outbox_stats(self) -> OutboxStats:
        stats = OutboxStats(in_flight=self._in_flight)
        stats.pending = len(self._messages) - self._in_flight
        for message in self._messages.values():
            stats.by_destination[message.destination] = stats.by_destination.get(message.destination, 0) + 1
        return stats

    def backlog(self, destination: str | None = None) -> int:
        """Messages not yet delivered or dead, for one destination or all (constant time)."""
        if destination is None:
            return len(self._messages)
        return self._open_by_destination.get(destination, 0)

    def aggregates(self, kind: str) -> Iterator[tuple[str, Json]]:
        of_kind = self._docs.get(kind, {})
        for aggregate_id in sorted(of_kind):
            yield aggregate_id, _document(of_kind[aggregate_id])

    def positions(self) -> list[Position]:
        return [self._positions[k] for k in sorted(self._positions)]

    def destinations(self) -> list[str]:
        return sorted(self._due)

    def close(self) -> None:
        return None
