"""Store URLs: the PostgreSQL schema is this project's ``?schema=`` parameter, validated before connecting."""

from __future__ import annotations

import pytest

from retailsim.core.stores import DEFAULT_SCHEMA, StoreUrlError, is_postgres_url, open_store, split_schema


def test_the_schema_comes_out_of_the_url_and_other_parameters_stay() -> None:
    assert split_schema("postgresql://u@h:5432/db") == ("postgresql://u@h:5432/db", DEFAULT_SCHEMA)
    assert split_schema("postgresql://u@h/db?schema=load_1") == ("postgresql://u@h/db", "load_1")
    assert split_schema("postgres://h/db?sslmode=disable&schema=s") == (
        "postgres://h/db?sslmode=disable",
        "s",
    )
    assert is_postgres_url("postgres://h/db") and not is_postgres_url("sqlite:core.db")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://h/db?schema=Load",
        "postgresql://h/db?schema=",
        "postgresql://h/db?schema=1x",
        "postgresql://h/db?schema=a;drop",
        "postgresql://h/db?schema=a&schema=b",
    ],
)
def test_a_bad_schema_is_refused_before_any_connection(url: str) -> None:
    with pytest.raises(StoreUrlError, match="schema"):
        open_store(url)
