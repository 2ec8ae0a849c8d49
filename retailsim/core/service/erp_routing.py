"""Which ERP an order's (and its returns') commands go to: the order's ERP of record.

One ERP (``CoreConfig.migration`` is None): always ``erp`` — the core behaves exactly as before. During a
migration (core/config.py ``MigrationConfig``) a new order's ERP of record is chosen once, at acceptance,
by the phase and the cohort rule (``erp_for_new_order``); the migration job (migration_job.py) may later
move an unshipped legacy order to the cloud ERP. Every ERP command of an order goes to its record's ERP
(``order_destination``) and every ERP command of a return to its order's (``return_destination``): the
system of record follows the order. The DC's goods movements go to the ERP keeping the plant's stock
book (``stock_destination``: the legacy ERP until the cutover).

Rules kept: the share cohort hashes the order number with SHA-256 (never Python's ``hash()``, which is
salted per process); no clock — ``now`` is a parameter; pure functions of the record and the settings.
"""

from __future__ import annotations

import hashlib

from retailsim.core.config import CLOUD_ERP, MigrationConfig
from retailsim.core.documents import DocKind
from retailsim.core.guards import Guards
from retailsim.core.stores.base import Transaction
from retailsim.core.workflows.order_to_cash import OrderRecord

LEGACY_ERP = "erp"  # the destination (and the record's value) of the first, legacy ERP


def share_bucket(order_no: str) -> float:
    """A stable number in [0, 1) for an order number: the same on every run, process and machine."""
    digest = hashlib.sha256(order_no.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def phase(migration: MigrationConfig | None, now: float) -> int:
    """1 legacy only, 2 coexistence, 3 cutover (legacy read-only); 1 without a migration."""
    if migration is None or now < migration.coexistence_at:
        return 1
    return 3 if now >= migration.cutover_at else 2


def erp_for_new_order(migration: MigrationConfig | None, order_no: str, site_id: str, now: float) -> str:
    """The ERP of record of an order accepted at ``now`` (set once; only the migration job changes it)."""
    current = phase(migration, now)
    if migration is None or current == 1:
        return LEGACY_ERP
    if current == 3 or migration.cohort == "date":
        return CLOUD_ERP
    if migration.cohort == "site":
        return CLOUD_ERP if site_id in migration.sites else LEGACY_ERP
    return CLOUD_ERP if share_bucket(order_no) < migration.share else LEGACY_ERP


def stock_destination(migration: MigrationConfig | None, now: float) -> str:
    """Where the DC's goods movements (warehouse adjustments) go: the ERP that keeps the plant's stock book,
    the legacy one until the cutover, the cloud one from it (the legacy ERP takes no new postings then)."""
    return CLOUD_ERP if phase(migration, now) == 3 else LEGACY_ERP


def order_destination(record: OrderRecord, destination: str) -> str:
    """Where an order's command goes: an ERP command to the record's ERP, any other where it says."""
    return record.erp if destination == LEGACY_ERP else destination


def return_destination(
    tx: Transaction,
    migration: MigrationConfig | None,
    guards: Guards,
    order_no: str,
    destination: str,
    now: float,
) -> str:
    """Where a return's command goes: an ERP command to the ERP of record of the return's order (with the
    guard ``returns_follow_order`` off, a broken core: to the ERP the phase favours)."""
    if destination != LEGACY_ERP or migration is None:
        return destination
    if not guards.returns_follow_order:
        return CLOUD_ERP if phase(migration, now) > 1 else LEGACY_ERP
    record = tx.load_model(DocKind.ORDER, order_no, OrderRecord)
    return record.erp if record is not None else LEGACY_ERP
