"""The scenario file's schema: plain TOML validated by pydantic, every key documented and bounded.

Rules kept: unknown keys are errors (a typo must not silently fall back to a default); durations are
strings with a unit (``"250ms"``, ``"20m"``, ``"2h"``, ``"1d"``) or plain seconds; an error names the
file, the key path and the reason. ``--set path=value`` overrides go through the same validation.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from retailsim.core.adapters.registry import erp_dialect
from retailsim.core.config import CLOUD_ERP, ErpDialectName, MigrationConfig
from retailsim.core.crash_points import CRASH_POINTS
from retailsim.core.service import CoreConfig

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)\s*$")


def parse_duration(value: Any) -> float:
    """``"250ms"`` → 0.25; ``"20m"`` → 1200.0; a bare number is seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a string like '20m' or a number of seconds")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"a duration must be finite, not {value!r}")
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return round(float(match.group(1)) * _UNITS[match.group(2)], 9)
        try:
            return parse_duration(float(value))
        except ValueError:
            pass
    raise ValueError(f"not a duration: {value!r} (use e.g. '250ms', '30s', '20m', '2h', '1d')")


Duration = Annotated[float, BeforeValidator(parse_duration)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LatencySpec(Strict):
    median: Duration = 0.05
    p99: Duration = 0.2

    @model_validator(mode="after")
    def _ordered(self) -> LatencySpec:
        if self.p99 < self.median:
            raise ValueError("p99 must be at least the median")
        return self


class WorkloadSpec(Strict):
    orders: int = Field(2000, ge=1, le=2_000_000, description="orders placed over the workload window")
    duration: Duration = Field(4 * 3600.0, gt=0, description="length of the trading window")
    shape: Literal["steady", "ramp", "flash_sale", "diurnal"] = "steady"
    spike_start: Duration = Field(3600.0, description="flash_sale: when the spike begins")
    spike_duration: Duration = Field(1200.0, gt=0, description="flash_sale: how long the spike lasts")
    spike_factor: float = Field(30.0, ge=1.0, description="flash_sale: spike rate ÷ baseline rate")
    skus: int = Field(200, ge=1, le=100_000)
    hero_skus: int = Field(0, ge=0, description="SKUs the promotion features")
    hero_share: float = Field(0.6, ge=0, le=1, description="share of spike lines that pick a hero SKU")
    stock_per_sku: int = Field(1000, ge=0)
    hero_stock: int = Field(200, ge=0)
    marketplace_share: float = Field(
        0.0, ge=0, le=1, description="share of orders from a marketplace channel selling the same stock"
    )
    customers: int = Field(1000, ge=1, le=1_000_000)
    max_lines: int = Field(3, ge=1, le=50)
    max_quantity: int = Field(2, ge=1, le=100)
    price_min: float = Field(9.99, ge=0)
    price_max: float = Field(199.0, ge=0)
    locale: str = "en_US"
    return_rate: float = Field(0.0, ge=0, le=1, description="share of delivered orders that come back")
    store_return_share: float = Field(0.5, ge=0, le=1, description="share of returns brought to a store")
    return_delay: LatencySpec = Field(
        LatencySpec(median=5 * 86400.0, p99=25 * 86400.0), description="delivery → return request"
    )
    opened_share: float = Field(0.15, ge=0, le=1, description="returned items opened (refurbish)")
    damaged_share: float = Field(0.05, ge=0, le=1, description="returned items damaged (scrap)")
    bopis_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="share of storefront orders collected in a store (needs systems.pos.stores)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> WorkloadSpec:
        if self.hero_skus > self.skus:
            raise ValueError("hero_skus cannot exceed skus")
        if self.shape == "flash_sale" and self.spike_start + self.spike_duration > self.duration:
            raise ValueError("the spike must end inside the workload duration")
        if self.price_max < self.price_min:
            raise ValueError("price_max must be at least price_min")
        return self


class SystemSpec(Strict):
    concurrency: int = Field(16, ge=1, le=10_000)
    latency: LatencySpec = LatencySpec()
    rate_limit: float | None = Field(None, gt=0, description="requests per second the system accepts")
    timeout: Duration = Field(30.0, gt=0, description="how long the core waits for a reply")


class StorefrontSpec(SystemSpec):
    inventory_sync: Literal["realtime", "batch"] = "realtime"
    feed_interval: Duration = Field(1800.0, gt=0, description="batch: inventory feed interval")


class PaymentSpec(SystemSpec):
    decline_rate: float = Field(0.02, ge=0, le=1)


class ErpSpec(SystemSpec):
    dialect: ErpDialectName = Field(
        "sap",
        description="the ERP product: the mock that speaks it (systems/erp_dialects.py) and the core's "
        "adapter for it (core.erp_dialect follows this key)",
    )


class WmsSpec(SystemSpec):
    short_pick_rate: float = Field(0.0, ge=0, le=1)
    allocate_time: LatencySpec = LatencySpec(median=60.0, p99=300.0)
    pick_time: LatencySpec = LatencySpec(median=600.0, p99=3600.0)
    pack_time: LatencySpec = LatencySpec(median=300.0, p99=1200.0)
    event_ids: Literal["prefixed", "sequence"] = Field(
        "prefixed", description="webhook event ids: sbwh_0000007, or the bare message sequence number 7"
    )
    adjustments_per_hour: float = Field(
        0.0, ge=0, description="inventory adjustments (cycle counts, damage, receipts) sent as deltas"
    )
    split_share: float = Field(
        0.0, ge=0, le=1, description="share of multi-line orders shipped in one parcel per line"
    )


class CarrierSpec(SystemSpec):
    exception_rate: float = Field(0.0, ge=0, le=1)


class ServiceCloudSpec(SystemSpec):
    pass


class PosSpec(SystemSpec):
    stores: int = Field(0, ge=0, le=1000, description="stores, each with its own stock")
    stock_per_sku: int = Field(20, ge=0, description="units of every SKU each store holds")
    checkin_time: LatencySpec = LatencySpec(median=300.0, p99=1800.0)
    pick_time: LatencySpec = Field(
        LatencySpec(median=1800.0, p99=7200.0), description="pickup order → the associate looks for it"
    )
    collect_time: LatencySpec = Field(
        LatencySpec(median=6 * 3600.0, p99=48 * 3600.0), description="ready for pickup → collected"
    )
    pick_fail_rate: float = Field(
        0.0, ge=0, le=1, description="pickups whose goods are not where the system says (written off)"
    )
    walk_in_per_hour: float = Field(0.0, ge=0, description="walk-in sales per store and hour, off the shelf")
    event_ids: Literal["prefixed", "sequence"] = Field(
        "prefixed", description="webhook event ids: posevt_0000007, or the bare message sequence number 7"
    )
    receive_per_unit: bool = Field(
        False, description="returns checked in unit by unit: one return.unit_received event per unit"
    )


class CasesSpec(Strict):
    """When customers open Service Cloud cases, and how the service agents work them.

    Every rule is off by default; a scenario without any rule has no cases.
    """

    late_after: Duration | None = Field(
        None, gt=0, description="a parcel not delivered this long after the order: 'Delayed parcel' case"
    )
    late_share: float = Field(1.0, ge=0, le=1, description="share of customers with a late parcel who ask")
    exception_share: float = Field(
        0.0, ge=0, le=1, description="share of customers told their parcel failed who open a case"
    )
    refund_after: Duration | None = Field(
        None, gt=0, description="a refund not shown this long after the return request: 'Refund status' case"
    )
    wrong_item_share: float = Field(
        0.0, ge=0, le=1, description="share of delivered orders reported as the wrong item (an exchange)"
    )
    refund_instead_share: float = Field(
        0.3, ge=0, le=1, description="share of failed deliveries the customer wants refunded, not reshipped"
    )
    contact_delay: LatencySpec = Field(
        LatencySpec(median=3600.0, p99=86400.0), description="noticing → opening the case"
    )
    agents: int = Field(4, ge=1, le=10_000, description="service agents working cases at once")
    agent_response: LatencySpec = Field(
        LatencySpec(median=1800.0, p99=14400.0), description="case opened → an agent picks it up"
    )
    handle_time: LatencySpec = Field(LatencySpec(median=300.0, p99=1200.0), description="an agent's work")
    console_retry_share: float = Field(
        0.0, ge=0, le=1, description="agent actions sent twice with the same key (console timeouts)"
    )

    @property
    def enabled(self) -> bool:
        return bool(self.late_after or self.exception_share or self.refund_after or self.wrong_item_share)


class SystemsSpec(Strict):
    storefront: StorefrontSpec = StorefrontSpec()
    payment: PaymentSpec = PaymentSpec()
    erp: ErpSpec = ErpSpec()
    wms: WmsSpec = WmsSpec()
    carrier: CarrierSpec = CarrierSpec()
    service_cloud: ServiceCloudSpec = ServiceCloudSpec()
    pos: PosSpec = PosSpec()
    # The cloud ERP of an ERP migration (destination ``erp_cloud``); only with a ``[migration]`` section.
    erp_cloud: ErpSpec | None = None


class MigrationSpec(Strict):
    """The ERP migration (section ``[migration]``): the legacy ERP is ``systems.erp``, the cloud ERP
    ``systems.erp_cloud``. Phase 1 (legacy only) until ``coexistence``; phase 2 (new orders of the cohort
    to the cloud, the open-order job moving unshipped legacy orders from ``job_start``) until ``cutover``;
    phase 3 (every new order to the cloud; the legacy ERP read-only, but for the returns of its own
    orders) after it. See core/service/erp_routing.py and migration_job.py."""

    coexistence: Duration = Field(..., ge=0, description="phase 2 begins: new orders routed by cohort")
    cutover: Duration = Field(..., ge=0, description="phase 3 begins: every new order to the cloud ERP")
    cohort: Literal["share", "site", "date"] = Field(
        "share",
        description="share: a SHA-256 bucket of the order number below `share`; site: storefront sites "
        "in `sites`; date: every order from `coexistence`",
    )
    share: float = Field(0.5, ge=0, le=1)
    sites: list[str] = []
    job_start: Duration = Field(..., ge=0, description="the open-order migration job's first pass")
    job_interval: Duration = Field(60.0, gt=0, description="time between the job's passes")
    job_batch: int = Field(50, ge=1, description="orders moved per pass at most")
    job_end: Duration | None = Field(
        None, ge=0, description="the job's last pass (default: an hour after the cutover, for legacy orders "
        "accepted just before it)"
    )

    def core_config(self, cloud_dialect: ErpDialectName) -> MigrationConfig:
        """The core's settings for this migration (``CoreConfig.migration``)."""
        return MigrationConfig(
            cloud_dialect=cloud_dialect,
            coexistence_at=self.coexistence,
            cutover_at=self.cutover,
            cohort=self.cohort,
            share=self.share,
            sites=list(self.sites),
            job_start_at=self.job_start,
            job_interval_s=self.job_interval,
            job_batch=self.job_batch,
            job_end_at=self.job_end if self.job_end is not None else self.cutover + 3600.0,
        )


class DeliverySpec(Strict):
    """How the core's delivery workers and the webhook links behave."""

    workers_per_system: int = Field(8, ge=1, le=1000)
    link_latency: LatencySpec = LatencySpec(median=0.02, p99=0.1)
    webhook_retry_base: Duration = Field(60.0, gt=0)
    webhook_max_attempts: int = Field(8, ge=1)


# Sources of at-least-once deliveries into the core: product webhooks, and the storefront's order export
# (which can be duplicated, not reordered or dropped: it is the storefront's own checkout).
WEBHOOK_SOURCES = ("wms", "carrier", "payment", "pos", "storefront")
SYSTEMS = ("payment", "erp", "wms", "carrier", "storefront", "service_cloud", "pos")


FaultKind = Literal[
    "outage",
    "brownout",
    "error_rate",
    "rate_limit",
    "lost_response",
    "duplicate_delivery",
    "reorder",
    "drop",
    "core_crash",
    "poison",
    "persistent_error",
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
# Where a core_crash may strike besides its start: a named crash point (core/crash_points.py), one drawn
# at random when the fault is armed, or any point, each hit with the fault's probability.
CRASH_POINT_CHOICES: tuple[str, ...] = ("random", "any", *CRASH_POINTS)


class FaultSpec(Strict):
    """One fault window; the kinds and their parameters are documented in sim/faults.py."""

    kind: FaultKind
    target: str = Field(min_length=1)
    start: Duration
    duration: Duration = Field(gt=0)
    probability: float = Field(1.0, ge=0, le=1)
    factor: float = Field(5.0, ge=1)
    copies: int = Field(2, ge=2, le=10)
    window: Duration = Field(60.0, gt=0)
    limit: float = Field(1.0, gt=0)
    timeout_share: float = Field(
        0.0, ge=0, le=1, description="persistent_error: share of the affected entities whose calls time out"
    )
    point: str | None = Field(
        None, description="core_crash only: a crash point's name, 'random' or 'any' (none: at start)"
    )

    @field_validator("point")
    @classmethod
    def _known_point(cls, point: str | None) -> str | None:
        if point is not None and point not in CRASH_POINT_CHOICES:
            raise ValueError(
                f"unknown crash point {point!r}: use 'random', 'any' or one of "
                f"{', '.join(CRASH_POINTS)} (retailsim crash-points lists them)"
            )
        return point

    @model_validator(mode="after")
    def _target_fits_kind(self) -> FaultSpec:
        if self.point is not None and self.kind != "core_crash":
            raise ValueError(f"point: only a core_crash strikes at a crash point, not a {self.kind}")
        if self.kind == "core_crash":
            if self.target != "core":
                raise ValueError("a core_crash targets 'core'")
        elif self.kind in ("duplicate_delivery", "reorder", "drop"):
            allowed = WEBHOOK_SOURCES if self.kind == "duplicate_delivery" else WEBHOOK_SOURCES[:-1]
            if self.target not in allowed:
                raise ValueError(f"{self.kind} targets a source of deliveries: {', '.join(allowed)}")
        elif self.target not in SYSTEMS and self.target != CLOUD_ERP:
            raise ValueError(f"{self.kind} targets a system: {', '.join(SYSTEMS)}")
        return self


INVARIANTS = (
    "no_lost_orders",
    "no_duplicate_erp_orders",
    "per_order_ordering",
    "no_oversell",
    "reconciled_at_quiescence",
    "correlation_complete",
    "backlog_drained",
    "dlq_accounted",
    "refund_exactly_once",
    "inventory_conserved",
    "events_accounted",
    "recovered_promptly",
    "core_view_true",
    "one_erp_of_record",
    "return_credited_in_erp_of_record",
)

# What a scenario must exercise unless it says otherwise (every invariant is judged regardless): the
# order-flow invariants every run gives something to check. Listed by name, so that an invariant added
# to the catalogue is judged everywhere without becoming required by default.
DEFAULT_INVARIANTS = [
    "no_lost_orders",
    "no_duplicate_erp_orders",
    "per_order_ordering",
    "no_oversell",
    "reconciled_at_quiescence",
    "correlation_complete",
    "backlog_drained",
]


class ExpectSpec(Strict):
    max_drain: Duration = Field(7200.0, gt=0, description="after each fault episode (or the workload) ends")
    stall_after: Duration = Field(
        1800.0,
        gt=0,
        description="no destination makes progress this long while work is due (outside outages): stop, fail",
    )
    recovery_factor: float = Field(
        3.0, ge=1, description="recovered_promptly: slack on backlog ÷ rate after a fault episode"
    )
    hard_stop: Duration = Field(14 * 86400.0, gt=0, description="simulated time at which a run is cut off")
    invariants: list[str] = Field(default_factory=lambda: list(DEFAULT_INVARIANTS))

    @model_validator(mode="after")
    def _known(self) -> ExpectSpec:
        unknown = [name for name in self.invariants if name not in INVARIANTS]
        if unknown:
            raise ValueError(f"unknown invariant(s) {unknown}; known: {list(INVARIANTS)}")
        return self


class Scenario(Strict):
    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9\-_]*$")
    description: str = ""
    seed: int = Field(1, ge=0)
    workload: WorkloadSpec = WorkloadSpec()
    systems: SystemsSpec = SystemsSpec()
    delivery: DeliverySpec = DeliverySpec()
    core: CoreConfig = CoreConfig()
    cases: CasesSpec = CasesSpec()
    faults: list[FaultSpec] = []
    expect: ExpectSpec = ExpectSpec()
    migration: MigrationSpec | None = None

    @model_validator(mode="after")
    def _migration_has_two_erps(self) -> Scenario:
        if (self.migration is None) != (self.systems.erp_cloud is None):
            raise ValueError("migration: a [migration] section and systems.erp_cloud go together")
        if self.migration is not None:
            self.migration.core_config(self.systems.erp.dialect)  # the phases' order, checked once
            cloud = self.systems.erp_cloud
            if cloud is not None and erp_dialect(cloud.dialect).step_kinds:
                # The job's move completes on the create's reply; a create of several requests (D365's
                # header, then its lines) would retire the legacy order before the cloud one is whole.
                raise ValueError(
                    f"systems.erp_cloud.dialect: {cloud.dialect!r} creates an order in several requests, "
                    "which the migration job does not follow yet; choose a single-request ERP "
                    f"({', '.join(sorted(n for n in get_args(ErpDialectName) if not erp_dialect(n).step_kinds))})"
                )
        if self.migration is None and any(f.target == CLOUD_ERP for f in self.faults):
            raise ValueError(f"faults: {CLOUD_ERP} is the cloud ERP of a [migration]; this scenario has none")
        if "migration" in self.core.model_fields_set:
            raise ValueError("core.migration follows the [migration] section: set that instead")
        return self

    @model_validator(mode="after")
    def _one_erp_dialect(self) -> Scenario:
        if "erp_dialect" in self.core.model_fields_set and self.core.erp_dialect != self.systems.erp.dialect:
            raise ValueError("core.erp_dialect follows systems.erp.dialect: set systems.erp.dialect instead")
        if self.core.erp_dialect != self.systems.erp.dialect:  # derived, so the resolved scenario says it
            self.core = self.core.model_copy(update={"erp_dialect": self.systems.erp.dialect})
        return self

    @model_validator(mode="after")
    def _stores_for_pickups(self) -> Scenario:
        if self.workload.bopis_share > 0 and self.systems.pos.stores == 0:
            raise ValueError("workload.bopis_share needs stores: set systems.pos.stores")
        return self

    def fault_episodes(self) -> list[FaultSpec]:
        """Faults that start in the trading window and last no longer than it: the run's episodes.

        A fault longer than the window (duplicate carrier webhooks for the five days parcels travel) is a
        background condition of the whole run. It neither marks the moment the backlog must drain from
        nor stretches the report's zoom; the system must drain while it persists.
        """
        window = self.workload.duration
        return [f for f in self.faults if f.start < window and f.duration <= window]
