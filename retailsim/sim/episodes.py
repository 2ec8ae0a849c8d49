"""Fault episodes, measured: when each happened, when the world drained after it, how it recovered.

Read after (or during) a run from what the sampler recorded — nothing here acts on the world. An episode
is a fault of the scenario over its window, or a core crash at a crash point from the death it caused to
the restart. Per episode: when, after its end, no order waited for the ERP and every destination had
caught up (``episode_drains``, for ``backlog_drained``); per episode (overlapping ones merged) and
destination: the backlog at its end and when the destination was back at its pre-fault level, against a
bound derived from the run (``episode_recoveries``, for ``recovered_promptly``).

Rules kept: recovery is measured as delay — how long the oldest due message waits — not as a count of
open messages (a steady flow's backlog grows with work scheduled for later); a fault that outlasts the
run is reported, not clipped; samples are read at ``SAMPLE_S``, the sampler's period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import simpy

from retailsim.core.service import CoreConfig
from retailsim.scenarios.schema import Scenario, SystemSpec
from retailsim.sim.checkout import Checkout
from retailsim.sim.core_process import CoreProcess
from retailsim.sim.monitors import SAMPLE_S
from retailsim.sim.sampler import Sampler

LOOKBACK_S = 900.0  # a destination's pre-fault backlog: the highest sampled in this stretch before it


def first_sample_index(at_or_after: float) -> int:
    """The index of the first sample that may be taken at or after ``at_or_after`` (sample i is at
    (i + 1) × SAMPLE_S)."""
    return max(0, int(-(-at_or_after // SAMPLE_S)) - 1)


@dataclass(eq=False, kw_only=True)
class Episodes:
    """The run's fault episodes and, for each, its drain and each destination's recovery."""

    env: simpy.Environment
    scenario: Scenario
    core_config: CoreConfig
    process: CoreProcess  # its crash log: deaths at crash points are episodes too
    checkout: Checkout  # when the workload ended
    sampler: Sampler  # what was sampled

    def windows(self) -> list[tuple[str, str, float, float]]:
        """The run's fault episodes as they happened, (kind, target, start, end) by start: each episode of
        the scenario (``Scenario.fault_episodes``) over its window — except a core crash at a crash point,
        which is an episode from the death it caused to the restart (armed at ``start``, it strikes when
        the core passes the point, maybe much later; one that never struck was no episode)."""
        window = self.scenario.workload.duration
        spans = [
            (f.kind, f.target, f.start, f.start + f.duration)
            for f in self.scenario.fault_episodes()
            if f.point is None
        ]
        spans += [
            ("core_crash", "core", at, restart) for _, at, restart in self.process.crash_log if at <= window
        ]
        return sorted(spans, key=lambda span: (span[2], span[3], span[0]))

    def drain_reference(self) -> float:
        """When the pressure ended: the last fault episode's end (background faults that outlast the
        trading window do not count, see ``Scenario.fault_episodes``), else the spike's end, else the
        workload's end."""
        ends = [min(end, self.env.now) for _, _, _, end in self.windows()]
        if ends:
            return max(ends)
        spec = self.scenario.workload
        if spec.shape == "flash_sale":
            return spec.spike_start + spec.spike_duration
        return self.checkout.workload_end if self.checkout.workload_done else spec.duration

    def drained_at(self) -> float | None:
        """The first sample at or after the pressure ended with no order waiting for the ERP (None: never)."""
        reference = self.drain_reference()
        for index, backlog in enumerate(self.sampler.levels.series("erp_backlog")):
            at = (index + 1) * SAMPLE_S
            if at >= reference and backlog == 0:
                return at
        return None

    def drain_rate(self, destination: str) -> float:
        """Messages per second a destination can take: the lowest of the core's bucket, the system's
        rate limit and its capacity (workers or concurrency over the median round trip)."""
        spec: SystemSpec = getattr(self.scenario.systems, destination)
        limits = [r for r in (self.core_config.rate_limits.get(destination), spec.rate_limit) if r]
        round_trip = spec.latency.median + 2 * self.scenario.delivery.link_latency.median
        workers = min(self.scenario.delivery.workers_per_system, spec.concurrency)
        return min([*limits, workers / max(round_trip, 0.001)])

    @staticmethod
    def _sampled(series: Sequence[float], at_or_after: float) -> tuple[float, float] | None:
        """(time, value) of the first sample at or after ``at_or_after`` (None: the run ended first)."""
        for index in range(first_sample_index(at_or_after), len(series)):
            at = (index + 1) * SAMPLE_S
            if at >= at_or_after:
                return at, float(series[index])
        return None

    @staticmethod
    def pre_fault_level(series: Sequence[float], start: float) -> float:
        """The highest backlog sampled in the quarter-hour before ``start`` (0 before the first sample)."""
        values = [float(v) for i, v in enumerate(series) if start - LOOKBACK_S <= (i + 1) * SAMPLE_S < start]
        return max(values, default=0.0)

    def caught_up(self, destination: str, index: int, pre_fault_lag: float) -> bool:
        """At sample ``index`` the destination is back at its pre-fault level: its oldest due message
        waits no longer than before the fault (or than one sample). Measured as delay, not as a count of
        open messages: a steady flow's backlog grows with work scheduled for later (captures at shipping,
        backoffs, watchdogs), which no destination owes yet — a count read a five-second blip as a
        two-hour recovery."""
        return self.sampler.destination_lag[destination][index] <= max(pre_fault_lag, SAMPLE_S)

    def drains(self) -> list[dict[str, Any]]:
        """Per fault episode: when, after its own end, no order waited for the ERP and every destination
        had caught up (``caught_up``); the drain time from that end (None: never, or the fault outlasted
        the run). A fault that spans the window is measured from its end, not clipped."""
        erp = self.sampler.levels.series("erp_backlog")
        lags = self.sampler.destination_lag
        drains = []
        for kind, target, start, end in self.windows():
            levels = {name: self.pre_fault_level(series, start) for name, series in lags.items()}
            drained_at = None
            if end <= self.env.now:
                for index in range(first_sample_index(end), len(erp)):
                    at = (index + 1) * SAMPLE_S
                    if at < end or erp[index] != 0:
                        continue
                    if all(self.caught_up(n, index, levels[n]) for n in lags):
                        drained_at = at
                        break
            drains.append(
                {
                    "kind": kind,
                    "target": target,
                    "start_s": start,
                    "end_s": end,
                    "drained_at_s": drained_at,
                    "drain_time_s": None if drained_at is None else drained_at - end,
                    "outlasted_run": end > self.env.now,
                }
            )
        return drains

    def recoveries(self) -> list[dict[str, Any]]:
        """Per fault episode (overlapping ones merged) and destination: the backlog at the episode's end,
        when the destination had caught up (``caught_up``), and the bound derived from the run — backlog
        at the end ÷ the destination's rate × ``expect.recovery_factor`` + the retry cap + the breaker's
        open time (+ one sample)."""
        spans: list[list[float]] = []
        for _, _, start, end in self.windows():
            if spans and start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        slack = self.core_config.retry_cap_s + self.core_config.breaker_open_s + SAMPLE_S
        factor = self.scenario.expect.recovery_factor
        lags = self.sampler.destination_lag
        rows = []
        for start, end in spans:
            if end > self.env.now:
                continue
            for name, series in self.sampler.destination_backlog.items():
                level = self.pre_fault_level(lags[name], start)
                lag_at_end = self._sampled(lags[name], end)
                at_end = self._sampled(series, end)
                if at_end is None:
                    continue
                rate = self.drain_rate(name)
                bound = at_end[1] / rate * factor + slack
                recovered = None
                for index in range(first_sample_index(end), len(series)):
                    at = (index + 1) * SAMPLE_S
                    if at >= end and self.caught_up(name, index, level):
                        recovered = at
                        break
                rows.append(
                    {
                        "destination": name,
                        "start_s": start,
                        "end_s": end,
                        "pre_fault_lag_s": round(level, 3),
                        "lag_at_end_s": round(lag_at_end[1], 3) if lag_at_end is not None else 0.0,
                        "at_end": at_end[1],
                        "rate_per_s": round(rate, 3),
                        "bound_s": round(bound, 1),
                        "recovered_after_s": None if recovered is None else recovered - end,
                    }
                )
        return rows
