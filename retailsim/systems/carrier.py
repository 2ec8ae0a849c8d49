"""EasyPost-style carrier: trackers that move pre_transit → in_transit → out_for_delivery → delivered.

Each status change is a ``tracker.updated`` Event webhook (at least once; the runtime's links add the
duplicates and reordering that real carriers show). Delays are lognormal with realistic spreads; a
share of parcels ends in ``failure`` or ``return_to_sender`` instead of delivery. Trackers carry no
order reference (as on EasyPost): ``shipments`` maps each ``shipment_id`` to the warehouse's reference,
and the integration matches events by ``tracking_code``. A shipment is kept on its tracker (its id and the
warehouse's reference): ``shipments`` renders ``{"reference_id", "tracker_id"}`` when read, not a dict
kept per parcel.

Rules kept: imports SimPy, the standard library and ``retailsim.systems`` only; every delay and
exception is drawn from ``self.rng``; tracker, shipment and event ids are counters. A tracker is kept as a
compact record (:class:`Tracker`: its scan events' status, message and time in one flat list, times as
simulated seconds) and written out as EasyPost's JSON only when it is read or sent, so a run's memory
per parcel stays small.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

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


class Tracker:
    """One parcel's tracker, compactly: what EasyPost's Tracker JSON says, rendered by :meth:`as_json`."""

    __slots__ = (
        "_scans",
        "address",
        "created_s",
        "id",
        "reference_id",
        "shipment_id",
        "status",
        "tracking_code",
        "updated_s",
    )

    def __init__(
        self,
        tracker_id: str,
        code: str,
        shipment_id: str,
        address: dict[str, Any],
        now: float,
        reference_id: str = "",
    ) -> None:
        self.id = tracker_id
        self.tracking_code = code
        self.shipment_id = shipment_id
        self.reference_id = reference_id  # the warehouse's reference of the shipment (not on the wire)
        self.address = address  # the recipient's address, shared with the warehouse order that shipped it
        self.status = "pre_transit"
        self.created_s = self.updated_s = now
        # The scans flat, status, message and time after each other: a tuple per scan cost more than its
        # three values (``scans`` gives the tuples).
        self._scans: list[str | float] = ["pre_transit", "Shipping label created", now]

    @property
    def scans(self) -> list[tuple[str, str, float]]:
        """Its scan events in order, ``(status, message, time)`` (a new list)."""
        flat = self._scans
        return [
            (cast(str, flat[i]), cast(str, flat[i + 1]), cast(float, flat[i + 2]))
            for i in range(0, len(flat), 3)
        ]

    def scan(self, status: str, message: str, now: float) -> str:
        """The parcel reached ``status``; the status it had before."""
        previous, self.status, self.updated_s = self.status, status, now
        self._scans += (status, message, now)
        return previous

    def as_json(self) -> dict[str, Any]:
        """The tracker as ``GET /v2/trackers/{id}`` returns it (a new document each time).

        Each scan's time is printed once per document: the first scan's is ``created_at`` and the last
        one's ``updated_at`` (a tracker is created with its first scan and updated with each new one).
        """
        address = self.address
        city, state, zip_code = address.get("city"), address.get("state"), address.get("zip_code")
        details = [
            {
                "object": "TrackingDetail",
                "status": status,
                "message": message,
                "datetime": iso_time(at),
                "tracking_location": {"city": city, "state": state, "zip": zip_code},
            }
            for status, message, at in self.scans
        ]
        return {
            "id": self.id,
            "object": "Tracker",
            "tracking_code": self.tracking_code,
            "carrier": "USPS",
            "status": self.status,
            "status_detail": STATUS_DETAIL.get(self.status, "status_update"),
            "shipment_id": self.shipment_id,
            "est_delivery_date": iso_time(self.created_s + 2 * 86400),
            "tracking_details": details,
            "created_at": details[0]["datetime"],
            "updated_at": details[-1]["datetime"],
        }


class Shipments(Mapping[str, dict[str, str]]):
    """The labels bought, by ``shipment_id``: ``{"reference_id", "tracker_id"}`` rendered from the shipment's
    tracker on each read (a new dict), read-only."""

    __slots__ = ("_trackers",)

    def __init__(self) -> None:
        self._trackers: dict[str, Tracker] = {}

    def add(self, tracker: Tracker) -> None:
        self._trackers[tracker.shipment_id] = tracker

    def __getitem__(self, shipment_id: str) -> dict[str, str]:
        tracker = self._trackers[shipment_id]
        return {"reference_id": tracker.reference_id, "tracker_id": tracker.id}

    def __iter__(self) -> Iterator[str]:
        return iter(self._trackers)

    def __len__(self) -> int:
        return len(self._trackers)


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
        self.trackers: dict[str, Tracker] = {}
        self.by_tracking_code: dict[str, str] = {}
        self.shipments = Shipments()
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
        tracker = Tracker(self.next_id("trk_"), code, shipment_id, to_address, self.env.now, reference_id)
        self.trackers[tracker.id] = tracker
        self.by_tracking_code[code] = tracker.id
        self.shipments.add(tracker)
        self._journey(tracker)
        return {"tracking_code": code, "carrier": "USPS", "service": "Priority", "shipment_id": shipment_id}

    @property
    def status_history(self) -> dict[str, list[str]]:
        """Each parcel's statuses in order, by tracking code (read from the trackers' scans)."""
        return {t.tracking_code: cast(list[str], t._scans[::3]) for t in self.trackers.values()}

    def tracker_by_code(self, code: str) -> dict[str, Any] | None:
        """The tracker's JSON (a new document), or None for an unknown code."""
        tracker_id = self.by_tracking_code.get(code)
        tracker = self.trackers.get(tracker_id) if tracker_id else None
        return tracker.as_json() if tracker is not None else None

    def _journey(self, tracker: Tracker) -> None:
        """Start a parcel on its legs: whether it fails is drawn now, then each leg's delay as it starts.

        No SimPy process per parcel: each leg is one timer whose callback scans the parcel and starts the
        next leg (a process cost two more events per parcel, its start and its end). The draws are the
        ones a process made, in the same order and at the same simulated times (a process made its first
        two at its start, one event later in the same instant: the golden digests are unchanged).
        """
        fails = self.rng.random() < self.exception_rate
        if self.legs:
            self._leg(tracker, fails, 0)

    def _leg(self, tracker: Tracker, fails: bool, leg: int) -> None:
        timer = self.env.timeout(self.legs[leg][2].sample(self.rng))
        timer.callbacks.append(lambda _timer: self._leg_done(tracker, fails, leg))

    def _leg_done(self, tracker: Tracker, fails: bool, leg: int) -> None:
        status, message, _ = self.legs[leg]
        if fails and status == "delivered":
            status, message = self.rng.choice(
                (("failure", "Delivery attempt failed"), ("return_to_sender", "Returned to sender"))
            )
        self._advance(tracker, status, message)
        if status not in ("failure", "return_to_sender") and leg + 1 < len(self.legs):
            self._leg(tracker, fails, leg + 1)

    def _advance(self, tracker: Tracker, status: str, message: str) -> None:
        previous = tracker.scan(status, message, self.env.now)
        if self.notify_recipient is not None:
            self.notify_recipient(tracker.tracking_code, status)
        event_id = self.next_id("evt_")
        self.emit(
            "tracker.updated",
            {
                "id": event_id,
                "object": "Event",
                "description": "tracker.updated",
                "result": tracker.as_json(),
                "previous_attributes": {"status": previous},
                "created_at": iso_time(self.env.now),
            },
            event_id,
        )

    def get_tracker(self, request: Request, tracker_id: str) -> Response:
        tracker = self.trackers.get(tracker_id)
        if tracker is None:
            return self.error(404, "NOT_FOUND", "The requested resource could not be found.")
        return Response(200, tracker.as_json())

    def list_trackers(self, request: Request) -> Response:
        codes = [c for c in request.query.get("tracking_codes", "").split(",") if c]
        found = [t for c in codes if (t := self.tracker_by_code(c)) is not None]
        return Response(200, {"trackers": found, "has_more": False})
