"""The SQL stores' one body: schema, statements, transaction and store, written once for every database.

What it is for: ``sqlite.py`` and ``postgres.py`` keep only what is theirs — how a connection is opened,
shared and put into a transaction — and a :class:`Dialect`, the small value that says how their SQL
differs: the placeholder style, the row-locking clauses, the JSON column type and its conversions, the
serial key, code-point collation, and how an append is announced to listeners. Everything else (every
statement, the outbox's lane rule, the claim) lives here, so a fix reaches both databases.

Rules kept (those of ``base.py``, and these):

* Uniqueness comes from constraints, never check-then-insert: an insert that must be new is ``INSERT ...
  ON CONFLICT DO NOTHING RETURNING 1`` — no row back means the key was taken (``ConcurrencyConflict``),
  and the transaction stays usable, without a savepoint.
* Read-modify-write reads lock the row where the database can (``Dialect.lock_rows``: PostgreSQL's ``FOR
  UPDATE``; SQLite's ``BEGIN IMMEDIATE`` already admits one writer at a time, so it needs none).
* A message heads its lane when it is the earliest open message of its (destination, aggregate); only a
  head is claimed. The test is a correlated scalar subquery (one probe of the ``outbox_lane`` index per
  candidate row, whatever the planner's statistics say), not an anti-join, which PostgreSQL planned as a
  scan of the whole destination per row when its statistics were stale. A claim steps past rows another
  claimer holds (``Dialect.lock_claimed``, ``SKIP LOCKED``), and re-checks ``status='pending'`` on the
  locked row: see ``postgres.py`` for why the lanes stay ordered under concurrent claimers.
* Every timestamp is the application's ``now``, never the database clock; listings sort in code-point
  order, as the memory store does, whatever the database's locale.
* Statements are written with ``?`` placeholders and contain no ``%``; :meth:`Dialect.prepare` turns them
  into the database's style once, when the store is built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

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

MAX_ERROR_TEXT = 500  # last_error and dead-letter reasons are cut to this many characters


class Cursor(Protocol):
    """What the stores read back from a statement (sqlite3's and psycopg's cursors both fit)."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    @property
    def rowcount(self) -> int: ...


class Connection(Protocol):
    """A database connection as the shared SQL uses it: one statement at a time."""

    def execute(self, query: str, params: Sequence[Any] = ..., /) -> Cursor: ...


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one database's SQL differs from the shared statements' (each field says where it is used)."""

    name: str
    placeholder: str = "?"
    json_column: str = "TEXT"  # the type of document, payload and response columns
    serial_key: str = "INTEGER PRIMARY KEY AUTOINCREMENT"  # outbox.seq and dead_letters.dlq_id
    lock_rows: str = ""  # after a SELECT of a row the transaction will change
    skip_locked: str = ""  # after a SELECT of rows to take, stepping past rows another writer holds
    lock_claimed: str = ""  # the same, for the claim's SELECT over ``outbox o``
    code_point_order: str = ""  # after an ORDER BY term of text: code-point order, whatever the locale
    json_param: Callable[[Any], Any] = _same  # a JSON value as the driver binds it
    json_value: Callable[[Any], Any] = _same  # a JSON column as the driver returns it → the value
    announce: str | None = None  # run with (channel, destination) after an append: wakes listeners at commit
    channel: str = ""  # where ``announce`` is heard

    def prepare(self, statement: str) -> str:
        """``statement`` with its ``?`` placeholders in this database's style."""
        if self.placeholder == "?":
            return statement
        if "%" in statement:  # would be read as a placeholder by a pyformat driver
            raise ValueError(f"shared SQL may not contain '%': {statement}")
        return statement.replace("?", self.placeholder)


