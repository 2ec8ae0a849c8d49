"""SQLite store: the embedded default for ``retailsim serve`` — durable, zero set-up, one process.

What is SQLite's own here: the connection and how it is shared; every statement is the shared SQL of
``sql.py`` in the :data:`SQLITE` dialect (JSON as text, no row locks: one writer at a time already).

Rules kept: every transaction is ``BEGIN IMMEDIATE`` (one writer, no lost updates); uniqueness comes
from primary keys (inbox, idempotency), never from check-then-insert; WAL journal with
``synchronous=NORMAL`` survives a killed process (what "accepted means durable" needs; power loss is
out of scope for an embedded default — use PostgreSQL). One connection guarded by a lock, so the store
may be shared by the threads of an ASGI server. Needs SQLite 3.35 or later (``RETURNING``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from retailsim.core.jsoncodec import dumps
from retailsim.core.stores.sql import Connection, Dialect, SqlStore, schema

SQLITE = Dialect(name="sqlite", json_param=dumps, json_value=json.loads)
OLDEST_SQLITE = (3, 35, 0)  # RETURNING


class SqliteStore(SqlStore):
    """A ``Store`` in one SQLite file (or ``:memory:`` for tests)."""

    def __init__(self, path: str | Path) -> None:
        if sqlite3.sqlite_version_info < OLDEST_SQLITE:
            raise RuntimeError(f"the SQLite store needs SQLite 3.35 or later, not {sqlite3.sqlite_version}")
        super().__init__(SQLITE)
        self.path = str(path)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.executescript(";\n".join(schema(SQLITE)) + ";")

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self._lock:
            yield self._conn

    @contextmanager
    def _writing(self, *, pipelined: bool = False) -> Iterator[Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
