"""Warehouse inventory adjustments (PIX-style deltas) in the core: applied to the DC's position once
(inbox first), one ERP goods movement with the SAP movement type of its reason, availability republished;
a duplicate delivery is answered "duplicate" and moves nothing; a retried posting looks the reference up.
"""

from __future__ import annotations

from typing import Any

import pytest

from retailsim.core.adapters import pix
from retailsim.core.adapters.http import Reply
from retailsim.core.errors import InvalidPayload
from retailsim.core.service import CoreConfig, IntegrationCore
from retailsim.core.stores.memory import MemoryStore
from retailsim.sim.broken_cores import CORES, CoreFactory

SKU = "SKU-00007"


def adjustment(number: int, quantity: int, kind: str, reason: str) -> dict[str, Any]:
    return {
        "TransactionType": "300",
        "TransactionCode": "01",
        "TransactionNumber": number,
        "ItemName": SKU,
        "InventoryAdjustmentQuantity": quantity,
        "InventoryAdjustmentType": kind,
        "ReasonCode": reason,
        "DateCreated": "2026-12-04T10:00:00Z",
    }


def core_with_stock(kind: CoreFactory = IntegrationCore) -> IntegrationCore:
    core = kind(MemoryStore(), CoreConfig())
    core.load_inventory([(SKU, "DC1", 100)], 0.0)
    return core


def goods_movements(core: IntegrationCore, now: float) -> list[Any]:
    found = []
    while (delivery := core.claim("erp", now)) is not None:
        found.append(delivery)
    return found


@pytest.mark.parametrize(
    ("quantity", "kind", "reason", "delta", "movement"),
    [(2, "S", "CC", -2, "702"), (3, "A", "CC", 3, "701"), (1, "S", "DM", -1, "551"), (12, "A", "RC", 12, "501")],
)
def test_reason_codes_map_to_sap_movement_types(
    quantity: int, kind: str, reason: str, delta: int, movement: str
) -> None:
    facts = pix.parse_adjustment(adjustment(5, quantity, kind, reason))
    assert (facts["delta"], facts["movement_type"], facts["reference"]) == (delta, movement, "PIX-5")


def test_an_adjustment_without_its_item_is_refused() -> None:
    body = adjustment(5, 1, "S", "DM")
    del body["ItemName"]
    with pytest.raises(InvalidPayload):
        pix.parse_adjustment(body)


def test_an_adjustment_moves_the_position_once_and_posts_one_goods_movement() -> None:
    core = core_with_stock()
    first = core.receive_webhook("wms", "41", pix.TOPIC_ADJUSTMENT, adjustment(1, 2, "S", "DM"), 10.0)
    again = core.receive_webhook("wms", "41", pix.TOPIC_ADJUSTMENT, adjustment(1, 2, "S", "DM"), 20.0)
    assert first.body["status"] == "processed" and "-2" in first.body["reason"]
    assert again.body["status"] == "duplicate" and again.body["reason"]
    assert core.available_to_promise(SKU) == {"DC1": 98}
    [delivery] = goods_movements(core, 30.0)
    item = delivery.request.body["to_MaterialDocumentItem"]["results"][0]
    assert delivery.request.path.endswith("/A_MaterialDocumentHeader")
    assert delivery.request.body["MaterialDocumentHeaderText"] == "PIX-1"
    assert (item["Material"], item["Plant"], item["GoodsMovementType"], item["QuantityInEntryUnit"]) == (
        SKU,
        "DC1",
        "551",
        "2",
    )
    assert delivery.request.headers["X-Correlation-ID"] == "PIX-1"


def test_the_same_id_from_another_source_is_not_a_duplicate() -> None:
    core = core_with_stock()
    core.receive_webhook("wms", "41", pix.TOPIC_ADJUSTMENT, adjustment(1, 2, "A", "RC"), 10.0)
    other = core.receive_webhook("wms", "42", pix.TOPIC_ADJUSTMENT, adjustment(2, 3, "A", "RC"), 11.0)
    assert other.body["status"] == "processed"
    assert core.available_to_promise(SKU) == {"DC1": 105}


