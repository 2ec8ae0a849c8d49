"""PostgreSQL store: the scale-out ``Store``, shared by several core processes on one database.

What it is for: ``retailsim serve --store postgresql://...`` when more than one core process (or more than
one delivery worker) must share the idempotency records, inbox, aggregates, positions and outbox. It
mirrors ``sqlite.py`` statement for statement; what differs is how it stays correct when writers run at
the same time instead of one after the other.

Rules kept:

* Schema created and migrated by the core on start: every table lives in one PostgreSQL schema (default
  ``retailsim``); ``schema_version`` records the migrations applied, and ``MIGRATIONS`` lists them in
  order, so a later column is a new entry there, never an edit of an old one. Start-up takes an advisory
  lock, so processes starting together migrate once. ``fresh=True`` drops the schema first (tests).
* Uniqueness comes from constraints, never check-then-insert: the inbox is ``INSERT ... ON CONFLICT DO
  NOTHING`` on its primary key (a concurrent duplicate waits for the first writer, then sees the row);
  so is a new idempotency key, and finding the key taken raises ``ConcurrencyConflict`` while the
  surrounding transaction stays usable (the service catches it and answers 409).
* Read-modify-write is safe across processes: ``load``, ``get_position`` and ``get_idempotency`` read
  ``FOR UPDATE``, so the row stays locked until the transaction ends (what SQLite's one-writer
  ``BEGIN IMMEDIATE`` gives for free). A row that does not exist yet cannot be locked; creating paths
  are guarded by the inbox, an idempotency key, or an insert-only ``save(..., create=True)`` (an order
  number exported again under another key). A deadlock or serialization failure is reported as
  ``ConcurrencyConflict`` (safe to retry).
* Claims: ``claim_next`` is one transaction that returns expired leases to pending, then picks the
  oldest due pending message that heads its lane — the earliest pending or in-flight message of its
  (destination, aggregate) — with ``FOR UPDATE OF o SKIP LOCKED``. SKIP LOCKED makes concurrent
  claimers step past a row another claimer is taking instead of queueing behind it (a blocked claimer
  would take the same row a moment later, or nothing), so a row is never handed out twice at once.
  Lanes stay ordered by locking the lane's *head row*: only a head can be claimed, and while claimer A
  holds the head locked (still pending in everyone's snapshot), claimer B skips it and finds the next
  message of that lane blocked by it. A lane's head only moves forward (delivered and dead are final;
  replays and appends take new, higher seqs), so a stale snapshot can only see a lane as more blocked
  than it is, and re-checking ``status='pending'`` on the locked row rejects a head taken meanwhile.
  No advisory lane lock is needed; tests/contract/test_postgres_concurrency.py checks it under load.
* JSON columns are JSONB (object key order is not kept; equality is). Every timestamp is the
  application's ``now`` as DOUBLE PRECISION, never the database clock, so simulated and wall time
  behave the same.
* Listings (aggregates, positions, destinations) sort with ``COLLATE "C"``: code-point order, as the
  memory and SQLite stores sort, whatever the database's locale.
* Connections: a small thread-safe pool (default 4), one connection per transaction, autocommit
  connections with explicit transactions; a broken connection is dropped, not reused.
* Appends announce themselves: every statement that adds an outbox row also runs ``pg_notify`` on the
  schema's channel (``outbox_channel``) with the destination as payload, in the same transaction, so
  PostgreSQL delivers the notice at commit and never for a rolled-back append (duplicates in one
  transaction are folded into one). ``watch_appends`` LISTENs on it: the process that delivers the
  outbox wakes when another process (an API worker) commits work for it, without polling.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors, sql
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb, set_json_dumps

from retailsim.core.jsoncodec import dumps_bytes
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

Connection = psycopg.Connection[TupleRow]

_V1_INITIAL = (
    """CREATE TABLE IF NOT EXISTS idempotency (
        scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status TEXT NOT NULL,
        response JSONB, created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (scope, key))""",
    """CREATE TABLE IF NOT EXISTS inbox (
        source TEXT NOT NULL, event_id TEXT NOT NULL, seen_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (source, event_id))""",
    """CREATE TABLE IF NOT EXISTS aggregates (
        kind TEXT NOT NULL, id TEXT NOT NULL, document JSONB NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (kind, id))""",
    """CREATE TABLE IF NOT EXISTS positions (
        sku TEXT NOT NULL, location TEXT NOT NULL, on_hand INTEGER NOT NULL, reserved INTEGER NOT NULL,
        safety_stock INTEGER NOT NULL, PRIMARY KEY (sku, location))""",
    """CREATE TABLE IF NOT EXISTS outbox (
        seq BIGSERIAL PRIMARY KEY, destination TEXT NOT NULL, kind TEXT NOT NULL,
        aggregate_id TEXT NOT NULL, correlation_id TEXT NOT NULL, payload JSONB NOT NULL,
        available_at DOUBLE PRECISION NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'pending', last_error TEXT NOT NULL DEFAULT '',
        lease_until DOUBLE PRECISION NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS outbox_open ON outbox (destination, status, available_at)",
    """CREATE INDEX IF NOT EXISTS outbox_lane ON outbox (destination, aggregate_id, seq)
        WHERE status IN ('pending', 'in_flight')""",
    """CREATE TABLE IF NOT EXISTS dead_letters (
        dlq_id BIGSERIAL PRIMARY KEY, seq BIGINT NOT NULL, destination TEXT NOT NULL,
        kind TEXT NOT NULL, aggregate_id TEXT NOT NULL, correlation_id TEXT NOT NULL,
        payload JSONB NOT NULL, reason TEXT NOT NULL, attempts INTEGER NOT NULL,
        dead_at DOUBLE PRECISION NOT NULL, status TEXT NOT NULL DEFAULT 'dead',
        replayed_at DOUBLE PRECISION)""",
)

