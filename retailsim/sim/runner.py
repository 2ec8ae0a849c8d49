"""Run a scenario end to end: build the world, run it, gather evidence, judge, and describe the run.

The only wall-clock read in the runtime is here, to report ``wall_time_s``; it never feeds back into the
simulation, so it cannot change the digest. Nor can the cyclic garbage collector, which is paused for the
duration of a run (see ``collector_paused``).
"""

from __future__ import annotations

import gc
import shlex
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from retailsim.reports.flows import DeadLetterNote, SentWebhook, TraceSpill, choose_orders, order_flows
from retailsim.reports.record import FaultWindow, OrderFlow, RunRecord, Series
from retailsim.scenarios import describe
from retailsim.scenarios.schema import Scenario
from retailsim.sim.accounting import per_source
from retailsim.sim.core_process import CoreFactory
from retailsim.sim.evidence import gather, oversell_units
from retailsim.sim.invariants import judge_all
from retailsim.sim.monitors import SAMPLE_S
from retailsim.sim.world import World


@dataclass
class Run:
    world: World
    record: RunRecord


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a simulation runs; reference counting frees memory as usual.

    A run allocates millions of short-lived objects and makes almost no reference cycles (a 20,000-order
    flash sale leaves a few hundred cyclic objects), while its ledgers grow into millions of long-lived
    objects that the collector walks again and again: 15% of a 5,000-order run's CPU time with the
    default thresholds, still 9% of a 100,000-order run with thresholds raised. The collector resumes
    (and the few cycles go) when the run is over.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def replay_command(
    scenario: Scenario, source: str, seed: int, overrides: list[str], core_name: str = "real"
) -> str:
    parts = ["retailsim", "run", source, "--seed", str(seed)]
    if core_name != "real":
        parts += ["--core", core_name]
    for assignment in overrides:
        parts += ["--set", assignment]
    return shlex.join(parts)  # pasted into a POSIX shell, it runs exactly these arguments


#: FaultSpec fields that place a fault window; every other field is a parameter of the fault.
_FAULT_WINDOW_FIELDS = ("kind", "target", "start", "duration")


def _focus(scenario: Scenario, world: World) -> float:
    """The trading window, its fault episodes and the drain after them: what the time charts zoom into."""
    end = max([scenario.workload.duration, *(end for *_, end in world.episode_windows())])
    drained = world.drained_at
    if drained is not None:
        end = max(end, drained)
    return min(world.env.now, end * 1.25)


def returns_counts(world: World) -> dict[str, int]:
    """From the ledgers: returns customers asked for (store counters, online, through a service agent),
    goods that arrived (store check-ins, completed warehouse returns), and returns the gateway refunded
    (a lost parcel is refunded with nothing to arrive)."""
    received = {str(r["return_id"]) for r in world.pos.receipts}
    received |= {no for no, o in world.wms.return_orders.items() if o.get("status") == "Completed"}
    refunded = {str((r.get("metadata") or {}).get("return_no", "")) for r in world.payment.refunds}
    by_agents = sum(1 for _, r in world.store.aggregates("return") if r.get("channel") == "agent")
    return {
        "requested": world.counts.returns_requested + by_agents,
        "received": len(received),
        "refunded": len(refunded),
        "in_store": world.counts.returns_in_store,
        "rejected": sum(1 for _, r in world.store.aggregates("return") if r.get("status") == "rejected"),
        "exchanged": sum(1 for _, r in world.store.aggregates("return") if r.get("status") == "exchanged"),
    }


def return_kpis(world: World) -> dict[str, float | int | None]:
    cycle = world.return_cycle.summary()
    refund = world.refund_latency.summary()
    return {
        "return_cycle_time_p50_s": cycle["p50"],
        "return_cycle_time_p99_s": cycle["p99"],
        "refund_latency_p50_s": refund["p50"],
        "refund_latency_p99_s": refund["p99"],
        "duplicate_returns_ignored": world.counters().get("duplicate_returns", 0),
    }


def service_kpis(world: World) -> dict[str, float | int | None]:
    """Cases opened and resolved, and how often the agent's timeline showed every system's record."""
    counters = world.counters()
    kpis: dict[str, float | int | None] = {
        "bopis_orders": world.counts.bopis_orders,
        "bopis_reroutes": counters.get("pickups_rerouted", 0),
        "bopis_unfulfillable": counters.get("pickups_unfulfillable", 0),
        "carrier_exceptions": counters.get("carrier_exceptions", 0),
        "reships": counters.get("reships", 0),
        "exchanges": counters.get("exchanges", 0),
    }
    desk = world.desk
    if desk is None:
        return {**kpis, "cases_opened": 0, "cases_resolved": 0, "case_timeline_complete_share": None}
    counts = desk.counts
    return {
        **kpis,
        "cases_opened": counts.opened,
        "cases_resolved": counts.closed,
        "case_timeline_complete_share": round(counts.complete_reads / counts.reads, 4)
        if counts.reads
        else None,
        "case_resolution_time_p50_s": desk.resolution.summary()["p50"],
        "duplicate_remedies_refused": counters.get("duplicate_remedies", 0),
    }