def test_a_retried_goods_movement_looks_its_reference_up_first() -> None:
    core = core_with_stock()
    core.receive_webhook("wms", "41", pix.TOPIC_ADJUSTMENT, adjustment(1, 2, "A", "CC"), 10.0)
    [delivery] = goods_movements(core, 11.0)
    core.on_reply(delivery, Reply(None), 12.0)  # the reply was lost: SAP may have posted it
    [retry] = goods_movements(core, 1e6)
    assert retry.request.method == "GET" and "PIX-1" in retry.request.query["$filter"]
    found = Reply(200, {"d": {"results": [{"MaterialDocument": "4900000001"}]}})
    assert core.on_reply(retry, found, 1e6 + 1) is None  # found: not posted again
    assert goods_movements(core, 2e6) == []


def test_the_inbox_checked_after_the_effect_moves_stock_for_a_duplicate() -> None:
    core = core_with_stock(CORES["inbox-after-effect"])
    core.receive_webhook("wms", "41", pix.TOPIC_ADJUSTMENT, adjustment(1, 2, "S", "DM"), 10.0)
    again = core.receive_webhook("wms", "41", pix.TOPIC_ADJUSTMENT, adjustment(1, 2, "S", "DM"), 20.0)
    assert again.body["status"] == "duplicate"  # it says so ...
    assert core.available_to_promise(SKU) == {"DC1": 96}  # ... but the effect committed twice


def test_a_dropped_adjustment_is_found_by_the_adjustment_watch_and_applied_once() -> None:
    core = core_with_stock()
    core.receive_webhook("wms", "41", pix.TOPIC_ADJUSTMENT, adjustment(1, 2, "A", "CC"), 10.0)
    # Adjustment 2 was never delivered; 3 was.
    core.receive_webhook("wms", "43", pix.TOPIC_ADJUSTMENT, adjustment(3, 1, "S", "DM"), 20.0)
    assert core.available_to_promise(SKU) == {"DC1": 101}
    assert core.run_timers(10.0 + core.config.adjustment_watch_s) == 1
    fetch = core.claim("wms", 10.0 + core.config.adjustment_watch_s)
    assert fetch is not None and fetch.request.query == {"since": "1"}  # 1 is the last of an unbroken run
    listed = [{"event_id": "42", **adjustment(2, 5, "A", "RC")}, {"event_id": "43", **adjustment(3, 1, "S", "DM")}]
    core.on_reply(fetch, Reply(200, listed), 4000.0)
    # Missing once: it may still be on its way (reordered), so it is only a suspect.
    assert core.available_to_promise(SKU) == {"DC1": 101}
    assert core.run_timers(10.0 + 2 * core.config.adjustment_watch_s) == 1
    fetch = core.claim("wms", 10.0 + 2 * core.config.adjustment_watch_s)
    assert fetch is not None
    core.on_reply(fetch, Reply(200, listed), 8000.0)
    assert core.available_to_promise(SKU) == {"DC1": 106}  # missing twice: 2 applied now; 3 was already
    assert core.counters["reconciliation_repairs"] == 1 and core.counters["adjustments_recovered"] == 1
    late = core.receive_webhook("wms", "42", pix.TOPIC_ADJUSTMENT, adjustment(2, 5, "A", "RC"), 9000.0)
    assert late.body["status"] == "duplicate"  # the late webhook of the recovered adjustment
    assert core.available_to_promise(SKU) == {"DC1": 106}
    posted = []
    while (delivery := core.claim("erp", 9500.0)) is not None:  # one at a time per SKU, in order
        posted.append(delivery.request.body["MaterialDocumentHeaderText"])
        core.on_reply(delivery, Reply(201, {"d": {"MaterialDocument": "4900000001"}}), 9500.0)
    assert posted == ["PIX-1", "PIX-3", "PIX-2"]


def test_the_adjustment_watch_stops_after_its_quiet_rounds() -> None:
    core = core_with_stock()
    core.receive_webhook("wms", "41", pix.TOPIC_ADJUSTMENT, adjustment(1, 2, "A", "CC"), 0.0)
    fired = sum(core.run_timers(k * core.config.adjustment_watch_s + 1) for k in range(1, 20))
    assert fired == core.config.watch_rounds
