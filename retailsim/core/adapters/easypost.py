"""EasyPost-style tracker events in; tracker look-ups out (for reconciliation).

Trackers know their tracking code, not our order: the core learns code → order from the warehouse's
shipped webhook, and an event for an unknown code is answered "retry later" so the carrier re-sends it.
"""

from __future__ import annotations

from typing import Any

from retailsim.core.adapters.http import OutboundRequest
from retailsim.core.adapters.spec import CommandInput, CommandSpec, Effect, Subject
from retailsim.core.errors import InvalidPayload

IN_TRANSIT = frozenset({"in_transit", "out_for_delivery", "available_for_pickup"})
DELIVERED = frozenset({"delivered"})
EXCEPTION = frozenset({"failure", "return_to_sender", "error", "cancelled"})
# The carrier has given up on the parcel: it will not be delivered (a service agent replaces or refunds).
GAVE_UP = frozenset({"failure", "return_to_sender"})


def parse_event(body: Any) -> tuple[str, str]:
    """(tracking code, tracker status) of a ``tracker.updated`` event."""
    if not isinstance(body, dict) or not isinstance(body.get("result"), dict):
        raise InvalidPayload("not an EasyPost event", [{"loc": ["result"], "msg": "field required"}])
    tracker = body["result"]
    code, status = tracker.get("tracking_code"), tracker.get("status")
    if not isinstance(code, str) or not isinstance(status, str) or not code or not status:
        raise InvalidPayload("tracker without code or status", [{"loc": ["result", "tracking_code"]}])
    return str(code), str(status)


def find_trackers(codes: list[str]) -> OutboundRequest:
    return OutboundRequest("GET", "/v2/trackers", query={"tracking_codes": ",".join(codes)})


# ---- command specs ------------------------------------------------------------------------------------


def _trackers(command: CommandInput) -> OutboundRequest | None:
    """Every parcel's tracker when shipped in several, else the order's one (none yet: nothing to ask)."""
    record = command.record
    if len(record.parcels) > 1:
        return find_trackers([str(parcel["tracking"]) for _, parcel in sorted(record.parcels.items())])
    return find_trackers([record.tracking_code]) if record.tracking_code else None


COMMANDS = (CommandSpec("FetchTracker", Subject.ORDER, _trackers, effect=Effect.TRACKERS_FETCHED),)
