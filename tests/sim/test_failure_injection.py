"""Failure injection: each failure scenario holds every invariant with the real core, for several seeds,
and each guard switched off (a broken core from retailsim.sim.broken_cores) fails the named invariant.

Scenarios run at reduced size (``workload.orders``) to keep the suite fast; the full-size runs are what
``retailsim run <scenario>`` does and what the benchmarks measure.
"""

from __future__ import annotations

import pytest

from retailsim.reports.record import RunRecord
from retailsim.scenarios import load
from retailsim.sim.broken_cores import CORES
from retailsim.sim.runner import run_scenario

SMALL = {
    "baseline": 300,
    "erp-outage": 900,
    "duplicate-webhooks": 400,
    "lost-erp-replies": 500,
    "core-crash": 700,
    "bad-master-data": 500,
    "erp-bad-transport": 400,
    "black-friday": 1200,
}


def run_record(name: str, seed: int, core: str = "real", orders: int | None = None) -> RunRecord:
    scenario = load(name, [f"workload.orders={orders or SMALL[name]}"])
    return run_scenario(scenario, seed, core_factory=CORES[core], core_name=core).record


def run(name: str, seed: int, core: str = "real", orders: int | None = None) -> dict[str, tuple[int, int]]:
    """Every invariant's (checked, violations); one not required and not exercised is left out."""
    return {
        r.name: (r.checked, r.violations)
        for r in run_record(name, seed, core, orders).invariants
        if r.required or r.checked
    }


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("name", sorted(SMALL))
def test_failure_scenario_holds_every_invariant(name: str, seed: int) -> None:
    results = run(name, seed)
    broken = {k: v for k, v in results.items() if v[1]}
    unchecked = [k for k, v in results.items() if v[0] == 0]
    assert not broken, f"{name} seed {seed}: {broken} (replay: retailsim run {name} --seed {seed})"
    assert not unchecked, f"{name} seed {seed}: nothing checked for {unchecked}"


@pytest.mark.parametrize(
    ("scenario", "core", "invariant"),
    [
        ("duplicate-webhooks", "no-dedupe", "no_duplicate_erp_orders"),
        ("lost-erp-replies", "no-erp-lookup", "no_duplicate_erp_orders"),
        ("core-crash", "ack-before-commit", "no_lost_orders"),
        ("duplicate-webhooks", "no-sequencing", "per_order_ordering"),
        ("black-friday", "no-reconciliation", "reconciled_at_quiescence"),
        ("erp-outage", "no-retry", "no_lost_orders"),
        ("erp-outage", "no-breaker", "no_lost_orders"),
        ("erp-bad-transport", "no-retry-cap", "dlq_accounted"),
        ("erp-bad-transport", "no-retry", "dlq_accounted"),  # dead-lettered on the first 500: given up early
        ("baseline", "no-correlation", "correlation_complete"),
        ("duplicate-webhooks", "inbox-after-effect", "inventory_conserved"),
        ("duplicate-webhooks", "dedupe-without-source", "events_accounted"),
        ("core-crash", "outbox-apart", "no_lost_orders"),
    ],
)
def test_guard_off_is_caught_by_its_invariant(scenario: str, core: str, invariant: str) -> None:
    checked, violations = run(scenario, 1, core=core, orders=max(SMALL[scenario], 800))[invariant]
    assert checked > 0
    assert violations > 0, f"{core} was not caught by {invariant} in {scenario}"


def test_without_token_buckets_the_core_floods_a_throttled_erp() -> None:
    """The token bucket guards the ERP, not an invariant: a throttled call costs no attempt, so without
    the bucket nothing is lost — but once the flash sale's backlog builds, every due message calls the
    ERP at once and its gateway refuses the flood. The run's ``throttled_calls`` KPI shows it."""
    real = run_record("flash-sale", 1, orders=3000)
    broken = run_record("flash-sale", 1, core="no-rate-limit", orders=3000)
    assert broken.passed  # nothing lost, duplicated or left behind ...
    assert broken.kpis["throttled_calls"] > 10 * max(1, real.kpis["throttled_calls"])  # ... but a flood
    assert broken.extra["throttled_by_system"].keys() == {"erp"}


