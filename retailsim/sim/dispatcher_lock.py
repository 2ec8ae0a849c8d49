"""One dispatcher per store, enforced: the lock a process holds for as long as it delivers a store's
outbox and runs its mock systems.

Two dispatchers on one store would each replay the mocks' journal, each run a fault schedule and each
``recover()`` the other's leases: deliveries would be split between two simulated universes and nothing
would say so. So whatever delivers (``serve`` in its default role, the supervisor of ``--workers N``,
``serve --role dispatcher``) takes this lock first, and a second one is refused with a line naming the
holder — or, as a standby, waits for the holder to die and then starts as it would after a crash.

Rules kept:

* The lock dies with its holder and with nothing else. PostgreSQL: a session advisory lock on a
  connection of its own, released by the server when the session ends (a ``kill -9`` closes the
  socket; TCP keepalives, asked for on both ends, end the session of a host that vanished). SQLite: an
  exclusive ``flock`` on a file beside the database, released by the kernel when the process dies.
* The holder's name (host, pid, since) is written after the lock is taken, beside it (a row in the
  schema, the lock file's content), so a refused process can say who holds it.
* A holder whose PostgreSQL session is lost has lost the lock: ``guard`` ends the process rather than let
  it deliver beside a standby that has just taken over.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from retailsim.core.stores import is_postgres_url, split_schema

LOCK_CLASS = 0x52534D44  # "RSMD": the advisory lock's first key; the second is the schema's
STANDBY_POLL_S = 0.5
GUARD_INTERVAL_S = 2.0
EXIT_LOCK_LOST = 1


@dataclass(frozen=True)
class Holder:
    """Who holds a store's dispatcher lock."""

    host: str
    pid: int
    since: str  # ISO 8601, UTC

    @classmethod
    def me(cls) -> Holder:
        since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return cls(socket.gethostname(), os.getpid(), since)

    @classmethod
    def parse(cls, data: Any) -> Holder | None:
        try:
            return cls(str(data["host"]), int(data["pid"]), str(data["since"]))
        except (KeyError, TypeError, ValueError):
            return None

    def describe(self) -> str:
        return f"host {self.host}, pid {self.pid}, since {self.since}"


def describe(holder: Holder | None) -> str:
    return holder.describe() if holder is not None else "holder unknown (it has not written its name yet)"


class DispatcherLock(Protocol):
    """A store's dispatcher lock. ``try_acquire`` never blocks; once it returned True, the lock is held
    until ``release`` or the process's death."""

    def try_acquire(self) -> bool: ...

    def holder(self) -> Holder | None: ...

    def alive(self) -> bool:
        """False when the lock may have been lost behind our back (its session is gone)."""

    def release(self) -> None: ...


class StoreInUse(Exception):
    """The store already has a dispatcher; ``holder`` names it."""

    def __init__(self, holder: Holder | None) -> None:
        super().__init__(f"this store already has a dispatcher: {describe(holder)}")
        self.holder = holder


class FileLock:
    """SQLite: ``flock`` on ``<database>.dispatcher``; the holder's name is the file's content."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(Holder.me())).encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return True

    def holder(self) -> Holder | None:
        try:
            return Holder.parse(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None

    def alive(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def advisory_key(schema: str) -> int:
    """The advisory lock's second key: a signed 32-bit number from the schema's name, the same in every
    process (``pg_locks`` shows it as ``objid``, unsigned)."""
    return zlib.crc32(schema.encode()) - (1 << 31)


class AdvisoryLock:
    """PostgreSQL: a session advisory lock keyed by the schema; the holder's name in ``dispatcher_holder``."""

    def __init__(self, libpq_url: str, schema: str) -> None:
        import psycopg
        from psycopg import sql

        self._sql = sql
        self._schema = schema
        self._key = advisory_key(schema)
        self._conn = psycopg.connect(
            libpq_url,
            autocommit=True,
            connect_timeout=10,
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )
        self._conn.execute(
            "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3"
        )
        self._conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        self._conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.dispatcher_holder (singleton BOOLEAN PRIMARY KEY DEFAULT TRUE"
                " CHECK (singleton), host TEXT NOT NULL, pid INTEGER NOT NULL, since TEXT NOT NULL)"
            ).format(sql.Identifier(schema))
        )
        self._held = False

    def try_acquire(self) -> bool:
        row = self._conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, self._key)).fetchone()
        if row is None or not row[0]:
            return False
        me = Holder.me()
        self._conn.execute(
            self._sql.SQL(
                "INSERT INTO {}.dispatcher_holder (host, pid, since) VALUES (%s, %s, %s)"
                " ON CONFLICT (singleton)"
                " DO UPDATE SET host = excluded.host, pid = excluded.pid, since = excluded.since"
            ).format(self._sql.Identifier(self._schema)),
            (me.host, me.pid, me.since),
        )
        self._held = True
        return True

    def holder(self) -> Holder | None:
        row = self._conn.execute(
            self._sql.SQL("SELECT host, pid, since FROM {}.dispatcher_holder").format(
                self._sql.Identifier(self._schema)
            )
        ).fetchone()
        return None if row is None else Holder.parse({"host": row[0], "pid": row[1], "since": row[2]})

    def alive(self) -> bool:
        try:
            self._conn.execute("SELECT 1")
        except Exception:  # any failure of the session: the server may have released the lock
            return False
        return self._held

    def release(self) -> None:
        if not self._conn.closed:
            self._conn.close()  # the session ends, and with it the lock
        self._held = False


def dispatcher_lock(store_url: str) -> DispatcherLock | None:
    """The dispatcher lock of the store at ``store_url``; None for a memory store (one process by nature)."""
    if store_url == "memory":
        return None
    if is_postgres_url(store_url):
        libpq_url, schema = split_schema(store_url)
        return AdvisoryLock(libpq_url, schema)
    path = store_url.removeprefix("sqlite:").removeprefix("//")
    return FileLock(Path(f"{path}.dispatcher"))


def acquire(lock: DispatcherLock, *, standby: bool, announce: Callable[[str], None]) -> None:
    """Take the lock; without ``standby`` raise ``StoreInUse`` when it is held, with it wait until the
    holder is gone (announced once when the wait begins and once when it ends)."""
    if lock.try_acquire():
        return
    if not standby:
        raise StoreInUse(lock.holder())
    announce(
        f"retailsim serve: standby: this store's dispatcher is {describe(lock.holder())}; "
        "waiting to take over when it stops"
    )
    while not lock.try_acquire():
        time.sleep(STANDBY_POLL_S)
    announce("retailsim serve: the dispatcher is gone; taking over (leases recovered, journal replayed)")


def guard(lock: DispatcherLock, stop: threading.Event) -> threading.Thread:
    """A thread that ends the process if the lock is lost (its PostgreSQL session died): a standby may
    already have taken over, and two dispatchers must never run at once."""

    def watch() -> None:
        while not stop.wait(GUARD_INTERVAL_S):
            if not lock.alive():
                print(
                    "retailsim serve: lost the store's dispatcher lock; stopping", file=sys.stderr, flush=True
                )
                os._exit(EXIT_LOCK_LOST)

    thread = threading.Thread(target=watch, name="dispatcher-lock-guard", daemon=True)
    thread.start()
    return thread
