"""Store implementations behind the one ``Store`` protocol, and ``open_store`` to pick one by URL."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from retailsim.core.stores.base import Store
from retailsim.core.stores.memory import MemoryStore
from retailsim.core.stores.sqlite import SqliteStore

DEFAULT_SCHEMA = "retailsim"
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class StoreUrlError(ValueError):
    """The store URL names no known kind of store."""


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def split_schema(url: str) -> tuple[str, str]:
    """``postgresql://...?schema=NAME`` → (the URL libpq understands, NAME); default schema ``retailsim``.

    The schema is this project's parameter, not libpq's (which would refuse it), so it is taken out here.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "schema"]
    if len(schemas) > 1:
        raise StoreUrlError("store URL: give ?schema= once")
    schema = schemas[0] if schemas else DEFAULT_SCHEMA
    if not SCHEMA_NAME.fullmatch(schema):
        raise StoreUrlError(
            f"store URL: schema {schema!r} must be 1-63 lower-case letters, digits or _, not starting with a digit"
        )
    rest = urlencode([(key, value) for key, value in query if key != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


def open_store(url: str) -> Store:
    """``memory`` | ``sqlite:PATH`` | a plain file path (SQLite) | ``postgresql://...[?schema=NAME]``
    (PostgreSQL, every table in schema NAME, default ``retailsim``)."""
    if url == "memory":
        return MemoryStore()
    if is_postgres_url(url):
        # Imported here so that memory and SQLite users never load psycopg.
        from retailsim.core.stores.postgres import PostgresStore

        libpq_url, schema = split_schema(url)
        return PostgresStore(libpq_url, schema=schema)
    if url.startswith("sqlite:"):
        url = url.removeprefix("sqlite:").removeprefix("//")
    if not url:
        raise StoreUrlError("empty store URL: use memory, sqlite:PATH or postgresql://...")
    path = Path(url)
    if path.parent and not path.parent.exists():
        raise StoreUrlError(f"directory of the store file does not exist: {path.parent}")
    return SqliteStore(path)


__all__ = [
    "DEFAULT_SCHEMA",
    "MemoryStore",
    "SqliteStore",
    "Store",
    "StoreUrlError",
    "is_postgres_url",
    "open_store",
    "split_schema",
]
