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
    "bad-master-data": ("c80271db3578ebe1", {"accepted": 197, "posted_to_erp": 197, "delivered": 197, "refunded": 0, "dlq_entered": 31}),
    "baseline": ("8fe47891d72210ed", {"accepted": 198, "posted_to_erp": 198, "delivered": 198, "refunded": 0, "dlq_entered": 0}),
    "black-friday": ("ec89bc1b3fc0e891", {"accepted": 191, "posted_to_erp": 191, "delivered": 191, "refunded": 0, "dlq_entered": 3}),
    "bopis-reroute": ("4ee4336114f06300", {"accepted": 194, "posted_to_erp": 194, "delivered": 194, "refunded": 0, "dlq_entered": 0}),
    "cloud-erp-migration": ("62886a0f8f6b1681", {"accepted": 194, "posted_to_erp": 194, "delivered": 194, "refunded": 48, "dlq_entered": 1}),
    "core-crash": ("2e7f5144a5b12def", {"accepted": 195, "posted_to_erp": 195, "delivered": 195, "refunded": 0, "dlq_entered": 1}),
    "delayed-shipment-support": ("cdbecb0bbfa4fe2a", {"accepted": 196, "posted_to_erp": 209, "delivered": 198, "refunded": 20, "dlq_entered": 0}),
    "duplicate-webhooks": ("0faa3e0731286016", {"accepted": 198, "posted_to_erp": 198, "delivered": 198, "refunded": 0, "dlq_entered": 0}),
    "erp-bad-transport": ("b2cd2d2232243eef", {"accepted": 195, "posted_to_erp": 195, "delivered": 195, "refunded": 0, "dlq_entered": 7}),
    "erp-outage": ("c40f4731fceedb8a", {"accepted": 197, "posted_to_erp": 197, "delivered": 197, "refunded": 0, "dlq_entered": 0}),
    "flash-sale": ("99b200bd110917c0", {"accepted": 194, "posted_to_erp": 194, "delivered": 194, "refunded": 0, "dlq_entered": 0}),
    "lost-erp-replies": ("3bfb2cb0383298cf", {"accepted": 197, "posted_to_erp": 197, "delivered": 197, "refunded": 0, "dlq_entered": 0}),
    "omnichannel-returns": ("78f3775aaca66ae8", {"accepted": 197, "posted_to_erp": 197, "delivered": 197, "refunded": 62, "dlq_entered": 0}),
    "warehouse-and-store-feeds": ("b45f9986537c670c", {"accepted": 196, "posted_to_erp": 196, "delivered": 196, "refunded": 50, "dlq_entered": 0}),
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