def schema(dialect: Dialect) -> tuple[str, ...]:
    """The tables and indexes, one statement each (``IF NOT EXISTS``: running them again is harmless).

    This is PostgreSQL's migration 1 (``postgres.MIGRATIONS``), and what a deployed SQLite file was made
    with: never edit a table here; add the change as a new migration (and its SQLite counterpart)."""
    json, serial = dialect.json_column, dialect.serial_key
    return (
        f"""CREATE TABLE IF NOT EXISTS idempotency (
        scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status TEXT NOT NULL,
        response {json}, created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (scope, key))""",
        """CREATE TABLE IF NOT EXISTS inbox (
        source TEXT NOT NULL, event_id TEXT NOT NULL, seen_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (source, event_id))""",
        f"""CREATE TABLE IF NOT EXISTS aggregates (
        kind TEXT NOT NULL, id TEXT NOT NULL, document {json} NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (kind, id))""",
        """CREATE TABLE IF NOT EXISTS positions (
        sku TEXT NOT NULL, location TEXT NOT NULL, on_hand INTEGER NOT NULL, reserved INTEGER NOT NULL,
        safety_stock INTEGER NOT NULL, PRIMARY KEY (sku, location))""",
        f"""CREATE TABLE IF NOT EXISTS outbox (
        seq {serial}, destination TEXT NOT NULL, kind TEXT NOT NULL,
        aggregate_id TEXT NOT NULL, correlation_id TEXT NOT NULL, payload {json} NOT NULL,
        available_at DOUBLE PRECISION NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'pending', last_error TEXT NOT NULL DEFAULT '',
        lease_until DOUBLE PRECISION NOT NULL DEFAULT 0)""",
        "CREATE INDEX IF NOT EXISTS outbox_open ON outbox (destination, status, available_at)",
        """CREATE INDEX IF NOT EXISTS outbox_lane ON outbox (destination, aggregate_id, seq)
        WHERE status IN ('pending', 'in_flight')""",
        f"""CREATE TABLE IF NOT EXISTS dead_letters (
        dlq_id {serial}, seq BIGINT NOT NULL, destination TEXT NOT NULL,
        kind TEXT NOT NULL, aggregate_id TEXT NOT NULL, correlation_id TEXT NOT NULL,
        payload {json} NOT NULL, reason TEXT NOT NULL, attempts INTEGER NOT NULL,
        dead_at DOUBLE PRECISION NOT NULL, status TEXT NOT NULL DEFAULT 'dead',
        replayed_at DOUBLE PRECISION)""",
    )


OUTBOX_COLUMNS = (
    "seq, destination, kind, aggregate_id, correlation_id, payload, available_at, attempts, status, "
    "last_error, lease_until"
)
PAYLOAD = OUTBOX_COLUMNS.split(", ").index("payload")
HEADS_ITS_LANE = (
    "o.seq = (SELECT MIN(e.seq) FROM outbox e WHERE e.destination=o.destination "
    "AND e.aggregate_id=o.aggregate_id AND e.status IN ('pending','in_flight'))"
)
OPEN = "status IN ('pending','in_flight')"
IDEMPOTENCY_INSERT = "INSERT INTO idempotency (scope, key, fingerprint, status, response, created_at) VALUES (?, ?, ?, ?, ?, ?)"
AGGREGATE_INSERT = "INSERT INTO aggregates (kind, id, document, updated_at) VALUES (?, ?, ?, ?)"
INSERT_IF_NEW = " ON CONFLICT DO NOTHING RETURNING 1"
MESSAGE_FIELDS = "destination, kind, aggregate_id, correlation_id, payload"


