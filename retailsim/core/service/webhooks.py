"""Webhooks: the systems' events, each applied once in the transaction that records it in the inbox.

``receive`` runs one event in one store transaction — inbox check, then its effect (the guard
``inbox_before_effect`` off puts the effect first: a broken core) — and answers what it turned out to be:
``processed``, ``stale``, ``ignored`` or ``duplicate`` (with the reason), 409 for an order not known yet,
400 for a payload its adapter refuses, 422 for an illegal transition. Events are routed by a
(source, topic) table, then by source alone; what no route takes (payment events) confirms what the core
knows. The warehouse's and the carrier's news about an order (``warehouse_news``, ``tracker_status``) are
applied here for reconciliation too, which finds the same news by asking.

Rules kept: a duplicate has no effect; what a rolled-back transaction noted (its verdict notes, its
return transitions) is never announced — both live in the event's own unit of work, so events received on
several threads at once (the live API) never mix their notes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from retailsim.core.adapters import easypost, pix, pos, shipbob
from retailsim.core.documents import DocKind
from retailsim.core.errors import IllegalTransition, InvalidPayload, NotYetKnown
from retailsim.core.guards import Guards
from retailsim.core.service.additive_facts import AdditiveFacts
from retailsim.core.service.hosts import OrderTableHost
from retailsim.core.service.pickups import Pickups
from retailsim.core.service.replies import ApiReply
from retailsim.core.service.returns import Returns
from retailsim.core.service.unit_of_work import UnitOfWork
from retailsim.core.stores.base import Transaction
from retailsim.core.workflows.order_to_cash import OrderEvent, OrderRecord

# A webhook's handler: (tx, topic, body, now, uow).
Handler = Callable[[Transaction, str, Any, float, UnitOfWork], None]


class WebhookHost(OrderTableHost, Protocol):
    """What webhooks need from the rest of the core: guards, transactions and crash points, what it
    announces after a commit, and the rooms that own some events (pickups, returns, additive facts)."""

    @property
    def guards(self) -> Guards: ...

    @property
    def pickups(self) -> Pickups: ...

    @property
    def returns(self) -> Returns: ...

    @property
    def additive(self) -> AdditiveFacts: ...

    def _transaction(self, point: str) -> AbstractContextManager[Transaction]: ...

    def _crash_point(self, point: str) -> None: ...

    def _after_commit(self, uow: UnitOfWork, now: float) -> None: ...


class Webhooks:
    """The inbox, the (source, topic) → handler table and the order's warehouse and carrier news."""

    def __init__(self, host: WebhookHost) -> None:
        self.host = host
        returns, additive = host.returns, host.additive
        self._by_topic: dict[tuple[str, str], Handler] = {
            **{("pos", topic): host.pickups.apply_webhook for topic in pos.PICKUP_TOPICS},
            ("wms", shipbob.TOPIC_RETURN_COMPLETED): lambda tx, _, body, now, uow: returns.apply_wms_return(
                tx, body, now, uow
            ),
            ("wms", pix.TOPIC_ADJUSTMENT): lambda tx, _, body, now, uow: additive.apply_adjustment(
                tx, body, now, uow
            ),
        }
        self._by_source: dict[str, Handler] = {
            "pos": returns.apply_pos_webhook,
            "wms": self._warehouse_order,
            "carrier": self._tracker,
        }

    def receive(self, source: str, event_id: str, topic: str, body: Any, now: float) -> ApiReply:
        """A warehouse, carrier, store or payment event. Duplicates are acknowledged and have no effect."""
        host = self.host
        uow = UnitOfWork()  # what applying it turned out to be (``uow.note``): its reply says
        try:
            with host._transaction("webhook.before_commit") as tx:
                if self.handle(tx, source, event_id, topic, body, now, uow):
                    host._count("inbox_duplicates")
                    return ApiReply(
                        200,
                        {
                            "status": "duplicate",
                            "event_id": event_id,
                            "reason": "event id in the inbox already",
                        },
                    )
        except NotYetKnown as exc:
            host._count("webhooks_not_yet_known")
            return ApiReply(409, {"error": "not_yet_known", "detail": str(exc)}, {"Retry-After": "60"})
        except InvalidPayload as exc:
            host._count("webhooks_invalid")
            return ApiReply(400, {"error": "invalid_payload", "detail": str(exc), "errors": exc.errors})
        except IllegalTransition as exc:
            host._count("webhooks_illegal")
            return ApiReply(422, {"error": "illegal_transition", "detail": str(exc)})
        host._after_commit(uow, now)
        status, reason = verdict(uow.notes)
        host._crash_point("webhook.after_commit")
        return ApiReply(200, {"status": status, "event_id": event_id, "reason": reason})

    def handle(
        self,
        tx: Transaction,
        source: str,
        event_id: str,
        topic: str,
        body: Any,
        now: float,
        uow: UnitOfWork,
    ) -> bool:
        """Inbox first, then the effect, in the caller's transaction; True when it was a duplicate."""
        first_delivery = self.host.guards.inbox
        if not self.host.guards.inbox_before_effect:  # the effect is in the transaction before the check
            self._apply(tx, source, topic, body, now, uow)
            return not first_delivery(tx, source, event_id, now)
        if not first_delivery(tx, source, event_id, now):
            return True
        self._apply(tx, source, topic, body, now, uow)
        return False

    def _apply(
        self,
        tx: Transaction,
        source: str,
        topic: str,
        body: Any,
        now: float,
        uow: UnitOfWork,
    ) -> None:
        """Route the event: by (source, topic), else by its source, else it confirms what the core knows."""
        handler = self._by_topic.get((source, topic)) or self._by_source.get(source)
        if handler is None:
            self.host._count("webhooks_ignored")  # payment events confirm what the core already knows
            uow.note("ignored", f"{source} {topic} confirms what the core knows")
            return
        handler(tx, topic, body, now, uow)

    def _warehouse_order(
        self,
        tx: Transaction,
        topic: str,
        body: Any,
        now: float,
        uow: UnitOfWork,
    ) -> None:
        facts = shipbob.parse_webhook(topic, body)
        record = self.host._load_record(tx, facts["order_no"])
        if record is None:
            raise NotYetKnown(f"order {facts['order_no']} is not known yet")
        if self.warehouse_news(tx, record, topic, facts, now, uow) is None:
            self.host._count("webhooks_ignored")
            uow.note("ignored", f"{topic} moves no order")

    def _tracker(
        self,
        tx: Transaction,
        topic: str,
        body: Any,
        now: float,
        uow: UnitOfWork,
    ) -> None:
        code, status = easypost.parse_event(body)
        link = tx.load(DocKind.TRACKING, code)
        if link is None:
            raise NotYetKnown(f"tracking code {code} is not known yet")
        record = self.host._load_record(tx, str(link["order_no"]))
        if record is None:
            raise NotYetKnown(f"order for tracking code {code} is not known")
        if status in easypost.GAVE_UP:
            self.host._count("carrier_exceptions")
        if self.tracker_status(tx, record, status, now, uow, code) is None:
            self.host._count("carrier_exceptions" if status in easypost.EXCEPTION else "webhooks_ignored")
            uow.note("ignored", f"tracker status {status} moves no order")

    def warehouse_news(
        self,
        tx: Transaction,
        record: OrderRecord,
        topic: str,
        facts: dict[str, Any],
        now: float,
        uow: UnitOfWork,
    ) -> OrderRecord | None:
        """A warehouse order shipped or went on hold, told by its webhook or found by reconciliation;
        None for a topic that moves no order."""
        host = self.host
        if topic == shipbob.TOPIC_SHIPPED and facts.get("shipment_id") is not None:
            return host.additive.apply_parcel(tx, record, facts, now, uow)
        if topic == shipbob.TOPIC_SHIPPED:
            tx.save(DocKind.TRACKING, facts["tracking_code"], {"order_no": record.order_no}, now)
            shipped = {
                "wms_order_id": facts["wms_order_id"],
                "tracking_code": facts["tracking_code"],
                "carrier": facts["carrier"],
                "shipped_at": now,
            }
            return host._transition(tx, record, OrderEvent.SHIPPED, now, uow, shipped)
        if topic == shipbob.TOPIC_ON_HOLD:
            on_hold = {"wms_order_id": facts["wms_order_id"]}
            return host._transition(tx, record, OrderEvent.SHIPMENT_ON_HOLD, now, uow, on_hold)
        return None

    def tracker_status(
        self,
        tx: Transaction,
        record: OrderRecord,
        status: str,
        now: float,
        uow: UnitOfWork,
        code: str | None = None,
    ) -> OrderRecord | None:
        """A parcel's tracker status, told by the carrier's webhook or found by reconciliation; None for a
        status that moves no order."""
        host = self.host
        if code is not None and record.parcels:  # shipped in parcels (each told with its shipment id)
            return host.additive.apply_parcel_status(tx, record, code, status, now, uow)
        if status in easypost.DELIVERED:
            return host._transition(tx, record, OrderEvent.DELIVERED, now, uow, {"delivered_at": now})
        if status in easypost.IN_TRANSIT:
            return host._transition(tx, record, OrderEvent.IN_TRANSIT, now, uow)
        if status in easypost.GAVE_UP:
            return host._transition(tx, record, OrderEvent.DELIVERY_FAILED, now, uow)
        return None


def verdict(notes: list[tuple[str, str]]) -> tuple[str, str]:
    """A webhook was processed when anything in it was applied; else the first thing noted about it."""
    for status, reason in notes:
        if status == "processed":
            return status, reason
    return notes[0] if notes else ("processed", "applied")
