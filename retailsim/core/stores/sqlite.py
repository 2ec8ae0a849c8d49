"""SQLite store: the embedded default for ``retailsim serve`` — durable, zero set-up, one process.

Rules kept: every transaction is ``BEGIN IMMEDIATE`` (one writer, no lost updates); uniqueness comes
from primary keys (inbox, idempotency), never from check-then-insert; WAL journal with
``synchronous=NORMAL`` survives a killed process (what "accepted means durable" needs; power loss is
out of scope for an embedded default — use PostgreSQL). One connection guarded by a lock, so the store
may be shared by the threads of an ASGI server.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from retailsim.core.jsoncodec import dumps
from retailsim.core.stores.base import (
    ConcurrencyConflict,
    DeadLetter,
    IdempotencyRecord,
    Json,
    ModelDocuments,
    NewMessage,
    OutboxMessage,
    OutboxStats,
    Position,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status TEXT NOT NULL,
    response TEXT, created_at REAL NOT NULL, PRIMARY KEY (scope, key));
CREATE TABLE IF NOT EXISTS inbox (
    source TEXT NOT NULL, event_id TEXT NOT NULL, seen_at REAL NOT NULL, PRIMARY KEY (source, event_id));
CREATE TABLE IF NOT EXISTS aggregates (
    kind TEXT NOT NULL, id TEXT NOT NULL, document TEXT NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (kind, id));
CREATE TABLE IF NOT EXISTS positions (
    sku TEXT NOT NULL, location TEXT NOT NULL, on_hand INTEGER NOT NULL, reserved INTEGER NOT NULL,
    safety_stock INTEGER NOT NULL, PRIMARY KEY (sku, location));
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, destination TEXT NOT NULL, kind TEXT NOT NULL,
    aggregate_id TEXT NOT NULL, correlation_id TEXT NOT NULL, payload TEXT NOT NULL,
    available_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending', last_error TEXT NOT NULL DEFAULT '',
    lease_until REAL NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS outbox_open ON outbox (destination, status, available_at);
CREATE INDEX IF NOT EXISTS outbox_lane ON outbox (destination, aggregate_id, seq) WHERE status IN ('pending', 'in_flight');
CREATE TABLE IF NOT EXISTS dead_letters (
    dlq_id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL, destination TEXT NOT NULL,
    kind TEXT NOT NULL, aggregate_id TEXT NOT NULL, correlation_id TEXT NOT NULL, payload TEXT NOT NULL,
    reason TEXT NOT NULL, attempts INTEGER NOT NULL, dead_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'dead', replayed_at REAL);
"""

_OUTBOX_COLUMNS = (
    "seq, destination, kind, aggregate_id, correlation_id, payload, available_at, attempts, status, "
    "last_error, lease_until"
)


def _message(row: tuple[Any, ...]) -> OutboxMessage:
    return OutboxMessage(
        seq=row[0],
        destination=row[1],
        kind=row[2],
        aggregate_id=row[3],
        correlation_id=row[4],
        payload=json.loads(row[5]),
        available_at=row[6],
        attempts=row[7],
        status=row[8],
        last_error=row[9],
        lease_until=row[10],
    )


class _SqliteTransaction(ModelDocuments):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        row = self._conn.execute(
            "SELECT fingerprint, status, response, created_at FROM idempotency WHERE scope=? AND key=?",
            (scope, key),
        ).fetchone()
        if row is None:
            return None
        return IdempotencyRecord(scope, key, row[0], row[1], json.loads(row[2]) if row[2] else None, row[3])

    def put_idempotency(self, record: IdempotencyRecord, *, create: bool) -> None:
        values = (
            record.scope,
            record.key,
            record.fingerprint,
            record.status,
            dumps(record.response) if record.response is not None else None,
            record.created_at,
        )
        if create:
            try:
                self._conn.execute("INSERT INTO idempotency VALUES (?, ?, ?, ?, ?, ?)", values)
            except sqlite3.IntegrityError as exc:
                raise ConcurrencyConflict(f"idempotency key {record.key!r} exists") from exc
        else:
            self._conn.execute("INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?, ?)", values)

    def add_inbox(self, source: str, event_id: str, now: float) -> bool:
        cursor = self._conn.execute(
            "INSERT OR IGNORE INTO inbox (source, event_id, seen_at) VALUES (?, ?, ?)",
            (source, event_id, now),
        )
        return cursor.rowcount == 1

    def load(self, kind: str, aggregate_id: str) -> Json | None:
        row = self._conn.execute(
            "SELECT document FROM aggregates WHERE kind=? AND id=?", (kind, aggregate_id)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def save(self, kind: str, aggregate_id: str, document: Json, now: float, *, create: bool = False) -> None:
        values = (kind, aggregate_id, dumps(document), now)
        if create:
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO aggregates (kind, id, document, updated_at) VALUES (?, ?, ?, ?)", values
            )
            if cursor.rowcount != 1:
                raise ConcurrencyConflict(f"{kind} {aggregate_id!r} exists")
            return
        self._conn.execute(
            "INSERT INTO aggregates (kind, id, document, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (kind, id) DO UPDATE SET document=excluded.document, updated_at=excluded.updated_at",
            values,
        )

    def get_position(self, sku: str, location: str) -> Position | None:
        row = self._conn.execute(
            "SELECT on_hand, reserved, safety_stock FROM positions WHERE sku=? AND location=?",
            (sku, location),
        ).fetchone()
        return Position(sku, location, row[0], row[1], row[2]) if row else None

    def put_position(self, position: Position) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?, ?)",
            (position.sku, position.location, position.on_hand, position.reserved, position.safety_stock),
        )

    def append(self, message: NewMessage) -> None:
        self._conn.execute(
            "INSERT INTO outbox (destination, kind, aggregate_id, correlation_id, payload, available_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                message.destination,
                message.kind,
                message.aggregate_id,
                message.correlation_id,
                dumps(message.payload),
                message.available_at,
            ),
        )

    def complete(self, seq: int) -> None:
        self._conn.execute("UPDATE outbox SET status='delivered' WHERE seq=?", (seq,))

    def retry_later(self, seq: int, available_at: float, attempts: int, error: str) -> None:
        self._conn.execute(
            "UPDATE outbox SET status='pending', available_at=?, attempts=?, last_error=? WHERE seq=?",
            (available_at, attempts, error[:500], seq),
        )

    def dead_letter(self, seq: int, reason: str, attempts: int, now: float) -> None:
        self._conn.execute(
            "INSERT INTO dead_letters (seq, destination, kind, aggregate_id, correlation_id, payload, reason, "
            "attempts, dead_at) SELECT seq, destination, kind, aggregate_id, correlation_id, payload, ?, ?, ? "
            "FROM outbox WHERE seq=?",
            (reason[:500], attempts, now, seq),
        )
        self._conn.execute("UPDATE outbox SET status='dead', attempts=? WHERE seq=?", (attempts, seq))