class Statements:
    """Every statement of the SQL stores, in one dialect (built once per store)."""

    def __init__(self, dialect: Dialect) -> None:
        d, q = dialect, dialect.prepare
        self._dialect = dialect
        order = d.code_point_order
        self.get_idempotency = q(
            "SELECT fingerprint, status, response, created_at FROM idempotency WHERE scope=? AND key=?"
            + d.lock_rows
        )
        self.create_idempotency = q(IDEMPOTENCY_INSERT + INSERT_IF_NEW)
        self.put_idempotency = q(
            IDEMPOTENCY_INSERT + " ON CONFLICT (scope, key) DO UPDATE SET fingerprint=excluded.fingerprint, "
            "status=excluded.status, response=excluded.response, created_at=excluded.created_at"
        )
        self.add_inbox = q("INSERT INTO inbox (source, event_id, seen_at) VALUES (?, ?, ?)" + INSERT_IF_NEW)
        self.load = q("SELECT document FROM aggregates WHERE kind=? AND id=?" + d.lock_rows)
        self.create_aggregate = q(AGGREGATE_INSERT + INSERT_IF_NEW)
        self.save_aggregate = q(
            AGGREGATE_INSERT
            + " ON CONFLICT (kind, id) DO UPDATE SET document=excluded.document, updated_at=excluded.updated_at"
        )
        self.get_position = q(
            "SELECT on_hand, reserved, safety_stock FROM positions WHERE sku=? AND location=?" + d.lock_rows
        )
        self.put_position = q(
            "INSERT INTO positions (sku, location, on_hand, reserved, safety_stock) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (sku, location) DO UPDATE SET on_hand=excluded.on_hand, reserved=excluded.reserved, "
            "safety_stock=excluded.safety_stock"
        )
        self.append = q(f"INSERT INTO outbox ({MESSAGE_FIELDS}, available_at) VALUES (?, ?, ?, ?, ?, ?)")
        self.supersede = q(
            "UPDATE outbox SET status='superseded' "
            "WHERE destination=? AND aggregate_id=? AND kind=? AND status='pending'"
        )
        self.announce = q(d.announce) if d.announce else None
        self.open_in_lane = q(f"SELECT 1 FROM outbox WHERE destination=? AND aggregate_id=? AND {OPEN} LIMIT 1")
        self.complete = q("UPDATE outbox SET status='delivered' WHERE seq=?")
        self.retry_later = q(
            "UPDATE outbox SET status='pending', available_at=?, attempts=?, last_error=? WHERE seq=?"
        )
        self.copy_to_dead_letters = q(
            f"INSERT INTO dead_letters (seq, {MESSAGE_FIELDS}, reason, attempts, dead_at) "
            f"SELECT seq, {MESSAGE_FIELDS}, ?, ?, ? FROM outbox WHERE seq=?"
        )
        self.mark_dead = q("UPDATE outbox SET status='dead', attempts=? WHERE seq=?")
        # Expired leases come back first: their holder died or hung. Rows another claimer holds are
        # skipped, not waited for.
        self.release_expired = q(
            "UPDATE outbox SET status='pending' WHERE seq IN (SELECT seq FROM outbox WHERE destination=? "
            "AND status='in_flight' AND lease_until<?" + d.skip_locked + ")"
        )
        self.pick_head = q(
            f"SELECT seq FROM outbox o WHERE destination=? AND status='pending' AND available_at<=? "
            f"AND {HEADS_ITS_LANE} ORDER BY available_at, seq LIMIT 1" + d.lock_claimed
        )
        self.claim = q(
            "UPDATE outbox SET status='in_flight', attempts=attempts+1, lease_until=? "
            f"WHERE seq=? RETURNING {OUTBOX_COLUMNS}"
        )
        self._claim_batch: dict[int, str] = {}
        self.next_due_at = q(
            f"SELECT MIN(available_at) FROM outbox o WHERE destination=? AND status='pending' AND {HEADS_ITS_LANE}"
        )
        self.release_leases = q("UPDATE outbox SET status='pending' WHERE status='in_flight'")
        self.mark_replayed = q(
            "UPDATE dead_letters SET status='replayed', replayed_at=? WHERE dlq_id=? AND status='dead' "
            "RETURNING destination"
        )
        self.replay = q(
            f"INSERT INTO outbox ({MESSAGE_FIELDS}, available_at) SELECT {MESSAGE_FIELDS}, ? "
            f"FROM dead_letters WHERE dlq_id=? RETURNING {OUTBOX_COLUMNS}"
        )
        self.dead_letters = q(
            f"SELECT dlq_id, seq, {MESSAGE_FIELDS}, reason, attempts, dead_at, status, replayed_at "
            "FROM dead_letters ORDER BY dlq_id"
        )
        self.outbox_stats = q(
            f"SELECT destination, status, COUNT(*) FROM outbox WHERE {OPEN} GROUP BY destination, status "
            f"ORDER BY destination{order}"
        )
        self.backlog = q(f"SELECT COUNT(*) FROM outbox WHERE {OPEN}")
        self.backlog_of = q(f"SELECT COUNT(*) FROM outbox WHERE {OPEN} AND destination=?")
        self.aggregates = q(f"SELECT id, document FROM aggregates WHERE kind=? ORDER BY id{order}")
        self.positions = q(
            "SELECT sku, location, on_hand, reserved, safety_stock FROM positions "
            f"ORDER BY sku{order}, location{order}"
        )
        self.destinations = q(f"SELECT DISTINCT destination FROM outbox ORDER BY destination{order}")


    def claim_batch(self, kinds: int) -> str:
        """Take up to ``?`` due lane heads of ``kinds`` given kinds at once (``SqlStore.claim_batch``):
        params (lease_until, destination, now, *kinds, limit)."""
        statement = self._claim_batch.get(kinds)
        if statement is None:
            d = self._dialect
            of_kinds = ", ".join("?" * kinds)
            statement = self._claim_batch[kinds] = d.prepare(
                "UPDATE outbox SET status='in_flight', attempts=attempts+1, lease_until=? WHERE seq IN ("
                "SELECT seq FROM outbox o WHERE destination=? AND status='pending' AND available_at<=? "
                f"AND kind IN ({of_kinds}) AND {HEADS_ITS_LANE} ORDER BY available_at, seq LIMIT ?"
                + d.lock_claimed
                + f") RETURNING {OUTBOX_COLUMNS}"
            )
        return statement


