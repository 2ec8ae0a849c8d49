"""Store implementations behind the one ``Store`` protocol, and ``open_store`` to pick one by URL."""

from __future__ import annotations

from pathlib import Path

from retailsim.core.stores.base import Store
from retailsim.core.stores.memory import MemoryStore
from retailsim.core.stores.sqlite import SqliteStore


class StoreUrlError(ValueError):
    """The store URL names no known kind of store."""


def open_store(url: str) -> Store:
    """``memory`` | ``sqlite:PATH`` | a plain file path (SQLite) | ``postgresql://...`` (schema ``retailsim``)."""
    if url == "memory":
        return MemoryStore()
    if url.startswith(("postgresql://", "postgres://")):
        # Imported here so that memory and SQLite users never load psycopg.
        from retailsim.core.stores.postgres import PostgresStore

        return PostgresStore(url)
    if url.startswith("sqlite:"):
        url = url.removeprefix("sqlite:").removeprefix("//")
    if not url:
        raise StoreUrlError("empty store URL: use memory, sqlite:PATH or postgresql://...")
    path = Path(url)
    if path.parent and not path.parent.exists():
        raise StoreUrlError(f"directory of the store file does not exist: {path.parent}")
    return SqliteStore(path)


__all__ = ["MemoryStore", "SqliteStore", "Store", "StoreUrlError", "open_store"]
