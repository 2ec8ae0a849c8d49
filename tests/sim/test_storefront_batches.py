"""The storefront's status and inventory pushes in OCAPI batches (``core.bulk_status``): far fewer requests
for the same final storefront state, every invariant held; a subrequest the storefront fails inside a 200
is its own message's failure alone, retried, dead-lettered and replayed. A core that trusts the batch's 200
for every subrequest (ignoring ``x-dw-status-code``) leaves orders stale on the storefront, and
``reconciled_at_quiescence`` says so."""

from __future__ import annotations

from retailsim.sim.runner import Run
from tests.sim.bulk_runs import BULK_OFF, BULK_ON, failing_run, failures, flash_sale


def atp(run: Run) -> dict[str, int]:
    """The core's available-to-promise per SKU over its DCs, at the end of the run."""
    total: dict[str, int] = {}
    for position in run.world.store.positions():
        total[position.sku] = total.get(position.sku, 0) + position.available
    return total


def test_batches_send_far_fewer_storefront_requests_for_the_same_final_state() -> None:
    bulk, single = flash_sale(*BULK_ON), flash_sale(*BULK_OFF)
    for run in (bulk, single):
        assert run.record.passed, failures(run)
        shown = run.world.storefront.current
        assert len(shown) == run.record.orders["accepted"] > 3000 and set(shown.values()) == {"delivered"}
        # the newest stock of every SKU reached the storefront, batch or not
        assert {sku: run.world.storefront.availability.get(sku) for sku in atp(run)} == atp(run)
    both = set(bulk.world.storefront.current) & set(single.world.storefront.current)
    assert len(both) > 2000  # the order numbers both runs accepted (timing decides some acceptances)
    for order_no in sorted(both):  # the same final document fields per order
        ours, theirs = bulk.world.storefront.orders[order_no], single.world.storefront.orders[order_no]
        fields = ("status", "shippingStatus", "paymentStatus", "confirmationStatus", "exportStatus", "c_omsStatus")
        assert [ours.get(f) for f in fields] == [theirs.get(f) for f in fields], order_no
    shop, shop_single = bulk.world.storefront, single.world.storefront
    assert shop.calls < shop_single.calls * 0.7, (shop.calls, shop_single.calls)


def test_a_subrequest_failed_in_a_200_is_retried_dead_lettered_and_replayed_alone() -> None:
    run = failing_run("storefront", "real")
    assert run.record.passed, failures(run)
    dead = [d for d in run.world.store.dead_letters() if d.destination == "storefront"]
    assert {d.kind for d in dead} >= {"UpdateOrderStatus"}
    assert run.record.dlq["remaining"] == 0
    assert run.world.storefront.refusals > 0


def test_a_core_that_trusts_the_batchs_200_for_every_subrequest_is_caught() -> None:
    run = failing_run("storefront", "collection-trusts-200")
    results = {r.name: r for r in run.record.invariants}
    assert results["reconciled_at_quiescence"].violations > 0, failures(run)
    assert any("storefront says" in e for e in results["reconciled_at_quiescence"].examples)