# (version, what it does, statements). Append only: a deployed migration is never edited.
MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = ((1, "initial tables", _V1_INITIAL),)

_OUTBOX_COLUMNS = (
    "seq, destination, kind, aggregate_id, correlation_id, payload, available_at, attempts, status, "
    "last_error, lease_until"
)

# A message heads its lane when it is the earliest open message of its destination and aggregate. Written
# as a correlated scalar subquery, not NOT EXISTS: PostgreSQL runs it per candidate row as one probe of
# ``outbox_lane``, whatever its statistics say. As an anti-join, stale statistics (a fresh, fast-growing
# outbox, autovacuum late or off) made it scan the whole destination for every row — quadratic, 100 ms
# a claim with a few hundred messages waiting.
_HEADS_ITS_LANE = (
    "o.seq = (SELECT MIN(e.seq) FROM outbox e WHERE e.destination=o.destination "
    "AND e.aggregate_id=o.aggregate_id AND e.status IN ('pending','in_flight'))"
)


# Adds one outbox row and announces its destination at commit (one round trip).
_APPEND_AND_NOTIFY = (
    "WITH appended AS (INSERT INTO outbox (destination, kind, aggregate_id, correlation_id, payload, "
    "available_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING destination) "
    "SELECT pg_notify(%s, destination) FROM appended"
)
MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1: longer channel names are refused


def outbox_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel on which a schema's outbox announces appends (destination as payload)."""
    return f"retailsim_outbox_{schema}"[:MAX_IDENTIFIER]


def _message(row: TupleRow) -> OutboxMessage:
    return OutboxMessage(
        seq=row[0],
        destination=row[1],
        kind=row[2],
        aggregate_id=row[3],
        correlation_id=row[4],
        payload=row[5],
        available_at=row[6],
        attempts=row[7],
        status=row[8],
        last_error=row[9],
        lease_until=row[10],
    )


class _ConnectionPool:
    """At most ``size`` connections, each used by one transaction at a time; opened lazily."""

    def __init__(self, url: str, schema: str, size: int, timeout_s: float) -> None:
        self._url = url
        self._schema = schema
        self._timeout_s = timeout_s
        self._slots = threading.BoundedSemaphore(size)
        self._idle: queue.LifoQueue[Connection] = queue.LifoQueue()
        self._closed = False

    def connect(self) -> Connection:
        conn = psycopg.connect(self._url, autocommit=True, connect_timeout=max(1, int(self._timeout_s)))
        try:
            set_json_dumps(dumps_bytes, context=conn)
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self._schema)))
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        if self._closed:
            raise RuntimeError("the PostgreSQL store is closed")
        if not self._slots.acquire(timeout=self._timeout_s):
            raise TimeoutError(f"no PostgreSQL connection free within {self._timeout_s}s")
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self.connect()
            try:
                yield conn
            finally:
                reusable = (
                    not self._closed
                    and not conn.closed
                    and not conn.broken
                    and conn.info.transaction_status == TransactionStatus.IDLE
                )
                if reusable:
                    self._idle.put(conn)
                else:
                    conn.close()
        finally:
            self._slots.release()

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


