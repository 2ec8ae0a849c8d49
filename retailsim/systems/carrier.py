"""EasyPost-style carrier: trackers that move pre_transit → in_transit → out_for_delivery → delivered.

Each status change is a ``tracker.updated`` Event webhook (at least once; the runtime's links add the
duplicates and reordering that real carriers show). Delays are lognormal with realistic spreads; a
share of parcels ends in ``failure`` or ``return_to_sender`` instead of delivery. Trackers carry no
order reference (as on EasyPost): ``shipments`` maps each ``shipment_id`` to the warehouse's reference,
and the integration matches events by ``tracking_code``.

Rules kept: imports SimPy, the standard library and ``retailsim.systems`` only; every delay and
exception is drawn from ``self.rng``; tracker, shipment and event ids are counters.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from typing import Any

import simpy

from retailsim.systems.base import Latency, MockSystem, Request, Response
from retailsim.systems.clock import iso_time

# EasyPost status_detail values for each tracker status this mock reaches.
STATUS_DETAIL = {
    "pre_transit": "label_created",
    "in_transit": "departed_facility",
    "out_for_delivery": "out_for_delivery",
    "delivered": "arrived_at_destination",
    "failure": "delivery_exception",
    "return_to_sender": "return",
}

LEGS = (
    ("in_transit", "Departed shipping partner facility", Latency(4 * 3600.0, 12 * 3600.0)),
    ("out_for_delivery", "Out for delivery", Latency(20 * 3600.0, 60 * 3600.0)),
    ("delivered", "Delivered, front door", Latency(5 * 3600.0, 10 * 3600.0)),
)


class Carrier(MockSystem):
    name = "carrier"
    routes = (
        ("GET", r"/v2/trackers/(trk_\w+)", "get_tracker"),
        ("GET", r"/v2/trackers", "list_trackers"),
    )

    def __init__(
        self,
        env: simpy.Environment,
        rng: random.Random,
        *,
        concurrency: int = 32,
        latency: Latency = Latency(0.1, 0.5),
        rate_limit_per_s: float | None = None,
        exception_rate: float = 0.0,
        legs: tuple[tuple[str, str, Latency], ...] = LEGS,
    ) -> None:
        super().__init__(
            env, rng, concurrency=concurrency, latency=latency, rate_limit_per_s=rate_limit_per_s
        )
        self.exception_rate = exception_rate
        self.legs = legs
        self.trackers: dict[str, dict[str, Any]] = {}
        self.by_tracking_code: dict[str, str] = {}
        self.shipments: dict[str, dict[str, str]] = {}
        self.status_history: dict[str, list[str]] = {}
        self._codes = 0
        # Tracking notifications to the recipient (e-mail/SMS), as carriers send them: (code, status).
        self.notify_recipient: Callable[[str, str], None] | None = None

    def error(self, status: int, code: str, message: str) -> Response:
        return Response(status, {"error": {"code": code.upper(), "message": message, "errors": []}})

    def create_shipment(self, reference_id: str, to_address: dict[str, Any]) -> dict[str, str]:
        """Buy a label (called by the warehouse at ship time); starts the parcel's journey."""
        self._codes += 1
        code = f"EZ{self._codes:010d}"
        shipment_id = self.next_id("shp_")
        tracker: dict[str, Any] = {
            "id": self.next_id("trk_"),
            "object": "Tracker",
            "tracking_code": code,
            "carrier": "USPS",
            "status": "pre_transit",
            "status_detail": "label_created",
            "shipment_id": shipment_id,
            "est_delivery_date": iso_time(self.env.now + 2 * 86400),
            "tracking_details": [self._detail("pre_transit", "Shipping label created", to_address)],
            "created_at": iso_time(self.env.now),
            "updated_at": iso_time(self.env.now),
        }
        tracker_id = str(tracker["id"])
        self.trackers[tracker_id] = tracker
        self.by_tracking_code[code] = tracker_id
        self.shipments[shipment_id] = {"reference_id": reference_id, "tracker_id": tracker_id}
        self.status_history[code] = ["pre_transit"]
        self.env.process(self._journey(tracker, to_address))
        return {"tracking_code": code, "carrier": "USPS", "service": "Priority", "shipment_id": shipment_id}

    def tracker_by_code(self, code: str) -> dict[str, Any] | None:
        tracker_id = self.by_tracking_code.get(code)
        return self.trackers.get(tracker_id) if tracker_id else None

    def _detail(self, status: str, message: str, address: dict[str, Any]) -> dict[str, Any]:
        return {
            "object": "TrackingDetail",
            "status": status,
            "message": message,
            "datetime": iso_time(self.env.now),
            "tracking_location": {
                "city": address.get("city"),
                "state": address.get("state"),
                "zip": address.get("zip_code"),
            },
        }

    def _journey(self, tracker: dict[str, Any], address: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
        fails = self.rng.random() < self.exception_rate
        for leg_status, leg_message, delay in self.legs:
            yield self.env.timeout(delay.sample(self.rng))
            status, message = leg_status, leg_message
            if fails and status == "delivered":
                status, message = self.rng.choice(
                    (("failure", "Delivery attempt failed"), ("return_to_sender", "Returned to sender"))
                )
            self._advance(tracker, status, message, address)
            if status in ("failure", "return_to_sender"):
                return

    def _advance(self, tracker: dict[str, Any], status: str, message: str, address: dict[str, Any]) -> None:
        previous = tracker["status"]
        tracker["status"] = status
        tracker["status_detail"] = STATUS_DETAIL.get(status, "status_update")
        tracker["updated_at"] = iso_time(self.env.now)
        tracker["tracking_details"].append(self._detail(status, message, address))
        self.status_history[tracker["tracking_code"]].append(status)
        if self.notify_recipient is not None:
            self.notify_recipient(tracker["tracking_code"], status)
        event_id = self.next_id("evt_")
        result = {**tracker, "tracking_details": [dict(d) for d in tracker["tracking_details"]]}
        self.emit(
            "tracker.updated",
            {
                "id": event_id,
                "object": "Event",
                "description": "tracker.updated",
                "result": result,
                "previous_attributes": {"status": previous},
                "created_at": iso_time(self.env.now),
            },
            event_id,
        )

    def get_tracker(self, request: Request, tracker_id: str) -> Response:
        tracker = self.trackers.get(tracker_id)
        if tracker is None:
            return self.error(404, "NOT_FOUND", "The requested resource could not be found.")
        return Response(200, dict(tracker))

    def list_trackers(self, request: Request) -> Response:
        codes = [c for c in request.query.get("tracking_codes", "").split(",") if c]
        found = [dict(t) for c in codes if (t := self.tracker_by_code(c)) is not None]
        return Response(200, {"trackers": found, "has_more": False})