def test_a_persistent_error_walks_retries_to_the_dlq_and_an_operator_replay_brings_them_home() -> None:
    """erp-bad-transport: the ERP fails every call about one order in twenty for three hours while the
    others post, so the breaker stays closed and those messages spend their whole budget, dead-letter with
    reason and attempts, and post after the operator's replay; nothing is lost."""
    run = run_scenario(load("erp-bad-transport", ["workload.orders=400"]), 1)
    budget = run.world.core_config.retry_max_attempts
    dead = run.world.store.dead_letters()
    assert dead and run.record.dlq == {"entered": len(dead), "replayed": len(dead), "remaining": 0}
    for letter in dead:
        assert letter.attempts >= budget
        assert letter.reason.startswith(f"retries exhausted after {letter.attempts} attempts; last: ")
        assert "HTTP 500" in letter.reason or "no reply" in letter.reason
    assert {letter.destination for letter in dead} == {"erp"}
    results = {r.name: r for r in run.record.invariants}
    assert results["dlq_accounted"].checked > len(dead)  # dead letters and the audited messages
    assert run.record.passed, [r for r in run.record.invariants if r.fails_run]


def test_a_breaker_that_never_half_opens_stalls_the_run_and_is_stopped_early() -> None:
    """Once open, the breaker never lets a probe through: the recovered ERP is never called again. The
    stall watch stops the run long before the hard stop and ``recovered_promptly`` names the ERP with its
    open breaker and its bucket — not a timeout, not a digest. The real core recovers and passes."""
    broken = run_record("erp-outage", 1, core="no-half-open", orders=300)
    recovered = {r.name: r for r in broken.invariants}["recovered_promptly"]
    assert recovered.status == "violated"
    stall = broken.extra["stall"]
    assert isinstance(stall, dict) and [s["destination"] for s in stall["stuck"]] == ["erp"]
    assert stall["stuck"][0]["breaker"] == "open" and "token" in stall["stuck"][0]["bucket"]
    assert any("stalled: erp" in e and "breaker open" in e for e in recovered.examples)
    assert broken.sim_time_s < 2 * 86400  # stopped early, not at the 14-day hard stop
    real = run_record("erp-outage", 1, orders=300)
    assert {r.name: r.status for r in real.invariants}["recovered_promptly"] == "held"
    assert "stall" not in real.extra and real.passed


@pytest.mark.parametrize("name", ["erp-outage", "core-crash", "bad-master-data"])
def test_a_short_stall_watch_does_not_trip_the_real_core(name: str) -> None:
    """Messages scheduled for later (watchdogs days ahead, backoffs, a breaker's open time) are pending
    work but not stuck: with the watch cut to two minutes the real core still runs to quiescence."""
    scenario = load(name, ["workload.orders=300", 'expect.stall_after="2m"'])
    record = run_scenario(scenario, 1).record
    assert "stall" not in record.extra and record.passed, [
        r.examples for r in record.invariants if r.fails_run
    ]


def test_a_fault_spanning_the_window_is_drained_from_its_own_end_not_read_as_instant() -> None:
    """A warehouse outage for the whole trading window: nothing waits for the ERP, so the old reading
    (ERP backlog only, after the last episode) said "drained at once". Per episode, the drain starts at
    the outage's end and waits for every destination's backlog — the warehouse's hundreds of releases."""
    from retailsim.scenarios.schema import FaultSpec

    scenario = load("baseline", ["workload.orders=300", 'workload.duration="2h"'])
    outage = FaultSpec(kind="outage", target="wms", start=0.0, duration=7200.0)
    run = run_scenario(scenario.model_copy(update={"faults": [outage]}), 1)
    assert run.world.drained_at == run.world.drain_reference()  # the ERP-only reading: instant
    (episode,) = run.record.extra["drain_per_episode"]  # type: ignore[misc]
    assert episode["end_s"] == 7200.0 and episode["drained_at_s"] > 7200.0
    assert run.record.kpis["drain_time_s"] == episode["drain_time_s"] > 0
    assert run.record.passed