class _PostgresTransaction(ModelDocuments):
    def __init__(self, conn: Connection, channel: str) -> None:
        self._conn = conn
        self._channel = channel

    def get_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        row = self._conn.execute(
            "SELECT fingerprint, status, response, created_at FROM idempotency "
            "WHERE scope=%s AND key=%s FOR UPDATE",
            (scope, key),
        ).fetchone()
        if row is None:
            return None
        return IdempotencyRecord(scope, key, row[0], row[1], row[2], row[3])

    def put_idempotency(self, record: IdempotencyRecord, *, create: bool) -> None:
        values = (
            record.scope,
            record.key,
            record.fingerprint,
            record.status,
            Jsonb(record.response) if record.response is not None else None,
            record.created_at,
        )
        columns = "(scope, key, fingerprint, status, response, created_at)"
        if create:
            # DO NOTHING rather than a unique violation: the caller's transaction stays usable without a
            # savepoint (two round trips fewer). A concurrent insert of the key waits for its writer.
            inserted = self._conn.execute(
                f"INSERT INTO idempotency {columns} VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING "
                "RETURNING 1",
                values,
            ).fetchone()
            if inserted is None:
                raise ConcurrencyConflict(f"idempotency key {record.key!r} exists")
        else:
            self._conn.execute(
                f"INSERT INTO idempotency {columns} VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (scope, key) DO UPDATE SET fingerprint=excluded.fingerprint, "
                "status=excluded.status, response=excluded.response, created_at=excluded.created_at",
                values,
            )

    def add_inbox(self, source: str, event_id: str, now: float) -> bool:
        inserted = self._conn.execute(
            "INSERT INTO inbox (source, event_id, seen_at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING "
            "RETURNING 1",
            (source, event_id, now),
        ).fetchone()
        return inserted is not None

    def load(self, kind: str, aggregate_id: str) -> Json | None:
        row = self._conn.execute(
            "SELECT document FROM aggregates WHERE kind=%s AND id=%s FOR UPDATE", (kind, aggregate_id)
        ).fetchone()
        if row is None:
            return None
        document: Json = row[0]
        return document

    def save(self, kind: str, aggregate_id: str, document: Json, now: float, *, create: bool = False) -> None:
        values = (kind, aggregate_id, Jsonb(document), now)
        if create:
            # A row that does not exist cannot be locked: two processes may both find an aggregate absent.
            # The primary key decides: the second insert waits for the first writer, then finds the row.
            inserted = self._conn.execute(
                "INSERT INTO aggregates (kind, id, document, updated_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING RETURNING 1",
                values,
            ).fetchone()
            if inserted is None:
                raise ConcurrencyConflict(f"{kind} {aggregate_id!r} exists")
            return
        self._conn.execute(
            "INSERT INTO aggregates (kind, id, document, updated_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (kind, id) DO UPDATE SET document=excluded.document, updated_at=excluded.updated_at",
            values,
        )

    def get_position(self, sku: str, location: str) -> Position | None:
        row = self._conn.execute(
            "SELECT on_hand, reserved, safety_stock FROM positions WHERE sku=%s AND location=%s FOR UPDATE",
            (sku, location),
        ).fetchone()
        return Position(sku, location, row[0], row[1], row[2]) if row else None

    def put_position(self, position: Position) -> None:
        self._conn.execute(
            "INSERT INTO positions (sku, location, on_hand, reserved, safety_stock) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (sku, location) DO UPDATE SET "
            "on_hand=excluded.on_hand, reserved=excluded.reserved, safety_stock=excluded.safety_stock",
            (position.sku, position.location, position.on_hand, position.reserved, position.safety_stock),
        )

    def append(self, message: NewMessage) -> None:
        self._conn.execute(
            _APPEND_AND_NOTIFY,
            (
                message.destination,
                message.kind,
                message.aggregate_id,
                message.correlation_id,
                Jsonb(message.payload),
                message.available_at,
                self._channel,
            ),
        )

    def complete(self, seq: int) -> None:
        self._conn.execute("UPDATE outbox SET status='delivered' WHERE seq=%s", (seq,))

    def retry_later(self, seq: int, available_at: float, attempts: int, error: str) -> None:
        self._conn.execute(
            "UPDATE outbox SET status='pending', available_at=%s, attempts=%s, last_error=%s WHERE seq=%s",
            (available_at, attempts, error[:500], seq),
        )

    def dead_letter(self, seq: int, reason: str, attempts: int, now: float) -> None:
        self._conn.execute(
            "INSERT INTO dead_letters (seq, destination, kind, aggregate_id, correlation_id, payload, reason, "
            "attempts, dead_at) SELECT seq, destination, kind, aggregate_id, correlation_id, payload, "
            "%s, %s, %s FROM outbox WHERE seq=%s",
            (reason[:500], attempts, now, seq),
        )
        self._conn.execute("UPDATE outbox SET status='dead', attempts=%s WHERE seq=%s", (attempts, seq))


