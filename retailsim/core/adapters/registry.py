"""The command registry: outbox command kind → the :class:`~retailsim.core.adapters.spec.CommandSpec` that
serves it. The dispatcher asks here and nowhere else what a kind means.

The ERP is a port: its command kinds (``ERP_COMMAND_KINDS``) are served by the dialect the core is
configured with (``CoreConfig.erp_dialect``), one adapter module per ERP product, each offering an
:class:`~retailsim.core.adapters.spec.ErpDialect` (the same kinds, and its stock snapshot for the initial
inventory load) in ``ERP_DIALECTS``. Every other system has one product today and registers its kinds directly.

Rules kept: a kind is served by exactly one spec (two modules claiming one kind is an error at assembly);
a kind with a collection form (``batch``) is sent in one step — no ERP look-up, no deferred answer;
a dialect that misses or adds an ERP kind is an error at assembly (beyond the kinds of its own multi-request
steps, which it declares as ``step_kinds``; kinds of its own beyond the port, such as the legacy ECC's
acknowledgement collector, are its ``extra_commands``); a kind no spec serves is a
:class:`~retailsim.core.errors.CoreError` when a message of it is claimed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from retailsim.core.adapters import (
    dynamics,
    easypost,
    migration,
    netsuite,
    oracle_fusion,
    pix,
    pos,
    salesforce,
    sap,
    sap_ecc,
    sfcc,
    shipbob,
    stripe,
)
from retailsim.core.adapters.spec import CommandSpec, ErpDialect
from retailsim.core.errors import CoreError

# The ERP's command kinds: what every dialect must serve.
ERP_COMMAND_KINDS = frozenset(
    {
        "PostSalesOrder",
        "PostGoodsIssue",
        "CancelSalesOrder",
        "ChangeSalesOrderPlant",
        "CreateCustomerReturn",
        "CreateCreditMemoRequest",
        "PostReturnGoodsReceipt",
        "PostGoodsMovement",
    }
)

# ERP product → its adapter's dialect (``CoreConfig.erp_dialect`` chooses one).
ERP_DIALECTS: Mapping[str, ErpDialect] = {
    dialect.name: dialect
    for dialect in (sap.DIALECT, netsuite.DIALECT, oracle_fusion.DIALECT, dynamics.DIALECT, sap_ecc.DIALECT)
}

# The other systems' command specs, one product each.
SYSTEMS: tuple[CommandSpec, ...] = (
    *sfcc.COMMANDS,
    *salesforce.COMMANDS,
    *stripe.COMMANDS,
    *shipbob.COMMANDS,
    *easypost.COMMANDS,
    *pos.COMMANDS,
    *pix.COMMANDS,
)


class CommandRegistry:
    """Command kind → spec; built once per core (see ``build_registry``)."""

    __slots__ = ("_by_destination", "_specs")

    def __init__(
        self, specs: Iterable[CommandSpec], by_destination: Mapping[str, CommandRegistry] | None = None
    ) -> None:
        self._specs: dict[str, CommandSpec] = {}
        for spec in specs:
            if spec.kind in self._specs:
                raise CoreError(f"command {spec.kind} is served twice")
            if spec.batch is not None and (spec.lookup is not None or spec.deferred is not None):
                raise CoreError(f"command {spec.kind}: a collection form takes one request per send")
            self._specs[spec.kind] = spec
        # Destinations whose kinds another registry serves (the cloud ERP of a migration).
        self._by_destination: dict[str, CommandRegistry] = dict(by_destination or {})

    def spec_for(self, destination: str, kind: str) -> CommandSpec:
        """The spec serving ``kind`` at ``destination`` (a routed destination has a registry of its own)."""
        routed = self._by_destination.get(destination)
        return (routed if routed is not None else self)[kind]

    def __getitem__(self, kind: str) -> CommandSpec:
        spec = self._specs.get(kind)
        if spec is None:
            raise CoreError(f"no adapter serves command {kind}")
        return spec

    def __contains__(self, kind: object) -> bool:
        return kind in self._specs

    def kinds(self) -> list[str]:
        return sorted(self._specs)

    def latest_only(self) -> frozenset[str]:
        """The kinds whose newest message supersedes their pending older ones (status pushes)."""
        return frozenset(kind for kind, spec in self._specs.items() if spec.latest_only)

    def batched(self) -> frozenset[str]:
        """The kinds that have a collection form (a ``Batch``: several messages in one request)."""
        return frozenset(kind for kind, spec in self._specs.items() if spec.batch is not None)

    def replaced(self, kind: str, **changes: Any) -> CommandRegistry:
        """A registry whose spec for ``kind`` has ``changes`` (a guard swapped at assembly)."""
        return CommandRegistry(
            (
                dataclasses.replace(spec, **changes) if spec.kind == kind else spec
                for spec in self._specs.values()
            ),
            {d: routed.replaced(kind, **changes) for d, routed in self._by_destination.items()},
        )


def erp_dialect(name: str) -> ErpDialect:
    """The ERP dialect called ``name`` (its command specs, its stock snapshot)."""
    dialect = ERP_DIALECTS.get(name)
    if dialect is None:
        raise CoreError(f"unknown ERP dialect {name!r}; known: {', '.join(sorted(ERP_DIALECTS))}")
    return dialect


def _erp_commands(erp_dialect_name: str) -> tuple[CommandSpec, ...]:
    dialect = erp_dialect(erp_dialect_name)
    erp = dialect.commands
    served = {spec.kind for spec in erp}
    if served != ERP_COMMAND_KINDS | dialect.step_kinds:
        missing = sorted((ERP_COMMAND_KINDS | dialect.step_kinds) - served)
        extra = sorted(served - ERP_COMMAND_KINDS - dialect.step_kinds)
        raise CoreError(f"ERP dialect {erp_dialect_name!r} misses {missing} and adds {extra}")
    return (*erp, *dialect.extra_commands)  # the dialect's own pollers (sap_ecc's status files)


def build_registry(erp_dialect_name: str = "sap", *, cloud: tuple[str, str] | None = None) -> CommandRegistry:
    """Every system's specs, the ERP's from the dialect called ``erp_dialect_name``. ``cloud``: the
    (destination, dialect) of a migration's second ERP — its ERP kinds from that dialect, and the
    migration's two commands (core/adapters/migration.py) on either side."""
    erp = _erp_commands(erp_dialect_name)
    if cloud is None:
        return CommandRegistry((*erp, *SYSTEMS))
    destination, cloud_name = cloud
    legacy_dialect, cloud_dialect = erp_dialect(erp_dialect_name), erp_dialect(cloud_name)
    routed = CommandRegistry((*_erp_commands(cloud_name), migration.migrate_spec(cloud_dialect)))
    return CommandRegistry((*erp, migration.retire_spec(legacy_dialect), *SYSTEMS), {destination: routed})
