"""The core's settings (scenario section ``[core]``): retries, breakers, rate limits, watchdogs, stock
publication, return window and the ERP dialect. Validated once, where a scenario or the live host builds
them; nothing in here reads the environment or a clock.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The ERP products the core has an adapter for (core/adapters/registry.py, ``ERP_DIALECTS``); a new
# dialect adds its name here.
ErpDialectName = Literal["sap", "netsuite", "oracle_fusion", "d365", "sap_ecc"]

# The systems the core delivers to, and the destination of its own timers.
DESTINATIONS = ("payment", "erp", "wms", "carrier", "storefront", "service_cloud", "pos")
INTERNAL = "core"


# The destination of the second ERP of a migration (the legacy ERP keeps "erp").
CLOUD_ERP = "erp_cloud"


class MigrationConfig(BaseModel):
    """Two ERPs in one run: the legacy one (destination ``erp``) replaced by a cloud one (``erp_cloud``).

    Phases by core time: before ``coexistence_at`` every new order goes to the legacy ERP; from it, new
    orders of the cohort go to the cloud ERP (``cohort``: ``share`` — a stable hash of the order number
    below ``share``; ``site`` — the storefront sites in ``sites``; ``date`` — every order from
    ``coexistence_at``); from ``cutover_at`` every new order does and the legacy ERP is read-only. The
    open-order migration job moves unshipped legacy orders across from ``job_start_at`` until
    ``job_end_at`` (past the cutover: the legacy orders accepted just before it), ``job_batch`` orders
    every ``job_interval_s``.
    """

    model_config = ConfigDict(extra="forbid")

    cloud_dialect: ErpDialectName = "netsuite"
    coexistence_at: float = Field(0.0, ge=0)
    cutover_at: float = Field(..., ge=0)
    cohort: Literal["share", "site", "date"] = "share"
    share: float = Field(0.5, ge=0, le=1)
    sites: list[str] = Field(default_factory=list)
    job_start_at: float = Field(0.0, ge=0)
    job_interval_s: float = Field(60.0, gt=0)
    job_batch: int = Field(50, ge=1)
    job_end_at: float = Field(..., ge=0)

    @model_validator(mode="after")
    def _phases_in_order(self) -> MigrationConfig:
        if not self.coexistence_at <= self.cutover_at:
            raise ValueError("coexistence_at must not be after cutover_at")
        if not self.job_start_at <= self.cutover_at <= self.job_end_at:
            raise ValueError("the migration job must start by the cutover and end after it")
        return self


class BulkStatusConfig(BaseModel):
    """Status pushes in bulk (``core.bulk_status``): a command kind whose spec has a collection form
    (core/adapters/spec.py ``Batch``: Service Cloud's order status upserts, the storefront's order status
    and inventory record patches) is appended due at the next tick of a ``window_s`` clock (ticks at
    multiples of ``window_s``), so the pushes decided within one window go out together, up to
    ``max_records`` per request (never more than the product allows: 200 for Service Cloud, 50 for OCAPI).
    ``window_s = 0`` sends each when decided; ``max_records = 1`` sends one request per message (the
    behaviour before collections)."""

    model_config = ConfigDict(extra="forbid")

    window_s: float = Field(2.0, ge=0, description="flush window: pushes are due at its next tick")
    max_records: int = Field(200, ge=1, description="records per collection request at most")


class CoreConfig(BaseModel):
    """Settings of the core (scenario section ``[core]``)."""

    model_config = ConfigDict(extra="forbid")

    retry_base_s: float = Field(0.5, gt=0)
    retry_cap_s: float = Field(300.0, gt=0)
    retry_max_attempts: int = Field(12, ge=1)
    breaker_failures: int = Field(5, ge=1)
    breaker_open_s: float = Field(30.0, gt=0)
    rate_limits: dict[str, float] = Field(default_factory=dict, description="requests/s per destination")
    lease_s: float = Field(60.0, gt=0)
    backorder_grace_s: float = Field(3600.0, ge=0)
    shipment_watch_s: float = Field(8 * 3600.0, gt=0, description="reconcile with the WMS after this long")
    delivery_watch_s: float = Field(
        4 * 86400.0, gt=0, description="reconcile with the carrier after this long"
    )
    watch_rounds: int = Field(6, ge=1, description="how many times a watchdog asks before flagging drift")
    adjustment_watch_s: float = Field(
        3600.0, gt=0, description="ask the WMS for adjustments the core missed this often after the last one"
    )
    locations: list[str] = Field(default_factory=lambda: ["DC1"])
    stores: list[str] = Field(
        default_factory=list, description="stores that fulfil pickups (the runtime sets them from the POS)"
    )
    safety_stock: int = Field(0, ge=0)
    inventory_publication: str = Field("events", pattern="^(events|batch)$")
    publish_coalesce_s: float = Field(5.0, ge=0)
    feed_interval_s: float = Field(1800.0, gt=0)
    inventory_list: str = "inventory_main"
    sales_organization: str = "1010"
    idempotency_in_flight_s: float = Field(30.0, gt=0)
    idempotency_retention_s: float = Field(
        86400.0, gt=0, description="a key's stored reply is kept this long (core time), then the key is free"
    )
    return_window_s: float = Field(
        30 * 86400.0, gt=0, description="returns accepted this long after delivery"
    )
    bulk_status: BulkStatusConfig = Field(default_factory=BulkStatusConfig)
    # The ERP product whose adapter serves the ERP's command kinds (core/adapters/registry.py).
    erp_dialect: ErpDialectName = "sap"
    # A second ERP and the migration onto it (core/service/erp_routing.py); None: one ERP, as always.
    migration: MigrationConfig | None = None

    def destinations(self) -> tuple[str, ...]:
        """Every destination the core delivers to: ``DESTINATIONS``, and the cloud ERP of a migration."""
        return DESTINATIONS if self.migration is None else (*DESTINATIONS, CLOUD_ERP)
