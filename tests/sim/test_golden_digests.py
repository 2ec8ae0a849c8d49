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
    "bad-master-data": ("2ad7f5ebd97373fe", {"accepted": 194, "posted_to_erp": 194, "delivered": 194, "refunded": 0, "dlq_entered": 31}),
    "baseline": ("d1ed480e91a3dde9", {"accepted": 196, "posted_to_erp": 196, "delivered": 196, "refunded": 0, "dlq_entered": 0}),
    "black-friday": ("50620fcab8e45216", {"accepted": 191, "posted_to_erp": 191, "delivered": 191, "refunded": 0, "dlq_entered": 2}),
    "bopis-reroute": ("9164381f9db9a618", {"accepted": 194, "posted_to_erp": 194, "delivered": 194, "refunded": 0, "dlq_entered": 0}),
    "cloud-erp-migration": ("85d38debb605729f", {"accepted": 193, "posted_to_erp": 193, "delivered": 193, "refunded": 50, "dlq_entered": 1}),
    "core-crash": ("e9b548e771892213", {"accepted": 195, "posted_to_erp": 195, "delivered": 195, "refunded": 0, "dlq_entered": 1}),
    "delayed-shipment-support": ("8b8cf28eb72436e6", {"accepted": 196, "posted_to_erp": 209, "delivered": 198, "refunded": 20, "dlq_entered": 0}),
    "duplicate-webhooks": ("1b000e33df0d0777", {"accepted": 198, "posted_to_erp": 198, "delivered": 198, "refunded": 0, "dlq_entered": 0}),
    "erp-bad-transport": ("0c727982ec9692f4", {"accepted": 195, "posted_to_erp": 195, "delivered": 195, "refunded": 0, "dlq_entered": 7}),
    "erp-outage": ("c9052e8ae911bbf8", {"accepted": 197, "posted_to_erp": 197, "delivered": 197, "refunded": 0, "dlq_entered": 0}),
    "flash-sale": ("2edb75068de8181c", {"accepted": 195, "posted_to_erp": 195, "delivered": 195, "refunded": 0, "dlq_entered": 0}),
    "lost-erp-replies": ("a61d4954eda8d67a", {"accepted": 197, "posted_to_erp": 197, "delivered": 197, "refunded": 0, "dlq_entered": 0}),
    "omnichannel-returns": ("0eb988a79184b405", {"accepted": 197, "posted_to_erp": 197, "delivered": 197, "refunded": 65, "dlq_entered": 0}),
    "warehouse-and-store-feeds": ("adceeeb499129bf5", {"accepted": 196, "posted_to_erp": 196, "delivered": 196, "refunded": 54, "dlq_entered": 0}),
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
