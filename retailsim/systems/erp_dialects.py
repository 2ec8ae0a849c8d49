"""The ERP dialects by name: which mock speaks for ``systems.erp.dialect`` in a scenario.

One entry per product; each class is an :class:`ErpSystem` with the same constructor keywords
(``stock``, ``concurrency``, ``latency``, ``rate_limit_per_s``, ``retry_after``), so the runtime builds
any of them the same way. Names are stable: scenario files and the contract suite use them.
"""

from __future__ import annotations

from retailsim.systems.dynamics import Dynamics365
from retailsim.systems.erp import Erp
from retailsim.systems.erp_base import ErpSystem
from retailsim.systems.netsuite import NetSuite
from retailsim.systems.oracle_fusion import OracleFusion
from retailsim.systems.sap_ecc import SapEcc

DEFAULT_DIALECT = Erp.dialect
ERP_DIALECTS: dict[str, type[ErpSystem]] = {
    system.dialect: system for system in (Erp, NetSuite, Dynamics365, OracleFusion, SapEcc)
}


def erp_class(dialect: str) -> type[ErpSystem]:
    """The mock ERP class for a dialect name; an unknown name is refused with the known ones."""
    try:
        return ERP_DIALECTS[dialect]
    except KeyError:
        known = ", ".join(ERP_DIALECTS)
        raise ValueError(f"unknown ERP dialect {dialect!r}; known dialects: {known}") from None
