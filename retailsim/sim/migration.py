"""The ERP migration's room: the open-order job's schedule, the legacy ERP's retirement, and the KPIs.

The core owns the job (core/service/migration_job.py) and its durable state; this room only drives it as
an operator's scheduler would — one pass every ``job_interval`` from ``job_start`` until ``cutover``,
through the core process (a pass the core died in is simply the next pass's work) — and watches, every
``job_interval`` until the later of the cutover and the end of the workload:

* orders per ERP of record (the core's records), the migration backlog (legacy orders the job would
  still move, and moves whose legacy document is not yet retired), and the drift — orders that the two
  ERPs' own ledgers do not hold in exactly one place (a live sales order in both, or in neither, while
  the core thinks it posted): transient during a move, zero at quiescence (``one_erp_of_record``);
* the phase at each sample.

Rules kept: samples and passes are scheduled at fixed simulated times; the passes go into the trace
digest (only migration runs have them); reading the store and the mocks' ledgers changes nothing.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import simpy

from retailsim.core.config import MigrationConfig
from retailsim.core.documents import DocKind
from retailsim.core.service import IntegrationCore
from retailsim.core.service.erp_routing import phase
from retailsim.core.service.migration_job import MigrationJob
from retailsim.core.stores.base import Store
from retailsim.reports.record import Series
from retailsim.scenarios.schema import MigrationSpec
from retailsim.sim.core_process import CoreProcess
from retailsim.sim.monitors import TraceDigest
from retailsim.systems.erp_base import ErpSystem


def _run_pass(core: IntegrationCore, now: float) -> int:
    return core.migration.run_pass(now)


@dataclass(eq=False, kw_only=True)
class MigrationRoom:
    """Drives the open-order migration job and samples the migration's KPIs (see the module docstring)."""

    env: simpy.Environment
    spec: MigrationSpec
    config: MigrationConfig
    workload_s: float
    process: CoreProcess
    store: Store
    legacy: ErpSystem
    cloud: ErpSystem
    trace: TraceDigest
    # (time, orders of record in the legacy ERP, in the cloud ERP, migration backlog, drift, phase)
    samples: list[tuple[float, int, int, int, int, int]] = field(default_factory=list)
    passes: int = 0

    def start(self) -> None:
        self.env.process(self._job())
        self.env.process(self._watch())

    def _job(self) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(self.spec.job_start)
        while self.env.now < self.config.job_end_at:
            now = self.env.now
            moved = self.process.ask(partial(_run_pass, now=now))
            self.passes += 1
            self.trace.record(f"{now:.6f}", "migration-pass", "died" if moved is None else moved)
            yield self.env.timeout(self.spec.job_interval)

    def _watch(self) -> Generator[simpy.Event, Any, None]:
        until = max(self.config.job_end_at, self.workload_s) + self.spec.job_interval
        while self.env.now <= until:
            self.samples.append(self.sample(self.env.now))
            yield self.env.timeout(self.spec.job_interval)

    def sample(self, now: float) -> tuple[float, int, int, int, int, int]:
        per_erp = {self.legacy.name: 0, self.cloud.name: 0}
        drift = 0
        for order_no, record in self.store.aggregates(DocKind.ORDER):
            home = str(record.get("erp") or self.legacy.name)
            per_erp[home] = per_erp.get(home, 0) + 1
            live = sum(
                1
                for erp in (self.legacy, self.cloud)
                for number in erp.orders_by_reference.get(order_no, [])
                if erp.order_state(number) != "cancelled"
            )
            gone = str(record["status"]) in ("cancelled", "rejected")
            if live > 1 or (live == 0 and record.get("erp_sales_order") and not gone):
                drift += 1
        unfinished = sum(
            1 for _, job in self.store.aggregates(DocKind.MIGRATION) if job.get("state") != "retired"
        )
        backlog = len(MigrationJob.candidates_in(self.store)) + unfinished
        current = phase(self.config, now)
        return (now, per_erp[self.legacy.name], per_erp[self.cloud.name], backlog, drift, current)

    def series(self) -> tuple[Series, ...]:
        """Orders per ERP of record, the migration backlog and the drift, one value per sample."""
        step = self.spec.job_interval
        return tuple(
            Series(name, "orders", step, tuple(float(s[column]) for s in self.samples))
            for name, column in (
                ("orders_of_record_legacy_erp", 1),
                ("orders_of_record_cloud_erp", 2),
                ("migration_backlog", 3),
                ("migration_drift", 4),
            )
        )

    def phases(self) -> list[dict[str, Any]]:
        """The report's phase table: each phase's window, the orders accepted in it by their first ERP of
        record, the orders the job moved in it, and the backlog and drift at its last sample."""
        bounds = (
            (1, "legacy only", 0.0, self.config.coexistence_at),
            (2, "coexistence", self.config.coexistence_at, self.config.cutover_at),
            (3, "cutover (legacy read-only)", self.config.cutover_at, None),
        )
        moved_at = {
            no: float(job.get("moved_at", 0.0)) for no, job in self.store.aggregates(DocKind.MIGRATION)
        }
        rows = []
        for number, name, start, end in bounds:

            def within(t: float, start: float = start, end: float | None = end) -> bool:
                return start <= t and (end is None or t < end)

            accepted = {self.legacy.name: 0, self.cloud.name: 0}
            for order_no, record in self.store.aggregates(DocKind.ORDER):
                if within(float(record.get("accepted_at") or 0.0)):
                    first = (
                        self.legacy.name
                        if order_no in moved_at
                        else str(record.get("erp") or self.legacy.name)
                    )
                    accepted[first] = accepted.get(first, 0) + 1
            last = [s for s in self.samples if within(s[0])]
            rows.append(
                {
                    "phase": f"{number} {name}",
                    "from_s": start,
                    "to_s": end,
                    "accepted_to_legacy": accepted[self.legacy.name],
                    "accepted_to_cloud": accepted[self.cloud.name],
                    "moved_by_job": sum(1 for t in moved_at.values() if within(t)),
                    "backlog_at_end": last[-1][3] if last else None,
                    "drift_at_end": last[-1][4] if last else None,
                }
            )
        return rows

    def kpis(self) -> dict[str, Any]:
        """The migration's figures for summary.json: per phase, orders per ERP and the backlog at its end;
        the largest backlog and drift seen; the drift at the last sample."""
        last = self.samples[-1] if self.samples else (0.0, 0, 0, 0, 0, 1)
        return {
            "migration_passes": self.passes,
            "migration_backlog_max": max((s[3] for s in self.samples), default=0),
            "migration_drift_max": max((s[4] for s in self.samples), default=0),
            "migration_drift_final": last[4],
            "orders_legacy_erp": last[1],
            "orders_cloud_erp": last[2],
        }