def service_extra(world: World) -> dict[str, object]:
    desk = world.desk
    if desk is None:
        return {}
    counts = desk.counts
    return {
        "cases": {
            "opened_by_reason": dict(sorted(counts.by_reason.items())),
            "remedies": dict(sorted(counts.remedies.items())),
            "timeline_reads": counts.reads,
            "timeline_complete_reads": counts.complete_reads,
            "timeline_gaps_by_system": dict(sorted(counts.gaps.items())),
            "not_opened": counts.not_opened,
        }
    }


def fault_windows(scenario: Scenario, world: World) -> tuple[FaultWindow, ...]:
    """The plan's faults for the report, each with every parameter the FaultSpec model has (read from the
    model, so a field added to FaultSpec appears in summary.json and the report without an edit here); a
    crash at a crash point is shown when and where it struck (a planned one that never struck is not
    shown: the core never died of it)."""
    windows = [
        FaultWindow(
            f.kind,
            f.target,
            f.start,
            f.start + f.duration,
            params={
                key: value for key, value in f.model_dump(mode="json").items() if key not in _FAULT_WINDOW_FIELDS
            },
        )
        for f in scenario.faults
        if f.point is None
    ]
    windows += [
        FaultWindow("core_crash", "core", at, restart, {"point": point}) for point, at, restart in world.crash_log
    ]
    return tuple(windows)


def crash_point_extra(world: World) -> dict[str, object]:
    """Deaths at crash points by point, and how often the core passed each (runs that plan them)."""
    if not world.crash_log and not world.fault_schedule.reached:
        return {}
    return {
        "crash_points_hit": world.crash_points_hit(),
        "crash_points_passed": dict(sorted(world.fault_schedule.reached.items())),
    }


def message_flows(world: World, record: RunRecord, spill: TraceSpill, sampled: int) -> tuple[OrderFlow, ...]:
    """The message flows of the orders in the record's invariant examples and of ``sampled`` others,
    read back from the run's trace lines; the event ledger says which order each webhook is about."""
    examples = [(inv.name, inv.examples) for inv in record.invariants if inv.examples]
    chosen = choose_orders(spill.lines(), examples, sampled=sampled)
    return order_flows(spill.lines(), chosen, *flow_context(world))


def flow_context(world: World) -> tuple[list[SentWebhook], list[DeadLetterNote]]:
    """What the trace lines do not say about orders: which order each webhook event is about and how
    many copies the faults delivered (the event ledger), and the core's dead letters."""
    webhooks = [
        SentWebhook(e.source, e.event_id, e.topic, e.reference, e.sent_at, e.copies)
        for e in world.event_ledger.sent_events
    ]
    dead = [DeadLetterNote(d.aggregate_id, d.destination, d.kind, d.reason) for d in world.store.dead_letters()]
    return webhooks, dead