class SqlTransaction(ModelDocuments):
    """The ``Transaction`` port over one connection that is inside a database transaction."""

    def __init__(self, conn: Connection, statements: Statements, dialect: Dialect) -> None:
        self._conn = conn
        self._sql = statements
        self._dialect = dialect

    def _inserted(self, statement: str, values: Sequence[Any]) -> bool:
        """Run an ``INSERT ... ON CONFLICT DO NOTHING RETURNING 1``: False when the key was taken."""
        return self._conn.execute(statement, values).fetchone() is not None

    def get_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        row = self._conn.execute(self._sql.get_idempotency, (scope, key)).fetchone()
        if row is None:
            return None
        response = self._dialect.json_value(row[2]) if row[2] is not None else None
        return IdempotencyRecord(scope, key, row[0], row[1], response, row[3])

    def put_idempotency(self, record: IdempotencyRecord, *, create: bool) -> None:
        values = (
            record.scope,
            record.key,
            record.fingerprint,
            record.status,
            self._dialect.json_param(record.response) if record.response is not None else None,
            record.created_at,
        )
        if not create:
            self._conn.execute(self._sql.put_idempotency, values)
        elif not self._inserted(self._sql.create_idempotency, values):
            raise ConcurrencyConflict(f"idempotency key {record.key!r} exists")

    def add_inbox(self, source: str, event_id: str, now: float) -> bool:
        return self._inserted(self._sql.add_inbox, (source, event_id, now))

    def load(self, kind: str, aggregate_id: str) -> Json | None:
        row = self._conn.execute(self._sql.load, (kind, aggregate_id)).fetchone()
        if row is None:
            return None
        document: Json = self._dialect.json_value(row[0])
        return document

    def save(self, kind: str, aggregate_id: str, document: Json, now: float, *, create: bool = False) -> None:
        values = (kind, aggregate_id, self._dialect.json_param(document), now)
        if not create:
            self._conn.execute(self._sql.save_aggregate, values)
        # A row that does not exist cannot be locked: two writers may both find an aggregate absent. The
        # primary key decides: the second insert waits for the first writer, then finds the row.
        elif not self._inserted(self._sql.create_aggregate, values):
            raise ConcurrencyConflict(f"{kind} {aggregate_id!r} exists")

    def get_position(self, sku: str, location: str) -> Position | None:
        row = self._conn.execute(self._sql.get_position, (sku, location)).fetchone()
        return Position(sku, location, row[0], row[1], row[2]) if row else None

    def put_position(self, position: Position) -> None:
        self._conn.execute(
            self._sql.put_position,
            (position.sku, position.location, position.on_hand, position.reserved, position.safety_stock),
        )

    def append(self, message: NewMessage) -> None:
        if message.supersedes_pending:
            # A row a claimer holds is in flight by the time this update may touch it (PostgreSQL waits
            # for its lock and re-checks the status), so only unclaimed rows are superseded.
            self._conn.execute(
                self._sql.supersede, (message.destination, message.aggregate_id, message.kind)
            )
        self._conn.execute(
            self._sql.append,
            (
                message.destination,
                message.kind,
                message.aggregate_id,
                message.correlation_id,
                self._dialect.json_param(message.payload),
                message.available_at,
            ),
        )
        if self._sql.announce is not None:
            self._conn.execute(self._sql.announce, (self._dialect.channel, message.destination))

    def complete(self, seq: int) -> None:
        self._conn.execute(self._sql.complete, (seq,))

    def retry_later(self, seq: int, available_at: float, attempts: int, error: str) -> None:
        self._conn.execute(self._sql.retry_later, (available_at, attempts, error[:MAX_ERROR_TEXT], seq))

    def dead_letter(self, seq: int, reason: str, attempts: int, now: float) -> None:
        self._conn.execute(self._sql.copy_to_dead_letters, (reason[:MAX_ERROR_TEXT], attempts, now, seq))
        self._conn.execute(self._sql.mark_dead, (attempts, seq))

    def has_open_message(self, destination: str, aggregate_id: str) -> bool:
        return self._conn.execute(self._sql.open_in_lane, (destination, aggregate_id)).fetchone() is not None