class SqliteStore:
    """A ``Store`` in one SQLite file (or ``:memory:`` for tests)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.executescript(SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[_SqliteTransaction]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTransaction(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def claim_next(self, destination: str, now: float, lease_s: float) -> OutboxMessage | None:
        with self.transaction():
            # Expired leases come back first: their holder died or hung.
            self._conn.execute(
                "UPDATE outbox SET status='pending' WHERE destination=? AND status='in_flight' AND lease_until<?",
                (destination, now),
            )
            row = self._conn.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox o WHERE destination=? AND status='pending' "
                "AND available_at<=? AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.destination=o.destination "
                "AND e.aggregate_id=o.aggregate_id AND e.seq<o.seq AND e.status IN ('pending','in_flight')) "
                "ORDER BY available_at, seq LIMIT 1",
                (destination, now),
            ).fetchone()
            if row is None:
                return None
            self._conn.execute(
                "UPDATE outbox SET status='in_flight', attempts=attempts+1, lease_until=? WHERE seq=?",
                (now + lease_s, row[0]),
            )
        message = _message(row)
        message.attempts += 1
        message.status = "in_flight"
        message.lease_until = now + lease_s
        return message

    def next_due_at(self, destination: str) -> float | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT MIN(available_at) FROM outbox o WHERE destination=? AND status='pending' AND NOT EXISTS "
                "(SELECT 1 FROM outbox e WHERE e.destination=o.destination AND e.aggregate_id=o.aggregate_id "
                "AND e.seq<o.seq AND e.status IN ('pending','in_flight'))",
                (destination,),
            ).fetchone()
        return row[0] if row else None

    def release_leases(self) -> int:
        with self.transaction():
            cursor = self._conn.execute("UPDATE outbox SET status='pending' WHERE status='in_flight'")
        return cursor.rowcount

    def replay_dead_letter(self, dlq_id: int, now: float) -> OutboxMessage | None:
        with self.transaction():
            row = self._conn.execute(
                "SELECT destination, kind, aggregate_id, correlation_id, payload FROM dead_letters "
                "WHERE dlq_id=? AND status='dead'",
                (dlq_id,),
            ).fetchone()
            if row is None:
                return None
            self._conn.execute(
                "UPDATE dead_letters SET status='replayed', replayed_at=? WHERE dlq_id=?", (now, dlq_id)
            )
            cursor = self._conn.execute(
                "INSERT INTO outbox (destination, kind, aggregate_id, correlation_id, payload, available_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (*row, now),
            )
            new = self._conn.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE seq=?", (cursor.lastrowid,)
            ).fetchone()
        return _message(new)

    def dead_letters(self) -> list[DeadLetter]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT dlq_id, seq, destination, kind, aggregate_id, correlation_id, payload, reason, attempts, "
                "dead_at, status, replayed_at FROM dead_letters ORDER BY dlq_id"
            ).fetchall()
        return [
            DeadLetter(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7], r[8], r[9], r[10], r[11])
            for r in rows
        ]

    def outbox_stats(self) -> OutboxStats:
        stats = OutboxStats()
        with self._lock:
            rows = self._conn.execute(
                "SELECT destination, status, COUNT(*) FROM outbox WHERE status IN ('pending','in_flight') "
                "GROUP BY destination, status ORDER BY destination"
            ).fetchall()
        for destination, status, count in rows:
            if status == "pending":
                stats.pending += count
            else:
                stats.in_flight += count
            stats.by_destination[destination] = stats.by_destination.get(destination, 0) + count
        return stats

    def backlog(self, destination: str | None = None) -> int:
        stats = self.outbox_stats()
        if destination is not None:
            return stats.by_destination.get(destination, 0)
        return stats.pending + stats.in_flight

    def aggregates(self, kind: str) -> Iterator[tuple[str, Json]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, document FROM aggregates WHERE kind=? ORDER BY id", (kind,)
            ).fetchall()
        for aggregate_id, document in rows:
            yield aggregate_id, json.loads(document)

    def positions(self) -> list[Position]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT sku, location, on_hand, reserved, safety_stock FROM positions ORDER BY sku, location"
            ).fetchall()
        return [Position(*row) for row in rows]

    def destinations(self) -> list[str]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT destination FROM outbox ORDER BY destination"
            ).fetchall()
        return [row[0] for row in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
