"""PostgreSQL store: the scale-out ``Store``, shared by several core processes on one database.

What it is for: ``retailsim serve --store postgresql://...`` when more than one core process (or more than
one delivery worker) must share the idempotency records, inbox, aggregates, positions and outbox. Its
statements are the shared SQL of ``sql.py`` in the :data:`POSTGRES` dialect, as SQLite's are in its own;
what is PostgreSQL's here is the connection pool, the migrations, LISTEN/NOTIFY, and the dialect: how it
stays correct when writers run at the same time instead of one after the other.

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
from contextlib import contextmanager, nullcontext
from dataclasses import replace

import psycopg
from psycopg import errors, sql
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb, set_json_dumps

from retailsim.core.jsoncodec import dumps_bytes
from retailsim.core.stores.base import ConcurrencyConflict, StoreUnavailable
from retailsim.core.stores.sql import Dialect, SqlStore, schema

Connection = psycopg.Connection[TupleRow]

MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1: longer channel names are refused


def outbox_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel on which a schema's outbox announces appends (destination as payload)."""
    return f"retailsim_outbox_{schema}"[:MAX_IDENTIFIER]


# The shared SQL as PostgreSQL runs it: JSONB, row locks, SKIP LOCKED, code-point collation, and appends
# announced with pg_notify (each store sets the channel of its schema).
POSTGRES = Dialect(
    name="postgresql",
    placeholder="%s",
    json_column="JSONB",
    serial_key="BIGSERIAL PRIMARY KEY",
    lock_rows=" FOR UPDATE",
    skip_locked=" FOR UPDATE SKIP LOCKED",
    lock_claimed=" FOR UPDATE OF o SKIP LOCKED",
    code_point_order=' COLLATE "C"',
    json_param=Jsonb,
    announce="SELECT pg_notify(?, ?)",
)

# (version, what it does, statements). Append only: a deployed migration is never edited.
MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = ((1, "initial tables", schema(POSTGRES)),)


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
            raise StoreUnavailable(f"no PostgreSQL connection free within {self._timeout_s}s")
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                try:
                    conn = self.connect()
                except psycopg.OperationalError as exc:
                    raise StoreUnavailable(f"PostgreSQL cannot be reached: {exc}") from exc
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


class PostgresStore(SqlStore):
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
        super().__init__(replace(POSTGRES, channel=self.channel))
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
    def _reading(self) -> Iterator[Connection]:
        with self._pool.connection() as conn:
            yield conn

    @contextmanager
    def _writing(self, *, pipelined: bool = False) -> Iterator[Connection]:
        with self._pool.connection() as conn, conn.pipeline() if pipelined else nullcontext():
            try:
                with conn.transaction():
                    yield conn
            except (errors.DeadlockDetected, errors.SerializationFailure) as exc:
                raise ConcurrencyConflict(f"concurrent writer won: {exc}") from exc

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
