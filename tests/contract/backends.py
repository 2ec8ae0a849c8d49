"""Store back-ends for the contract suite; PostgreSQL is real, and skipped only where none is reachable."""

from __future__ import annotations

import os

import pytest

from retailsim.core.stores.base import Store

POSTGRES_URL = os.environ.get("RETAILSIM_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def services_required() -> bool:
    return os.environ.get("RETAILSIM_REQUIRE_SERVICES") == "1"


def drop_postgres_schema(name: str) -> None:
    """Tests leave nothing behind on the shared database, not even an empty schema."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def contract_schema() -> str:
    return f"contract_{os.getpid()}"


def postgres_store_or_skip() -> Store:
    from retailsim.core.stores.postgres import PostgresStore

    try:
        store = PostgresStore(POSTGRES_URL, schema=contract_schema(), fresh=True)
    except Exception as exc:
        if services_required():
            pytest.fail(f"PostgreSQL required (RETAILSIM_REQUIRE_SERVICES=1) but unreachable: {exc}")
        pytest.skip(f"no PostgreSQL reachable at {POSTGRES_URL}: {exc}")
    return store
