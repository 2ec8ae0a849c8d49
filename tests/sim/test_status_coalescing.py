"""Status pushes coalesce in a backlog: while Service Cloud is down, an order's newer status supersedes the
older one still waiting in the outbox, so the system receives the newest state once, never a stale one —
and ends up showing exactly what a core that sends every status would show."""

from __future__ import annotations

import random

from retailsim.core.config import CoreConfig
from retailsim.core.service import IntegrationCore
from retailsim.core.stores.base import Store
from retailsim.scenarios import load
from retailsim.scenarios.schema import FaultSpec
from retailsim.sim.runner import Run, run_scenario


def sending_every_status(
    store: Store, config: CoreConfig | None = None, rng: random.Random | None = None
) -> IntegrationCore:
    """The real core with coalescing off: every status push is sent, however stale by then."""
    core = IntegrationCore(store, config, rng)
    core.transactions.latest_only = frozenset()
    return core


def service_cloud_down_for_hours(core: str) -> Run:
    scenario = load("baseline", ["workload.orders=150", 'workload.duration="2h"', 'expect.max_drain="1d"'])
    outage = FaultSpec(kind="outage", target="service_cloud", start=300.0, duration=5 * 3600.0)
    planned = scenario.model_copy(update={"faults": [outage]})
    factory = sending_every_status if core == "every" else None
    return run_scenario(planned, 3, core_factory=factory, core_name=core)


def test_an_outage_backlog_sends_each_order_its_newest_status_once() -> None:
    coalesced, every = service_cloud_down_for_hours("real"), service_cloud_down_for_hours("every")
    for run in (coalesced, every):
        assert run.record.passed, [(r.name, r.examples[:1]) for r in run.record.invariants if r.fails_run]
    shown, shown_by_every = coalesced.world.service_cloud.current, every.world.service_cloud.current
    # The same final state on every order both accepted. Which orders they accept may differ by a few:
    # the storefront's stock view arrives in batched pushes whose timing depends on how many status
    # pushes (fewer when coalesced) go to the storefront beside them.
    both = sorted(shown.keys() & shown_by_every.keys())
    assert len(both) > 0.95 * max(len(shown), len(shown_by_every)), (len(both), len(shown), len(shown_by_every))
    assert [shown[o] for o in both] == [shown_by_every[o] for o in both]
    history = coalesced.world.service_cloud.status_history
    every_history = every.world.service_cloud.status_history
    pushes, every_pushes = sum(map(len, history.values())), sum(map(len, every_history.values()))
    assert pushes < every_pushes * 0.8, (pushes, every_pushes)  # the backlog's stale statuses never sent
    for order_no, statuses in sorted(history.items()):
        if order_no not in every_history:
            continue  # accepted by this run only
        # What was shown is what the other core showed, minus the statuses superseded while waiting.
        remaining = iter(every_history[order_no])
        assert all(status in remaining for status in statuses), (order_no, statuses)
