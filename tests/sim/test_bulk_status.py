"""Status pushes in bulk (``core.bulk_status``): Service Cloud receives the pushes of each flush window as
sObject Collections requests — far fewer requests for the same final state — and a record the org refuses
inside a 200 is that message's failure alone, retried, dead-lettered and replayed like any other. A core
that trusts the 200 for every record of a collection leaves orders stale in Service Cloud, and
``reconciled_at_quiescence`` says so."""

from __future__ import annotations

from tests.sim.bulk_runs import BULK_OFF, BULK_ON, failing_run, failures, flash_sale


def test_bulk_sends_far_fewer_requests_for_the_same_final_state() -> None:
    bulk, single = flash_sale(*BULK_ON), flash_sale(*BULK_OFF)
    for run in (bulk, single):
        assert run.record.passed, failures(run)
    for run in (bulk, single):  # every order shows its final status (reconciled_at_quiescence held too)
        shown = run.world.service_cloud.current
        assert len(shown) == run.record.orders["accepted"] > 3000 and set(shown.values()) == {"delivered"}
    org, org_single = bulk.world.service_cloud, single.world.service_cloud
    assert org.calls < org_single.calls * 0.6, (org.calls, org_single.calls)
    assert org.api_usage < org_single.api_usage * 0.6  # the org's API limit counts requests


def test_a_record_refused_in_a_200_is_retried_dead_lettered_and_replayed_alone() -> None:
    run = failing_run("service_cloud", "real")
    assert run.record.passed, failures(run)
    dead = run.world.store.dead_letters()
    assert dead and {d.destination for d in dead} == {"service_cloud"}
    assert any("UNABLE_TO_LOCK_ROW" in d.reason for d in dead)  # a record's failure, inside a 200
    assert run.record.dlq["remaining"] == 0


def test_a_core_that_trusts_the_200_for_every_record_is_caught() -> None:
    run = failing_run("service_cloud", "collection-trusts-200")
    results = {r.name: r for r in run.record.invariants}
    assert results["reconciled_at_quiescence"].violations > 0, failures(run)
    assert any("service_cloud says" in e for e in results["reconciled_at_quiescence"].examples)
