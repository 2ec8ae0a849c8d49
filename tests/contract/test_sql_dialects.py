"""The SQL stores share one set of statements; a dialect only restyles them (core/stores/sql.py)."""

from __future__ import annotations

import pytest

from retailsim.core.stores.postgres import POSTGRES
from retailsim.core.stores.sql import Dialect, Statements, schema
from retailsim.core.stores.sqlite import SQLITE


def statements(dialect: Dialect) -> dict[str, str]:
    return {name: text for name, text in vars(Statements(dialect)).items() if isinstance(text, str)}


def test_every_statement_exists_in_both_dialects_with_the_same_parameters() -> None:
    sqlite, postgres = statements(SQLITE), statements(POSTGRES)
    assert sqlite.keys() - {"announce"} == postgres.keys() - {"announce"}
    for name, text in sqlite.items():
        if name in postgres:
            assert text.count("?") == postgres[name].count("%s"), name
            assert "?" not in postgres[name], name


def test_postgres_locks_what_sqlite_serialises() -> None:
    sqlite, postgres = statements(SQLITE), statements(POSTGRES)
    for name in ("get_idempotency", "load", "get_position"):
        assert postgres[name].endswith(" FOR UPDATE") and "FOR UPDATE" not in sqlite[name]
    assert postgres["pick_head"].endswith("FOR UPDATE OF o SKIP LOCKED")
    assert "SKIP LOCKED" in postgres["release_expired"] and "LOCKED" not in sqlite["release_expired"]


def test_the_schemas_differ_only_in_the_dialects_column_types() -> None:
    normalised = [
        statement.replace(POSTGRES.json_column, SQLITE.json_column).replace(
            POSTGRES.serial_key, SQLITE.serial_key
        )
        for statement in schema(POSTGRES)
    ]
    assert normalised == list(schema(SQLITE))


def test_a_pyformat_dialect_refuses_a_percent_sign() -> None:
    """A literal % would be read as a placeholder by psycopg: the shared SQL may not hold one."""
    assert POSTGRES.prepare("SELECT 1 WHERE a=?") == "SELECT 1 WHERE a=%s"
    with pytest.raises(ValueError, match="'%'"):
        POSTGRES.prepare("SELECT 1 WHERE a LIKE 'x%'")