class SqlStore:
    """The ``Store`` port over a SQL database; a subclass says how to reach a connection.

    ``_reading()`` lends a connection for one read; ``_writing(pipelined)`` lends one inside a database
    transaction that commits when the block ends and rolls back when it raises (``pipelined``: the
    caller reads nothing back before the commit, so the statements may be sent without waiting).
    """

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._sql = Statements(dialect)

    def _reading(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _writing(self, *, pipelined: bool = False) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _message(self, row: Sequence[Any]) -> OutboxMessage:
        """An outbox row (``OUTBOX_COLUMNS``, in ``OutboxMessage``'s field order) as a message."""
        fields = list(row)
        fields[PAYLOAD] = self._dialect.json_value(fields[PAYLOAD])
        return OutboxMessage(*fields)

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        with self._writing(pipelined=True) as conn:
            yield SqlTransaction(conn, self._sql, self._dialect)

    def claim_next(self, destination: str, now: float, lease_s: float) -> OutboxMessage | None:
        with self._writing() as conn:
            conn.execute(self._sql.release_expired, (destination, now))
            row = conn.execute(self._sql.pick_head, (destination, now)).fetchone()
            if row is None:
                return None
            claimed = conn.execute(self._sql.claim, (now + lease_s, row[0])).fetchone()
        return self._message(claimed) if claimed else None

    def claim_batch(
        self, destination: str, kinds: frozenset[str], now: float, lease_s: float, limit: int
    ) -> list[OutboxMessage]:
        if not kinds or limit < 1:
            return []
        ordered = sorted(kinds)
        with self._writing() as conn:
            conn.execute(self._sql.release_expired, (destination, now))
            rows = conn.execute(
                self._sql.claim_batch(len(ordered)), (now + lease_s, destination, now, *ordered, limit)
            ).fetchall()
        messages = [self._message(row) for row in rows]
        messages.sort(key=lambda m: (m.available_at, m.seq))  # RETURNING promises no order
        return messages

    def next_due_at(self, destination: str) -> float | None:
        with self._reading() as conn:
            row = conn.execute(self._sql.next_due_at, (destination,)).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def release_leases(self) -> int:
        with self._writing() as conn:
            released = conn.execute(self._sql.release_leases).rowcount
        return released

    def replay_dead_letter(self, dlq_id: int, now: float) -> OutboxMessage | None:
        with self._writing() as conn:
            replayed = conn.execute(self._sql.mark_replayed, (now, dlq_id)).fetchone()
            if replayed is None:
                return None
            new = conn.execute(self._sql.replay, (now, dlq_id)).fetchone()
            if self._sql.announce is not None:
                conn.execute(self._sql.announce, (self._dialect.channel, replayed[0]))
        return self._message(new) if new else None

    def dead_letters(self) -> list[DeadLetter]:
        with self._reading() as conn:
            rows = conn.execute(self._sql.dead_letters).fetchall()
        json_value = self._dialect.json_value
        return [
            DeadLetter(r[0], r[1], r[2], r[3], r[4], r[5], json_value(r[6]), r[7], r[8], r[9], r[10], r[11])
            for r in rows
        ]

    def outbox_stats(self) -> OutboxStats:
        stats = OutboxStats()
        with self._reading() as conn:
            rows = conn.execute(self._sql.outbox_stats).fetchall()
        for destination, status, count in rows:
            if status == "pending":
                stats.pending += count
            else:
                stats.in_flight += count
            stats.by_destination[destination] = stats.by_destination.get(destination, 0) + count
        return stats

    def backlog(self, destination: str | None = None) -> int:
        with self._reading() as conn:
            if destination is None:
                row = conn.execute(self._sql.backlog).fetchone()
            else:
                row = conn.execute(self._sql.backlog_of, (destination,)).fetchone()
        return int(row[0]) if row else 0

    def aggregates(self, kind: str) -> Iterator[tuple[str, Json]]:
        with self._reading() as conn:
            rows = conn.execute(self._sql.aggregates, (kind,)).fetchall()
        # Fetched before yielding: a slow consumer must not hold a connection (or the SQLite lock).
        json_value = self._dialect.json_value
        for aggregate_id, document in rows:
            yield aggregate_id, json_value(document)

    def positions(self) -> list[Position]:
        with self._reading() as conn:
            rows = conn.execute(self._sql.positions).fetchall()
        return [Position(*row) for row in rows]

    def destinations(self) -> list[str]:
        with self._reading() as conn:
            rows = conn.execute(self._sql.destinations).fetchall()
        return [row[0] for row in rows]
