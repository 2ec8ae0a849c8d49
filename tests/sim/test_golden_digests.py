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
    "bad-master-data": ("1bab7287459aa5a2", {'accepted': 194, 'posted_to_erp': 194, 'delivered': 194, 'refunded': 0, 'dlq_entered': 35}),
    "baseline": ("0d78730441bf63b3", {'accepted': 196, 'posted_to_erp': 196, 'delivered': 196, 'refunded': 0, 'dlq_entered': 0}),
    "black-friday": ("0e32fb4a586e0d31", {'accepted': 191, 'posted_to_erp': 191, 'delivered': 191, 'refunded': 0, 'dlq_entered': 3}),
    "bopis-reroute": ("cda5484d06eec32a", {'accepted': 194, 'posted_to_erp': 194, 'delivered': 194, 'refunded': 0, 'dlq_entered': 0}),
    "cloud-erp-migration": ("1e67c19f421175e3", {'accepted': 193, 'posted_to_erp': 193, 'delivered': 193, 'refunded': 51, 'dlq_entered': 1}),
    "core-crash": ("959477124cbccf16", {'accepted': 195, 'posted_to_erp': 195, 'delivered': 195, 'refunded': 0, 'dlq_entered': 1}),
    "delayed-shipment-support": ("b244474b30c33c55", {'accepted': 196, 'posted_to_erp': 209, 'delivered': 198, 'refunded': 20, 'dlq_entered': 0}),
    "duplicate-webhooks": ("277ef3bcd41dfd0b", {'accepted': 198, 'posted_to_erp': 198, 'delivered': 198, 'refunded': 0, 'dlq_entered': 0}),
    "erp-bad-transport": ("c71c1ffd7313125f", {'accepted': 192, 'posted_to_erp': 192, 'delivered': 192, 'refunded': 0, 'dlq_entered': 8}),
    "erp-outage": ("ae2c92602db3a80c", {'accepted': 197, 'posted_to_erp': 197, 'delivered': 197, 'refunded': 0, 'dlq_entered': 0}),
    "flash-sale": ("64304e5001c15023", {'accepted': 197, 'posted_to_erp': 197, 'delivered': 197, 'refunded': 0, 'dlq_entered': 0}),
    "lost-erp-replies": ("4542e5b81267a1e7", {'accepted': 197, 'posted_to_erp': 197, 'delivered': 197, 'refunded': 0, 'dlq_entered': 0}),
    "omnichannel-returns": ("1c75985bc44bae0e", {'accepted': 195, 'posted_to_erp': 195, 'delivered': 195, 'refunded': 63, 'dlq_entered': 0}),
    "warehouse-and-store-feeds": ("e9f55b2bc1a2c4e6", {'accepted': 196, 'posted_to_erp': 196, 'delivered': 196, 'refunded': 56, 'dlq_entered': 0}),
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