def test_a_throttled_call_after_an_outage_does_not_dead_letter_a_message() -> None:
    """Found by ``retailsim fuzz --seed 21`` (run 25): a goods issue ran up its attempts while the ERP was
    down (the breaker held it back), and the first 429 after the recovery — a call that cost nothing —
    dead-lettered it: the order was delivered, its ERP sales order stayed open and no operator replays
    a fuzz run. A throttled call never buries a message."""
    from retailsim.scenarios.schema import FaultSpec

    scenario = load("baseline", ["workload.orders=200", 'expect.max_drain="2d"'])
    outage = FaultSpec(kind="outage", target="erp", start=22012.2, duration=1348.7)
    record = run_scenario(scenario.model_copy(update={"faults": [outage]}), 25).record
    assert record.dlq["entered"] == 0
    assert record.passed, [(r.name, r.examples[:1]) for r in record.invariants if r.fails_run]


def test_a_run_with_nothing_left_scheduled_stops_at_the_dead_end_not_the_hard_stop() -> None:
    """outbox-apart dies between an order's commit and its commands' (``retailsim fuzz --seed 1 --core
    outbox-apart``, run 7): that order is open and nothing will ever move it. Once nothing is scheduled any
    more the run stops and says so, instead of idling to the fourteen-day hard stop; the real core, dying
    at the same moments, reaches quiescence. The find predates bulk status pushes: its crash moments need
    the pushes sent one by one, as they were then (``core.bulk_status`` off)."""
    from retailsim.scenarios.schema import FaultSpec

    one_by_one = ["core.bulk_status.window_s=0", "core.bulk_status.max_records=1"]
    scenario = load("baseline", ["workload.orders=200", 'workload.duration="8h"', *one_by_one])
    crash = FaultSpec(
        kind="core_crash", target="core", start=12148.1, duration=130.2, probability=0.197, point="any"
    )
    planned = scenario.model_copy(update={"faults": [crash]})
    broken = run_scenario(planned, 7, core_factory=CORES["outbox-apart"], core_name="outbox-apart").record
    reconciled = {r.name: r for r in broken.invariants}["reconciled_at_quiescence"]
    assert reconciled.status == "violated" and any("at a dead end" in e for e in reconciled.examples)
    assert broken.sim_time_s < scenario.expect.hard_stop / 2
    assert run_scenario(planned, 7).record.passed


def test_work_scheduled_for_later_is_not_read_as_a_slow_recovery() -> None:
    """Found by the fuzzing property (run seed 1): during a payment persistent_error, a five-second core
    crash ended with payment messages waiting out their backoff. Counted as backlog, they read as a
    two-hour recovery (bound 390 s); measured as delay — the oldest *due* message's wait — the payment
    destination had caught up at once."""
    from retailsim.scenarios.schema import FaultSpec

    scenario = load("baseline", ["workload.orders=150", 'workload.duration="2h"', 'expect.max_drain="2d"'])
    plan = [
        FaultSpec(kind="outage", target="payment", start=0.0, duration=30.0),
        FaultSpec(kind="core_crash", target="core", start=1759.455704139026, duration=5.0),
        FaultSpec(
            kind="persistent_error",
            target="payment",
            start=1607.853686844504,
            duration=7312.0,
            probability=0.5,
            window=10.0,
        ),
    ]
    record = run_scenario(scenario.model_copy(update={"faults": plan}), 1).record
    recovered = {r.name: r for r in record.invariants}["recovered_promptly"]
    assert recovered.status == "held", recovered.examples
    assert record.passed, [(r.name, r.examples[:1]) for r in record.invariants if r.fails_run]
