"""The core's settings (scenario section ``[core]``): retries, breakers, rate limits, watchdogs, stock
publication, return window and the ERP dialect. Validated once, where a scenario or the live host builds
them; nothing in here reads the environment or a clock.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# The ERP products the core has an adapter for (core/adapters/registry.py, ``ERP_DIALECTS``); a new
# dialect adds its name here.
ErpDialectName = Literal["sap", "netsuite", "oracle_fusion", "d365", "sap_ecc"]

# The systems the core delivers to, and the destination of its own timers.
DESTINATIONS = ("payment", "erp", "wms", "carrier", "storefront", "service_cloud", "pos")
INTERNAL = "core"


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
    # The ERP product whose adapter serves the ERP's command kinds (core/adapters/registry.py).
    erp_dialect: ErpDialectName = "sap"
