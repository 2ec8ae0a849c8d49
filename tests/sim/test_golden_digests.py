"""Every shipped scenario's behaviour, pinned: its trace digest and a few readable figures at a fixed seed.

What it is for: DESIGN.md, "Testing rules" — golden digests, updated deliberately, never silently. A
restructuring of the core or the runtime must leave every one unchanged; a change of simulated behaviour
shows up here, scenario by scenario, and is committed with its reason. The figures say in words what a
changed digest changed (orders accepted, posted, delivered; returns refunded; dead letters). Runs use
``workload.orders=200`` so that each takes about a second; a scenario shipped without a pin fails.
"""

from __future__ import annotations

import pytest

from retailsim.scenarios import list_scenarios, load
from retailsim.sim.runner import run_scenario

OVERRIDES = ["workload.orders=200"]
SEED = 1

# name → (digest, {figure: value}). When a behaviour change is intended: rerun the scenario at these
# settings, read its report, and update its row in the same commit, saying why.
GOLDEN: dict[str, tuple[str, dict[str, int]]] = {
    "bad-master-data": ("3ad5c8a43ad63f8d", {"accepted": 195, "posted_to_erp": 195, "delivered": 195, "refunded": 0, "dlq_entered": 31}),
    "baseline": ("5c3e689162825e05", {"accepted": 198, "posted_to_erp": 198, "delivered": 198, "refunded": 0, "dlq_entered": 0}),
    "black-friday": ("4c721879847bb41b", {"accepted": 191, "posted_to_erp": 191, "delivered": 191, "refunded": 0, "dlq_entered": 3}),
    "bopis-reroute": ("f9f9b0bf7a6b286d", {"accepted": 194, "posted_to_erp": 194, "delivered": 194, "refunded": 0, "dlq_entered": 0}),
    "cloud-erp-migration": ("dc52e24155ae5053", {"accepted": 195, "posted_to_erp": 195, "delivered": 195, "refunded": 53, "dlq_entered": 1}),
    "core-crash": ("5407c3e330f12030", {"accepted": 195, "posted_to_erp": 195, "delivered": 195, "refunded": 0, "dlq_entered": 1}),
    "delayed-shipment-support": ("b80f28fdc4aa47ba", {"accepted": 196, "posted_to_erp": 209, "delivered": 198, "refunded": 20, "dlq_entered": 0}),
    "duplicate-webhooks": ("8c7f4211cf822e38", {"accepted": 198, "posted_to_erp": 198, "delivered": 198, "refunded": 0, "dlq_entered": 0}),
    "erp-bad-transport": ("c931e3180e46b1b5", {"accepted": 195, "posted_to_erp": 195, "delivered": 195, "refunded": 0, "dlq_entered": 7}),
    "erp-outage": ("25dda5dfb464e1e2", {"accepted": 196, "posted_to_erp": 196, "delivered": 196, "refunded": 0, "dlq_entered": 0}),
    "flash-sale": ("cb0031c41472f19d", {"accepted": 194, "posted_to_erp": 194, "delivered": 194, "refunded": 0, "dlq_entered": 0}),
    "lost-erp-replies": ("84e2edc05022cb76", {"accepted": 197, "posted_to_erp": 197, "delivered": 197, "refunded": 0, "dlq_entered": 0}),
    "omnichannel-returns": ("7122d4d2af0e95ec", {"accepted": 196, "posted_to_erp": 196, "delivered": 196, "refunded": 65, "dlq_entered": 0}),
    "warehouse-and-store-feeds": ("708fb8760f4e3308", {"accepted": 196, "posted_to_erp": 196, "delivered": 196, "refunded": 54, "dlq_entered": 0}),
}


def test_every_shipped_scenario_is_pinned() -> None:
    assert sorted(GOLDEN) == sorted(name for name, _ in list_scenarios())


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_the_scenario_behaves_as_pinned(name: str) -> None:
    record = run_scenario(load(name, OVERRIDES), SEED).record
    figures = {
        "accepted": record.orders["accepted"],
        "posted_to_erp": record.orders["posted_to_erp"],
        "delivered": record.orders["delivered"],
        "refunded": record.returns["refunded"],
        "dlq_entered": record.dlq["entered"],
    }
    digest, pinned = GOLDEN[name]
    assert (record.digest, figures) == (digest, pinned), (
        f"{name} {OVERRIDES} seed {SEED} now gives {record.digest} {figures}; if the behaviour change is "
        "intended, update GOLDEN deliberately (see the comment above it)"
    )
