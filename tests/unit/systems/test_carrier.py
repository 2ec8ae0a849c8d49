"""EasyPost-style carrier: labels, tracker journeys, tracker.updated events, look-ups, errors."""

from __future__ import annotations

import random
from typing import Any

import simpy

from retailsim.systems import Carrier, Request
from retailsim.systems.clock import iso_time
from tests.unit.systems.support import answered, collect

ADDRESS = {
    "address1": "1 Main St",
    "city": "Springfield",
    "state": "IL",
    "zip_code": "62701",
    "country": "US",
}


def carrier(**knobs: Any) -> Carrier:
    return Carrier(simpy.Environment(), random.Random(5), **knobs)


def test_a_label_creates_a_pre_transit_tracker_linked_to_its_shipment() -> None:
    system = carrier()
    label = system.create_shipment("00001", ADDRESS)
    assert label["tracking_code"].startswith("EZ") and label["carrier"] == "USPS" and label["service"]
    tracker = system.tracker_by_code(label["tracking_code"])
    assert tracker is not None
    assert tracker["id"].startswith("trk_") and tracker["object"] == "Tracker"
    assert (tracker["status"], tracker["status_detail"]) == ("pre_transit", "label_created")
    assert tracker["est_delivery_date"].endswith("Z")
    assert tracker["tracking_details"][0]["tracking_location"] == {
        "city": "Springfield",
        "state": "IL",
        "zip": "62701",
    }
    assert system.shipments[label["shipment_id"]] == {"reference_id": "00001", "tracker_id": tracker["id"]}
    # Rendered from the tracker on each read: changing a read changes nothing kept; unknown ids are absent.
    system.shipments[label["shipment_id"]]["reference_id"] = "changed"
    assert system.shipments[label["shipment_id"]]["reference_id"] == "00001"
    assert system.shipments.get("shp_unknown") is None and len(system.shipments) == 1
    assert system.trackers[tracker["id"]].shipment_id == label["shipment_id"]
    assert system.status_history[label["tracking_code"]] == ["pre_transit"]
    assert system.create_shipment("00002", ADDRESS)["tracking_code"] != label["tracking_code"]


def test_the_parcel_moves_to_delivered_with_one_event_per_status() -> None:
    system = carrier()
    hooks = collect(system)
    code = system.create_shipment("00001", ADDRESS)["tracking_code"]
    system.env.run()
    assert [h.body["result"]["status"] for h in hooks] == ["in_transit", "out_for_delivery", "delivered"]
    assert [h.body["previous_attributes"]["status"] for h in hooks] == [
        "pre_transit",
        "in_transit",
        "out_for_delivery",
    ]
    for hook in hooks:
        event = hook.body
        assert hook.topic == event["description"] == "tracker.updated" and event["object"] == "Event"
        assert hook.event_id == event["id"] and event["id"].startswith("evt_")
        assert event["result"]["tracking_code"] == code and event["result"]["shipment_id"].startswith("shp_")
        assert event["created_at"].startswith("2026-") and event["created_at"].endswith("Z")
    assert len({h.event_id for h in hooks}) == 3
    assert len(hooks[-1].body["result"]["tracking_details"]) == 4
    assert system.status_history[code] == ["pre_transit", "in_transit", "out_for_delivery", "delivered"]
    sent = [h.sent_at for h in hooks]
    assert sent == sorted(sent) and sent[0] > 3600  # hours, not seconds
    [tracker] = system.trackers.values()  # its scans, kept flat, read as (status, message, time)
    assert tracker.scans[0] == ("pre_transit", "Shipping label created", 0.0)
    assert [at for _, _, at in tracker.scans[1:]] == sent and tracker.scans[-1][1] == "Delivered, front door"
    assert system.tracker_by_code(code)["status_detail"] == "arrived_at_destination"  # type: ignore[index]


def test_an_event_is_a_snapshot_not_a_live_view() -> None:
    system = carrier()
    hooks = collect(system)
    system.create_shipment("00001", ADDRESS)
    system.env.run()
    assert hooks[0].body["result"]["status"] == "in_transit"
    assert len(hooks[0].body["result"]["tracking_details"]) == 2


def test_a_tracker_is_created_at_its_first_scan_and_updated_at_its_last() -> None:
    system = carrier()
    hooks = collect(system)
    system.create_shipment("00001", ADDRESS)
    system.env.run()
    for hook in hooks:
        tracker = hook.body["result"]
        scans = tracker["tracking_details"]
        assert tracker["created_at"] == scans[0]["datetime"] == iso_time(0.0)
        assert tracker["updated_at"] == scans[-1]["datetime"] == iso_time(hook.sent_at)
        assert tracker["updated_at"] > tracker["created_at"]
    scans = hooks[-1].body["result"]["tracking_details"]
    assert scans[0]["tracking_location"] is not scans[1]["tracking_location"]  # each its own document


def test_an_exception_ends_in_failure_or_return_to_sender() -> None:
    system = carrier(exception_rate=1.0)
    hooks = collect(system)
    code = system.create_shipment("00001", ADDRESS)["tracking_code"]
    system.env.run()
    final = system.status_history[code][-1]
    assert final in {"failure", "return_to_sender"} and "delivered" not in system.status_history[code]
    assert hooks[-1].body["result"]["status"] == final


def test_journeys_are_reproducible_from_the_seed() -> None:
    def run() -> list[tuple[float, str]]:
        system = carrier(exception_rate=0.5)
        hooks = collect(system)
        for n in range(5):
            system.create_shipment(f"{n:05d}", ADDRESS)
        system.env.run()
        return [(h.sent_at, h.body["result"]["status"]) for h in hooks]

    assert run() == run()


def test_tracker_look_ups_by_id_and_by_codes() -> None:
    system = carrier()
    first = system.create_shipment("00001", ADDRESS)["tracking_code"]
    second = system.create_shipment("00002", ADDRESS)["tracking_code"]
    tracker_id = system.by_tracking_code[first]
    one = system.dispatch(Request("GET", f"/v2/trackers/{tracker_id}"))
    assert one.status == 200 and one.body["tracking_code"] == first
    listed = system.dispatch(
        Request("GET", "/v2/trackers", query={"tracking_codes": f"{second},{first},EZX"})
    )
    assert listed.status == 200 and [t["tracking_code"] for t in listed.body["trackers"]] == [second, first]
    missing = system.dispatch(Request("GET", "/v2/trackers/trk_missing"))
    assert missing.status == 404
    assert missing.body["error"]["code"] == "NOT_FOUND" and missing.body["error"]["message"]


def test_outage_is_503_in_easypost_shape() -> None:
    system = carrier()
    system.faults.outage = True
    down = answered(system, Request("GET", "/v2/trackers", query={"tracking_codes": "EZ1"}))
    assert down.status == 503 and set(down.body["error"]) >= {"code", "message"}


def test_a_carrier_without_legs_leaves_the_parcel_at_its_label() -> None:
    system = carrier(legs=())
    hooks = collect(system)
    code = system.create_shipment("00001", ADDRESS)["tracking_code"]
    system.env.run()
    assert hooks == [] and system.status_history[code] == ["pre_transit"]
