"""What makes an agent's timeline "complete": every system's record the ledgers hold for the order at that
moment is on it. Judged on a world whose mocks' ledgers are written by hand (nothing is simulated)."""

from __future__ import annotations

from typing import Any

from retailsim.scenarios import load
from retailsim.sim.service_desk import timeline_gaps
from retailsim.sim.world import World
from retailsim.systems.carrier import Tracker


def world_with_a_failed_parcel() -> World:
    world = World(load("delayed-shipment-support", ["workload.orders=10"]), 1)
    world.erp.by_po["00000001"] = ["0000000001"]
    world.wms.orders[1] = {
        "id": 1,
        "reference_id": "00000001",
        "status": "Completed",
        "tracking": {"carrier": "USPS", "carrier_service": "Priority", "tracking_id": "EZ1"},
    }
    world.wms.by_reference["00000001"] = [1]
    parcel = world.carrier.trackers["trk_1"] = Tracker("trk_1", "EZ1", "shp_1", {}, 0.0)
    parcel.scan("failure", "Delivery attempt failed", 5.0)
    world.carrier.by_tracking_code["EZ1"] = "trk_1"
    return world


def timeline(**changes: Any) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "status": "delivery_failed",
        "erp": {"sales_order": "0000000001"},
        "wms": {"order_id": "1", "shipped_at": 10.0},
        "carrier": {"tracking_code": "EZ1"},
        "payment": {"payment_intent": None},
        "fulfilment": {"location": "DC1"},
        "returns": [],
    }
    shown.update(changes)
    return shown


def test_a_timeline_showing_every_record_is_complete() -> None:
    assert timeline_gaps(world_with_a_failed_parcel(), "00000001", timeline()) == []


def test_records_the_core_has_not_heard_of_yet_make_it_incomplete() -> None:
    world = world_with_a_failed_parcel()
    assert timeline_gaps(world, "00000001", timeline(erp={"sales_order": None})) == ["erp"]
    assert timeline_gaps(world, "00000001", timeline(wms={"order_id": "1", "shipped_at": None})) == ["wms"]
    # The carrier gave up on the parcel; a timeline still saying "in transit" misses that scan.
    assert timeline_gaps(world, "00000001", timeline(status="in_transit")) == ["carrier"]
    world.pos.returns["POS0000001"] = {"order_reference": "00000001"}
    assert timeline_gaps(world, "00000001", timeline()) == ["returns"]