@collector_paused()  # the whole run: judging walks every ledger too
def run_scenario(
    scenario: Scenario,
    seed: int | None = None,
    *,
    source: str | None = None,
    overrides: list[str] | None = None,
    core_factory: CoreFactory | None = None,
    core_name: str = "real",
    on_progress: Callable[[float], None] | None = None,
    sampled_flows: int | None = None,
) -> Run:
    """``sampled_flows``: keep the trace lines and draw the message flows of the example orders and of
    that many sampled others into ``record.flows`` (None: keep nothing, draw nothing)."""
    seed = scenario.seed if seed is None else seed
    world = World(scenario, seed, core_factory)
    world.on_sample = on_progress
    spill = TraceSpill() if sampled_flows is not None else None
    world.trace.tap = spill
    started = time.perf_counter()
    world.run()
    wall = time.perf_counter() - started
    evidence = gather(world)
    results = judge_all(evidence, scenario.expect.invariants)
    world.trace.record("end", f"{world.env.now:.6f}")

    buckets = int(world.env.now // SAMPLE_S) + 1
    stage_totals = world.stages.totals
    throughput = [Series("submitted", "orders/min", SAMPLE_S, world.stages.series("checkout", buckets))]
    throughput.append(
        Series("accepted", "orders/min", SAMPLE_S, world.stages.series("stock_reserved", buckets))
    )
    throughput.append(
        Series("posted_to_erp", "orders/min", SAMPLE_S, world.stages.series("erp_posted", buckets))
    )
    for stage in ("shipped", "delivered", "cancelled"):
        throughput.append(Series(stage, "orders/min", SAMPLE_S, world.stages.series(stage, buckets)))
    levels = tuple(
        Series(name, "count", SAMPLE_S, world.levels.series(name)) for name in world.levels.names()
    )
    if world.migration is not None:  # the ERP migration's panels (sim/migration.py)
        levels += world.migration.series()
    dead = world.store.dead_letters()
    counters = world.counters()
    counts = world.counts
    acceptance = world.acceptance.summary()
    erp_post = world.erp_post.summary()
    episodes = world.episode_drains()
    if episodes:
        # Per fault episode, each from its own end; the KPI is the longest (None: one never drained).
        times = [e["drain_time_s"] for e in episodes]
        drain = None if any(t is None for t in times) else max(times)
    else:
        drained_at = world.drained_at
        drain = max(0.0, drained_at - world.drain_reference()) if drained_at is not None else None
    recoveries = [r for r in world.episode_recoveries() if r["lag_at_end_s"] > max(r["pre_fault_lag_s"], SAMPLE_S)]
    # Calls each mock refused at its rate limit (429, or Salesforce's 403 REQUEST_LIMIT_EXCEEDED).
    throttled = {name: system.throttled for name, system in sorted(world.systems.items()) if system.throttled}
    record = RunRecord(
        scenario=scenario.name,
        description=scenario.description,
        seed=seed,
        digest=world.trace.hexdigest(),
        sim_time_s=round(world.env.now, 6),
        wall_time_s=round(wall, 3),
        events=world.trace.events,
        orders={
            "submitted": counts.submitted,
            "accepted": counts.accepted,
            "rejected": counts.rejected,
            "posted_to_erp": stage_totals.get("erp_posted", 0),
            "shipped": stage_totals.get("shipped", 0),
            "delivered": stage_totals.get("delivered", 0),
            "cancelled": stage_totals.get("cancelled", 0),
            "backordered": stage_totals.get("backordered", 0),
            "payment_declined": counts.payment_declined,
            "checkout_failed": counts.checkout_failed,
            "not_offered": counts.not_offered,
        },
        returns=returns_counts(world),
        dlq={
            "entered": len(dead),
            "replayed": sum(1 for d in dead if d.status == "replayed"),
            "remaining": sum(1 for d in dead if d.status == "dead"),
        },
        faults=fault_windows(scenario, world),
        invariants=tuple(results),
        kpis={
            "acceptance_latency_p50_s": acceptance["p50"],
            "acceptance_latency_p99_s": acceptance["p99"],
            "erp_post_latency_p99_s": erp_post["p99"],
            "drain_time_s": drain,
            "oversell_units": oversell_units(world),
            "orders_per_wall_second": round(counts.submitted / wall, 1) if wall > 0 else None,
            "webhooks_sent": counts.webhooks_sent,
            "webhooks_abandoned": counts.webhooks_abandoned,
            "core_retries": counters.get("retries", 0),
            "throttled_calls": sum(throttled.values()),
            "stale_events_ignored": counters.get("stale_events", 0),
            "duplicate_webhooks_ignored": counters.get("inbox_duplicates", 0),
            "duplicate_orders_ignored": counters.get("duplicate_orders", 0),
            "webhooks_duplicated_by_faults": world.fault_schedule.duplicated,
            "webhooks_dropped_by_faults": world.fault_schedule.dropped,
            "core_crashes": world.crashes,
            "crash_point_crashes": len(world.crash_log),
            "reconciliation_checks": counters.get("reconciliation_checks", 0),
            "reconciliation_repairs": counters.get("reconciliation_repairs", 0),
            "reconciliation_drift": counters.get("reconciliation_drift", 0),
            **return_kpis(world),
            **service_kpis(world),
            **(world.migration.kpis() if world.migration is not None else {}),
        },
        latency={"acceptance": acceptance, "erp_post": erp_post},
        throughput=tuple(throughput),
        levels=levels,
        replay=replay_command(scenario, source or scenario.name, seed, overrides or [], core_name),
        settings=describe(scenario),
        extra={
            "core_counters": counters,
            "throttled_by_system": throttled,
            # Per source: events sent, copies delivered, and what the core said of each acknowledged copy.
            "events_accounted": [
                {"source": source, **row}
                for source, row in per_source(world.event_ledger.sent_events).items()
            ],
            **crash_point_extra(world),
            "drain_per_episode": episodes,
            "recovery_per_destination": recoveries,
            **({"stall": world.stalled} if world.stalled is not None else {}),
            **service_extra(world),
            **({"migration_phases": world.migration.phases()} if world.migration is not None else {}),
        },
        focus_s=_focus(scenario, world),
    )
    if spill is not None and sampled_flows is not None:
        world.trace.tap = None
        record = replace(record, flows=message_flows(world, record, spill, sampled_flows))
        spill.close()
    return Run(world, record)
