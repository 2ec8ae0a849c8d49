"""Each broken core is the real core with exactly one guard changed (issue 12: guards, not overrides)."""

from __future__ import annotations

import dataclasses

import pytest

from retailsim.core import CoreConfig, IntegrationCore
from retailsim.core.guards import Guards
from retailsim.core.stores.memory import MemoryStore
from retailsim.sim.broken_cores import CORES

# A host that acknowledges before it calls the core: the core's guards are the real ones.
HOST_FAULTS = {"ack-before-commit"}


def _changed_guards(core: IntegrationCore) -> list[str]:
    real = Guards()
    return [
        f.name for f in dataclasses.fields(Guards) if getattr(core.guards, f.name) != getattr(real, f.name)
    ]


# The guard each broken core changes (no-dedupe: both halves of dedupe, the inbox and the order number).
CHANGED = {
    "no-dedupe": ["inbox", "order_numbers"],
    "dedupe-without-source": ["inbox"],
    "inbox-after-effect": ["inbox_before_effect"],
    "no-erp-lookup": ["erp_lookup_before_create"],
    "no-sequencing": ["order_table"],
    "no-reconciliation": ["reconciliation"],
    "no-refund-key": ["refund_key"],
    "no-restock": ["silenced_commands"],
    "no-retry": ["retry_policy"],
    "no-breaker": ["breaker"],
    "no-retry-cap": ["retry_policy"],
    "no-rate-limit": ["rate_limits"],
    "no-correlation": ["correlation_id"],
    "no-remedy-guard": ["remedy_guard"],
    "no-plant-change": ["silenced_commands"],
    "no-reroute": ["reroute"],
    "outbox-apart": ["outbox_in_transaction"],
    "no-half-open": ["breaker"],
    "migration-moves-twice": ["migration_moves_once"],
    "migration-ignores-legacy-lane": ["migration_waits_for_legacy_lane"],
    "returns-by-phase": ["returns_follow_order"],
    "collection-trusts-200": ["collection_records_judged"],
}


def test_every_broken_core_is_listed() -> None:
    assert sorted(CHANGED) == sorted(set(CORES) - {"real"} - HOST_FAULTS)


@pytest.mark.parametrize("name", sorted(CHANGED))
def test_a_broken_core_is_the_real_core_with_its_guard_changed(name: str) -> None:
    core = CORES[name](MemoryStore(), CoreConfig(), None)
    assert type(core) is IntegrationCore
    assert _changed_guards(core) == CHANGED[name]


def test_the_real_core_changes_none() -> None:
    assert _changed_guards(CORES["real"](MemoryStore(), CoreConfig(), None)) == []