class PostgresStore:
    """A ``Store`` in one schema of a PostgreSQL database; safe to share between threads and processes."""

    def __init__(
        self,
        url: str,
        *,
        schema: str = "retailsim",
        fresh: bool = False,
        pool_size: int = 4,
        timeout_s: float = 10.0,
    ) -> None:
        if not schema:
            raise ValueError("empty PostgreSQL schema name")
        self.url = url
        self.schema = schema
        self.channel = outbox_channel(schema)
        self._timeout_s = timeout_s
        self._pool = _ConnectionPool(url, schema, pool_size, timeout_s)
        with self._pool.connection() as conn:
            self._migrate(conn, fresh=fresh)

    def _migrate(self, conn: Connection, *, fresh: bool) -> None:
        schema = sql.Identifier(self.schema)
        with conn.transaction():
            # Processes starting together: one migrates, the others wait and then find nothing to do.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"retailsim.schema:{self.schema}",))
            if fresh:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL)"
            )
            row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
            current = int(row[0]) if row else 0
            for version, description, statements in MIGRATIONS:
                if version <= current:
                    continue
                for statement in statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, description) VALUES (%s, %s)",
                    (version, description),
                )

    def schema_version(self) -> int:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        return int(row[0]) if row else 0

    @contextmanager
    def _connection_in_transaction(self) -> Iterator[Connection]:
        with self._pool.connection() as conn, self._in_transaction(conn):
            yield conn

    @staticmethod
    @contextmanager
    def _in_transaction(conn: Connection) -> Iterator[None]:
        try:
            with conn.transaction():
                yield
        except (errors.DeadlockDetected, errors.SerializationFailure) as exc:
            raise ConcurrencyConflict(f"concurrent writer won: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[_PostgresTransaction]:
        with self._pool.connection() as conn, conn.pipeline(), self._in_transaction(conn):
            yield _PostgresTransaction(conn, self.channel)

    def claim_next(self, destination: str, now: float, lease_s: float) -> OutboxMessage | None:
        with self._connection_in_transaction() as conn:
            # Expired leases come back first: their holder died or hung. Rows another claimer holds are
            # skipped, not waited for.
            conn.execute(
                "UPDATE outbox SET status='pending' WHERE seq IN (SELECT seq FROM outbox WHERE destination=%s "
                "AND status='in_flight' AND lease_until<%s FOR UPDATE SKIP LOCKED)",
                (destination, now),
            )
            row = conn.execute(
                f"SELECT seq FROM outbox o WHERE destination=%s AND status='pending' AND available_at<=%s "
                f"AND {_HEADS_ITS_LANE} ORDER BY available_at, seq LIMIT 1 FOR UPDATE OF o SKIP LOCKED",
                (destination, now),
            ).fetchone()
            if row is None:
                return None
            claimed = conn.execute(
                f"UPDATE outbox SET status='in_flight', attempts=attempts+1, lease_until=%s WHERE seq=%s "
                f"RETURNING {_OUTBOX_COLUMNS}",
                (now + lease_s, row[0]),
            ).fetchone()
        return _message(claimed) if claimed else None

    def next_due_at(self, destination: str) -> float | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                f"SELECT MIN(available_at) FROM outbox o WHERE destination=%s AND status='pending' "
                f"AND {_HEADS_ITS_LANE}",
                (destination,),
            ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def release_leases(self) -> int:
        with self._connection_in_transaction() as conn:
            cursor = conn.execute("UPDATE outbox SET status='pending' WHERE status='in_flight'")
        return cursor.rowcount

    def replay_dead_letter(self, dlq_id: int, now: float) -> OutboxMessage | None:
        with self._connection_in_transaction() as conn:
            row = conn.execute(
                "UPDATE dead_letters SET status='replayed', replayed_at=%s WHERE dlq_id=%s AND status='dead' "
                "RETURNING destination, kind, aggregate_id, correlation_id, payload",
                (now, dlq_id),
            ).fetchone()
            if row is None:
                return None
            new = conn.execute(
                "INSERT INTO outbox (destination, kind, aggregate_id, correlation_id, payload, available_at) "
                f"VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_OUTBOX_COLUMNS}",
                (row[0], row[1], row[2], row[3], Jsonb(row[4]), now),
            ).fetchone()
            conn.execute("SELECT pg_notify(%s, %s)", (self.channel, row[0]))
        return _message(new) if new else None

    def dead_letters(self) -> list[DeadLetter]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT dlq_id, seq, destination, kind, aggregate_id, correlation_id, payload, reason, attempts, "
                "dead_at, status, replayed_at FROM dead_letters ORDER BY dlq_id"
            ).fetchall()
        return [DeadLetter(*row) for row in rows]

    def outbox_stats(self) -> OutboxStats:
        stats = OutboxStats()
        with self._pool.connection() as conn:
            rows = conn.execute(
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
        query = "SELECT COUNT(*) FROM outbox WHERE status IN ('pending','in_flight')"
        params: tuple[Any, ...] = ()
        if destination is not None:
            query += " AND destination=%s"
            params = (destination,)
        with self._pool.connection() as conn:
            row = conn.execute(query, params).fetchone()
        return int(row[0]) if row else 0

    def aggregates(self, kind: str) -> Iterator[tuple[str, Json]]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                'SELECT id, document FROM aggregates WHERE kind=%s ORDER BY id COLLATE "C"', (kind,)
            ).fetchall()
        # Fetched before yielding: a slow consumer must not hold a pooled connection.
        yield from rows

    def positions(self) -> list[Position]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT sku, location, on_hand, reserved, safety_stock FROM positions "
                'ORDER BY sku COLLATE "C", location COLLATE "C"'
            ).fetchall()
        return [Position(*row) for row in rows]

    def destinations(self) -> list[str]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                'SELECT DISTINCT destination FROM outbox ORDER BY destination COLLATE "C"'
            ).fetchall()
        return [row[0] for row in rows]

    def watch_appends(
        self, on_append: Callable[[str | None], None], stop: threading.Event, poll_s: float = 0.5
    ) -> None:
        """Call ``on_append(destination)`` for each commit, by any process, that appended to the outbox.

        Blocks until ``stop`` is set (run it in a thread); ``poll_s`` bounds how late it notices ``stop``.
        Notices sent while it was not listening are lost, so after every (re)connection it calls
        ``on_append(None)``: "anything may have been appended, look at every destination".
        """
        listen = sql.SQL("LISTEN {}").format(sql.Identifier(self.channel))
        while not stop.is_set():
            try:
                with psycopg.connect(
                    self.url, autocommit=True, connect_timeout=max(1, int(self._timeout_s))
                ) as conn:
                    conn.execute(listen)
                    on_append(None)
                    while not stop.is_set():
                        for notice in conn.notifies(timeout=poll_s):
                            on_append(notice.payload)
            except psycopg.OperationalError:
                stop.wait(poll_s)  # the database went away: listen again once it is back

    def close(self) -> None:
        self._pool.close()
