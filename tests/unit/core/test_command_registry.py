"""The command registry: every outbox command kind has one spec, the ERP's chosen by dialect (no kind switch
outside the adapters: tests/architecture ratchets that)."""

from __future__ import annotations

import ast
import dataclasses
import typing
from pathlib import Path

import pytest
from pydantic import ValidationError

from retailsim.core import CoreConfig, IntegrationCore
from retailsim.core.adapters import registry, sap
from retailsim.core.adapters.registry import ERP_COMMAND_KINDS, ERP_DIALECTS, CommandRegistry, build_registry
from retailsim.core.adapters.spec import never_sent
from retailsim.core.errors import CoreError
from retailsim.core.stores.memory import MemoryStore
from retailsim.core.workflows import order_to_cash as o2c
from retailsim.core.workflows import return_to_refund as r2r

PACKAGE = Path(__file__).resolve().parents[3] / "retailsim"


def test_every_erp_dialect_serves_exactly_the_erp_kinds() -> None:
    for name, dialect in ERP_DIALECTS.items():
        assert dialect.name == name
        assert {spec.kind for spec in dialect.commands} == ERP_COMMAND_KINDS | dialect.step_kinds, name
        build_registry(name)


def test_the_config_offers_exactly_the_registered_dialects() -> None:
    offered = typing.get_args(CoreConfig.model_fields["erp_dialect"].annotation)
    assert sorted(offered) == sorted(ERP_DIALECTS)
    with pytest.raises(ValidationError, match="erp_dialect"):
        CoreConfig.model_validate({"erp_dialect": "oracle"})


def test_a_second_dialect_is_served_by_its_own_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dialect registering the same kinds replaces the ERP's specs, and only the ERP's."""
    commands = tuple(dataclasses.replace(spec, render=never_sent) for spec in sap.COMMANDS)
    other = dataclasses.replace(sap.DIALECT, name="other", commands=commands)
    monkeypatch.setattr(registry, "ERP_DIALECTS", {**ERP_DIALECTS, "other": other})
    assert registry.erp_dialect("other").stock_snapshot is sap.stock_snapshot
    commands = build_registry("other")
    assert commands["PostSalesOrder"].render is never_sent
    assert commands["CapturePayment"] is build_registry("sap")["CapturePayment"]


def test_a_dialect_that_misses_a_kind_is_refused_at_assembly(monkeypatch: pytest.MonkeyPatch) -> None:
    commands = tuple(spec for spec in sap.COMMANDS if spec.kind != "PostGoodsIssue")
    partial = dataclasses.replace(sap.DIALECT, name="partial", commands=commands)
    monkeypatch.setattr(registry, "ERP_DIALECTS", {"partial": partial})
    with pytest.raises(CoreError, match="misses \\['PostGoodsIssue'\\]"):
        build_registry("partial")
    with pytest.raises(CoreError, match="unknown ERP dialect 'sap'"):
        build_registry("sap")


def test_a_kind_is_served_once_and_an_unknown_kind_is_an_error() -> None:
    with pytest.raises(CoreError, match="served twice"):
        CommandRegistry([*sap.COMMANDS, sap.COMMANDS[0]])
    with pytest.raises(CoreError, match="no adapter serves command Teleport"):
        build_registry()["Teleport"]


def test_every_command_the_transition_tables_emit_is_served() -> None:
    """The kinds named in the order and return tables (and the core's own commands) all have a spec."""
    commands = IntegrationCore(MemoryStore(), CoreConfig()).commands
    named: set[str] = set()
    for module in (o2c, r2r):
        tree = ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "Command"
                and len(node.args) > 1
            ):
                kind = node.args[1]
                if isinstance(kind, ast.Constant) and isinstance(kind.value, str):
                    named.add(kind.value)
    assert named, "no command kinds found in the tables: the scan is broken"
    assert sorted(kind for kind in named if kind not in commands and kind not in CORE_TIMERS) == []


CORE_TIMERS = {"ExpireBackorder", "WatchShipment", "WatchDelivery", "WatchPickup", "CreateExchangeOrder"}
