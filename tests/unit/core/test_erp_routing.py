"""ERP routing during a migration: the ERP of record chosen at acceptance, and each destination's specs."""

from __future__ import annotations

import hashlib

import pytest

from retailsim.core.adapters.registry import build_registry
from retailsim.core.config import CLOUD_ERP, MigrationConfig
from retailsim.core.service.erp_routing import LEGACY_ERP, erp_for_new_order, phase, share_bucket

HOUR = 3600.0


def _migration(**changes: object) -> MigrationConfig:
    settings: dict[str, object] = {"coexistence_at": HOUR, "cutover_at": 4 * HOUR, "job_start_at": 2 * HOUR}
    settings["job_end_at"] = 5 * HOUR
    settings.update(changes)
    return MigrationConfig.model_validate(settings)


def test_the_share_bucket_is_sha256_of_the_order_number_not_pythons_salted_hash() -> None:
    expected = int.from_bytes(hashlib.sha256(b"00000042").digest()[:8], "big") / 2**64
    assert share_bucket("00000042") == expected
    buckets = [share_bucket(f"{n:08d}") for n in range(2000)]
    assert all(0 <= b < 1 for b in buckets)
    assert 0.45 < sum(b < 0.5 for b in buckets) / len(buckets) < 0.55


def test_without_a_migration_every_order_is_the_legacy_erps() -> None:
    assert erp_for_new_order(None, "00000001", "RefArch", 10 * HOUR) == LEGACY_ERP
    assert phase(None, 10 * HOUR) == 1


@pytest.mark.parametrize(
    ("at", "expected_phase"), [(0.0, 1), (HOUR - 1, 1), (HOUR, 2), (4 * HOUR - 1, 2), (4 * HOUR, 3)]
)
def test_phases_by_time(at: float, expected_phase: int) -> None:
    assert phase(_migration(), at) == expected_phase


def test_share_cohort_routes_by_the_bucket_in_coexistence_and_everything_after_cutover() -> None:
    migration = _migration(share=0.3)
    numbers = [f"{n:08d}" for n in range(500)]
    for no in numbers:
        assert erp_for_new_order(migration, no, "RefArch", 0.0) == LEGACY_ERP
        cohort = CLOUD_ERP if share_bucket(no) < 0.3 else LEGACY_ERP
        assert erp_for_new_order(migration, no, "RefArch", 2 * HOUR) == cohort
        assert erp_for_new_order(migration, no, "RefArch", 4 * HOUR) == CLOUD_ERP


def test_site_and_date_cohorts() -> None:
    by_site = _migration(cohort="site", sites=["EU"])
    assert erp_for_new_order(by_site, "00000001", "EU", 2 * HOUR) == CLOUD_ERP
    assert erp_for_new_order(by_site, "00000001", "US", 2 * HOUR) == LEGACY_ERP
    by_date = _migration(cohort="date")
    assert erp_for_new_order(by_date, "00000001", "US", 2 * HOUR) == CLOUD_ERP


def test_phases_out_of_order_are_refused() -> None:
    with pytest.raises(ValueError, match="coexistence_at"):
        _migration(coexistence_at=5 * HOUR)
    with pytest.raises(ValueError, match="cutover"):
        _migration(job_end_at=3 * HOUR)


def test_each_erp_destination_has_its_dialects_specs_and_the_migration_commands() -> None:
    registry = build_registry("sap", cloud=(CLOUD_ERP, "netsuite"))
    sap_post = registry.spec_for(LEGACY_ERP, "PostSalesOrder")
    cloud_post = registry.spec_for(CLOUD_ERP, "PostSalesOrder")
    assert sap_post.render is build_registry("sap")["PostSalesOrder"].render
    assert cloud_post.render is build_registry("netsuite")["PostSalesOrder"].render
    assert registry.spec_for(CLOUD_ERP, "MigrateSalesOrder").render is cloud_post.render
    assert "RetireSalesOrder" in registry
    assert "MigrateSalesOrder" not in registry  # served at the cloud destination only
    # The other systems' kinds are the same at every destination.
    assert registry.spec_for("wms", "CreateWarehouseReturn") is registry["CreateWarehouseReturn"]
