"""Store document kinds are named once (core/documents.py, ``DocKind``), never invented inline."""

from __future__ import annotations

import ast
from pathlib import Path

from retailsim.core.documents import DocKind

CORE = Path(__file__).resolve().parents[3] / "retailsim" / "core"
STORE_CALLS = {"load", "save", "load_model", "save_model"}


def inline_kinds(source: str) -> list[str]:
    """String literals given as the kind of a store document call."""
    return [
        node.args[0].value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in STORE_CALLS
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ]


def test_no_document_kind_is_a_literal_in_the_core() -> None:
    found = {
        str(path.relative_to(CORE)): kinds
        for path in sorted(CORE.rglob("*.py"))
        if "stores" not in path.parts and (kinds := inline_kinds(path.read_text(encoding="utf-8")))
    }
    assert found == {}


def test_the_scan_sees_a_literal_kind() -> None:
    assert inline_kinds('tx.load("order", no)\ntx.save(DocKind.PIX, "applied", {}, 0.0)') == ["order"]


def test_the_kinds_are_the_stored_strings() -> None:
    assert DocKind.ORDER == "order" and f"{DocKind.ORDER_DOC}" == "order_doc"
