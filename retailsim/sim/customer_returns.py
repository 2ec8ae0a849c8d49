"""Customer returns: customers bring delivered orders back, online or in a store, until each is settled.

A delivered order comes back with the workload's ``return_rate``, after a delay drawn from
``return_delay`` (bounded: a customer past the return window tries a week late at most, and is
refused). Some lines of the order come back, each in a condition (damaged, opened, resellable). In a
store the POS opens the return at the till; online the storefront asks the core's return API (retried
as an order export is) and the warehouse learns what condition the parcel will arrive in. The returns
then follow their status from the core until settled (refunded, rejected, exchanged) — a return a
service agent opened is awaited too — and the return cycle and the refund's latency are measured.

Rules kept: every draw comes from the run's ``returns`` stream; return numbers are derived (``RMA`` and a
count, or the POS's own); an open return keeps the world from being quiet.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

from retailsim.core.service import CoreConfig
from retailsim.scenarios.schema import Scenario
from retailsim.sim.checkout import export_to_core
from retailsim.sim.core_process import CoreProcess
from retailsim.sim.links import latency
from retailsim.sim.monitors import BucketCounter, Counts, Tally, TraceDigest
from retailsim.sim.seeds import Streams
from retailsim.sim.service_desk import ServiceDesk
from retailsim.systems.pos import Pos
from retailsim.systems.storefront import Storefront
from retailsim.systems.wms import Wms

RETURN_TERMINAL = frozenset({"refunded", "rejected", "exchanged"})


@dataclass(eq=False, kw_only=True)
class CustomerReturns:
    """Customers returning delivered orders, and the returns the world waits for until they settle."""

    env: simpy.Environment
    scenario: Scenario
    core_config: CoreConfig
    streams: Streams
    storefront: Storefront
    pos: Pos
    wms: Wms
    process: CoreProcess
    desk: ServiceDesk | None
    trace: TraceDigest
    counts: Counts
    stages: BucketCounter
    return_cycle: Tally = field(init=False, default_factory=Tally)  # return requested → refunded
    refund_latency: Tally = field(init=False, default_factory=Tally)  # goods received → refunded
    open_returns: int = field(init=False, default=0)
    _awaited: set[str] = field(init=False, default_factory=set)  # returns counted in open_returns
    _times: dict[str, list[float]] = field(init=False, default_factory=dict)  # [first status, received]

    def on_delivered(self, order_no: str) -> None:
        """An order was delivered: its customer may bring (some of) it back later."""
        if self.scenario.workload.return_rate > 0:
            self._maybe_return(order_no)

    def _maybe_return(self, order_no: str) -> None:
        spec = self.scenario.workload
        rng = self.streams("returns")
        if rng.random() >= spec.return_rate or order_no not in self.storefront.orders:
            return
        self.open_returns += 1
        # The lognormal's tail is unbounded; a customer past the return window tries a week late at most
        # (and is refused), so a run's returns all come in within a bounded time of its deliveries.
        delay = min(latency(spec.return_delay).sample(rng), self.core_config.return_window_s + 7 * 86400.0)
        self.env.process(self._return(order_no, delay))

    def _return(self, order_no: str, delay: float) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(delay)
        spec = self.scenario.workload
        rng = self.streams("returns")
        items = self.storefront.orders[order_no]["productItems"]
        chosen = [item for item in items if rng.random() < 0.7] or [items[0]]
        lines: list[tuple[str, int, str]] = []
        for item in chosen:
            draw = rng.random()
            condition = (
                "damaged"
                if draw < spec.damaged_share
                else "opened"
                if draw < spec.damaged_share + spec.opened_share
                else "resellable"
            )
            lines.append((str(item["productId"]), rng.randint(1, int(item["quantity"])), condition))
        self.counts.returns_requested += 1
        in_store = self.pos.store_ids and rng.random() < spec.store_return_share
        if in_store:
            store = self.pos.store_ids[rng.randrange(len(self.pos.store_ids))]
            return_no = self.pos.open_return(store, order_no, lines, "R01")
            self._awaited.add(return_no)
            self.counts.returns_in_store += 1
            self.trace.record(f"{self.env.now:.6f}", "return", return_no, order_no, store)
            if self.desk is not None:
                self.desk.on_return_requested(return_no, order_no)
            return
        return_no = f"RMA{self.counts.returns_requested:07d}"
        self._awaited.add(return_no)
        self.wms.expect_return_conditions(return_no, [condition for _, _, condition in lines])
        body = {
            "return_no": return_no,
            "order_no": order_no,
            "channel": "storefront",
            "reason": "R01",
            "lines": [{"sku": sku, "quantity": qty, "condition": "resellable"} for sku, qty, _ in lines],
        }
        reply = yield from export_to_core(
            self.env,
            self.process,
            latency(self.scenario.delivery.link_latency),
            rng,
            lambda core: core.request_return(body, f"{return_no}:request", self.env.now),
        )
        status = reply.status if reply is not None else None
        self.trace.record(f"{self.env.now:.6f}", "return", return_no, order_no, status)
        if status is None or status >= 300:
            self.counts.returns_not_taken += 1
            self._awaited.discard(return_no)
            self.open_returns -= 1
        elif self.desk is not None:
            self.desk.on_return_requested(return_no, order_no)

    def on_return_status(self, return_no: str, status: str, now: float) -> None:
        """The core changed a return's status (its observer): count what is open, time the refund."""
        self.trace.record(f"{now:.6f}", "return-status", return_no, status)
        if return_no not in self._awaited and status not in RETURN_TERMINAL:
            # A return the customers' side did not start (a service agent opened it): wait for it too.
            self._awaited.add(return_no)
            self.open_returns += 1
        self.stages.add(f"return_{status}", now)
        times = self._times.setdefault(return_no, [now, -1.0])
        if status == "received":
            times[1] = now
        elif status == "refunded":
            self.return_cycle.add(now - times[0])
            if times[1] >= 0:
                self.refund_latency.add(now - times[1])
        if status in RETURN_TERMINAL and return_no in self._awaited:
            self._times.pop(return_no, None)
            self._awaited.discard(return_no)
            self.open_returns -= 1
