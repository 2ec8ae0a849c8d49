"""The core's returns: ingress of return requests and the effects of their commands' replies (what each
return command renders and means is its adapter's spec, core/adapters).

Returns are aggregates of kind ``return`` keyed by the return number, which is also their correlation
id (every message carries it; the order number travels in the record). A return is opened from the
core's return API (storefront, service agent) or from the POS's ``return.created`` event, and then runs
the return-to-refund table (``core/workflows/return_to_refund.py``) inside the same transaction that
saves it and appends its commands to the outbox.

An exchange's goods, once received, become a free replacement order (``CreateExchangeOrder``, an
internal timer of the core, so a crash between receipt and replacement loses nothing); a return opened
by a service agent from a Service Cloud case writes its customer-visible statuses on that case (only
the newest is worth sending).

Rules kept: the same as the order side — inbox dedupe of POS and warehouse events, one transaction per
message, a stale event changes nothing, the ERP is looked up by ``PurchaseOrderByCustomer`` (the return
number) before any re-create of a customer return or credit memo request, and the refund carries the
idempotency key ``{return_no}:refund`` on every attempt. The return API answers 404 for an order the
core does not know (a return for it would be pushed to a storefront that has no such order). No clock,
no global random.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from retailsim.core.adapters import pos, shipbob
from retailsim.core.adapters.spec import Answer
from retailsim.core.config import INTERNAL
from retailsim.core.documents import DocKind
from retailsim.core.errors import NotYetKnown
from retailsim.core.models import Return, ReturnLine
from retailsim.core.service.erp_routing import return_destination
from retailsim.core.service.hosts import IdempotentHost
from retailsim.core.service.records import load_return, returns_of_order
from retailsim.core.service.replies import ApiReply
from retailsim.core.service.unit_of_work import UnitOfWork
from retailsim.core.stores.base import NewMessage, Transaction
from retailsim.core.workflows import return_to_refund as r2r
from retailsim.core.workflows.order_to_cash import OrderRecord, OrderStatus
from retailsim.core.workflows.return_to_refund import ReturnEvent, ReturnRecord, ReturnStatus


class Replacements(Protocol):
    """Who ships an exchange's replacement (the service desk's ``create_replacement``)."""

    def create_replacement(
        self,
        tx: Transaction,
        original: OrderRecord,
        lines: list[tuple[str, int]],
        reference: str | None,
        now: float,
        uow: UnitOfWork,
    ) -> str | None: ...


class ReturnsHost(IdempotentHost, Protocol):
    """What returns need besides the shared part: replacements, the return policy, and the return status
    changes noted for the core's observer."""

    @property
    def service_desk(self) -> Replacements: ...

    @property
    def return_policy(self) -> r2r.ReturnPolicy: ...

    @property
    def on_return_status(self) -> Callable[[str, str, float], None] | None: ...


class Returns:
    """Return-to-refund in one core (see the module docstring)."""

    def __init__(self, host: ReturnsHost) -> None:
        self.host = host

    def _transaction(self, point: str) -> AbstractContextManager[Transaction]:
        return self.host._transaction(point)

    # ---- keys --------------------------------------------------------------------------------------

    def refund_idempotency_key(self, record: ReturnRecord) -> str | None:
        return r2r.refund_idempotency_key(record.return_no) if self.host.guards.refund_key else None

    def restock_idempotency_key(self, record: ReturnRecord) -> str | None:
        return f"{record.return_no}:restock"

    def apply_return_event(
        self,
        record: ReturnRecord,
        event: ReturnEvent,
        now: float,
        facts: dict[str, Any] | None,
    ) -> r2r.ReturnOutcome:
        return r2r.apply(record, event, now, self.host.return_policy, facts)

    # ---- transitions ------------------------------------------------------------------------------

    def transition(
        self,
        tx: Transaction,
        record: ReturnRecord,
        event: ReturnEvent,
        now: float,
        uow: UnitOfWork,
        facts: dict[str, Any] | None = None,
    ) -> ReturnRecord:
        outcome = self.apply_return_event(record, event, now, facts)
        if outcome.stale:
            self.host._count("stale_return_events")
            uow.note(
                "stale", f"return {record.return_no} is {record.status.value}, past {event.value}"
            )
            tx.save(DocKind.RETURN, record.return_no, outcome.record.model_dump(mode="json"), now)
            result: ReturnRecord = outcome.record
            return result
        new = outcome.record
        uow.note(
            "processed", f"return {new.return_no} {record.status.value} -> {new.status.value}"
        )
        tx.save(DocKind.RETURN, new.return_no, new.model_dump(mode="json"), now)
        for command in outcome.commands:
            destination = return_destination(
                tx, self.host.config.migration, self.host.guards, new.order_no, command.destination, now
            )
            tx.append(
                NewMessage(
                    destination=destination,
                    kind=command.kind,
                    aggregate_id=new.return_no,
                    correlation_id=new.correlation_id,
                    payload=command.payload,
                    available_at=now + command.delay_s,
                )
            )
            uow.woken.add(destination)
        if new.status is not record.status and self.host.on_return_status is not None:
            uow.return_transitions.append((new.return_no, new.status.value))
        result = new
        return result

    def restock_positions(self, tx: Transaction, record: ReturnRecord, now: float, uow: UnitOfWork) -> None:
        """Goods back in a DC's unrestricted stock are available to promise again — once the ERP's return
        goods receipt has booked them (before that the ERP does not have them: promised early, they are
        sold twice or confirmed short)."""
        if record.location not in self.host.config.locations:
            return
        for line in record.lines:
            if line.disposition != "restock":
                continue
            position = tx.get_position(line.sku, record.location)
            if position is not None:
                position.on_hand += line.quantity
                tx.put_position(position)
                self.host.inventory.schedule_publication(tx, line.sku, now, uow)


    # ---- ingress ----------------------------------------------------------------------------------

    def request_return(self, body: Any, idempotency_key: str | None, now: float) -> ApiReply:
        """The return API (storefront or service agent): the order API's idempotency rules."""

        def open_it(tx: Transaction, request: Return, uow: UnitOfWork) -> ApiReply:
            if self.host._load_record(tx, request.order_no) is None:
                return ApiReply(404, {"error": "order_not_found", "detail": f"no order {request.order_no!r}"})
            record = self.open_return(tx, request, self.host.config.locations[0], now, uow)
            return ApiReply(
                202,
                {
                    "return_id": record.return_no,
                    "order_id": record.order_no,
                    "correlation_id": record.correlation_id,
                    "status": record.status.value,
                },
            )

        result: ApiReply = self.host.requests.run_validated(
            "returns", idempotency_key, body, now, Return, body, open_it, "invalid_return"
        )
        return result

    def _order_facts(
        self, tx: Transaction, order: OrderRecord | None, return_no: str
    ) -> r2r.OrderFacts | None:
        if order is None:
            return None
        lines: dict[str, int] = {}
        for sku, quantity in order.lines:
            lines[sku] = lines.get(sku, 0) + quantity
        returned: dict[str, int] = {}
        for other_no in returns_of_order(tx, order.order_no):
            other = load_return(tx, other_no)
            if other is None or other_no == return_no or other.status is ReturnStatus.REJECTED:
                continue
            for line in other.lines:
                returned[line.sku] = returned.get(line.sku, 0) + line.quantity
        return r2r.OrderFacts(
            status=order.status.value,
            # Billed at goods issue: delivered, or shipped and then lost by the carrier.
            invoiced=order.status in (OrderStatus.DELIVERED, OrderStatus.DELIVERY_FAILED)
            and bool(order.erp_sales_order),
            delivered_at=order.delivered_at,
            lines=lines,
            already_returned=returned,
        )

    def open_return(
        self,
        tx: Transaction,
        request: Return,
        location: str,
        now: float,
        uow: UnitOfWork,
        *,
        goods_expected: bool = True,
        case_id: str | None = None,
    ) -> ReturnRecord:
        existing = load_return(tx, request.return_no)
        if existing is not None:
            self.host._count("duplicate_returns")
            return existing
        order = self.host._load_record(tx, request.order_no)
        order_doc = tx.load(DocKind.ORDER_DOC, request.order_no) or {}
        prices = {str(line["sku"]): int(line["unit_price_minor"]) for line in order_doc.get("lines", [])}
        lines = [
            r2r.ReturnLineState(
                sku=line.sku,
                quantity=line.quantity,
                condition=line.condition,
                unit_price_minor=prices.get(line.sku, 0),
            )
            for line in request.lines
        ]
        record = ReturnRecord(
            return_no=request.return_no,
            order_no=request.order_no,
            correlation_id=request.return_no,
            channel=request.channel,
            location=location,
            reason=request.reason,
            lines=lines,
            amount_minor=sum(line.quantity * line.unit_price_minor for line in lines),
            payment_ref=order.payment_ref if order else None,
            erp_sales_order=order.erp_sales_order if order else None,
            requested_at=now,
            history=[(now, ReturnStatus.REQUESTED.value, "ReturnRequested")],
            exchange=request.exchange,
            goods_expected=goods_expected,
            # Nothing will come back from a lost parcel: it counts as received once the ERP authorizes.
            received_at=None if goods_expected else now,
            case_id=case_id,
        )
        facts = self._order_facts(tx, order, request.return_no)
        refusal = r2r.eligibility(record, facts, now, self.host.return_policy)
        tx.save(
            DocKind.ORDER_RETURNS,
            request.order_no,
            {"returns": [*returns_of_order(tx, request.order_no), request.return_no]},
            now,
        )
        self.host._count("returns_requested")
        if refusal is not None:
            self.host._count("returns_rejected")
            result: ReturnRecord = self.transition(
                tx, record, ReturnEvent.INELIGIBLE, now, uow, {"rejection": refusal}
            )
            return result
        result = self.transition(tx, record, ReturnEvent.ELIGIBLE, now, uow)
        return result

    def _unit_received(self, tx: Transaction, body: Any, now: float, uow: UnitOfWork) -> None:
        """One returned unit checked in at a store — an additive fact (the inbox keeps it to one): a
        resellable unit is restocked at once; the return is received when every unit has come in."""
        facts = pos.parse_unit(body)
        record = load_return(tx, facts["return_no"])
        if record is None:
            raise NotYetKnown(f"return {facts['return_no']} is not known yet")
        if record.status is ReturnStatus.REJECTED:
            self.host._count("stale_return_events")
            uow.note(
                "stale", f"return {record.return_no} was rejected: the unit is handed back"
            )
            return
        units = {sku: list(conditions) for sku, conditions in record.units_received.items()}
        units.setdefault(facts["sku"], []).append(facts["condition"])
        record = record.model_copy(update={"units_received": units})
        tx.save(DocKind.RETURN, record.return_no, record.model_dump(mode="json"), now)
        counted = sum(len(conditions) for conditions in units.values())
        if facts["condition"] == "resellable":
            tx.append(
                NewMessage(
                    "pos",
                    "RestockReturnedUnit",
                    record.return_no,
                    record.correlation_id,
                    {"sku": facts["sku"], "unit": counted},
                    now,
                )
            )
            uow.woken.add("pos")
        self.host._count("return_units_received")
        expected = sum(line.quantity for line in record.lines)
        uow.note(
            "processed",
            f"return {record.return_no}: unit {counted} of {expected} ({facts['sku']}, {facts['condition']})",
        )
        if all(len(units.get(line.sku, [])) >= line.quantity for line in record.lines):
            received = [(line.sku, line.quantity, units[line.sku][0]) for line in record.lines]
            self._goods_received(tx, record, received, now, uow)

    def apply_pos_webhook(self, tx: Transaction, topic: str, body: Any, now: float, uow: UnitOfWork) -> None:
        if topic == pos.TOPIC_RETURN_UNIT_RECEIVED:
            self._unit_received(tx, body, now, uow)
            return
        facts = pos.parse_return(body)
        if topic == pos.TOPIC_RETURN_CREATED:
            request = Return(
                return_no=facts["return_no"],
                order_no=facts["order_no"],
                channel="pos",
                lines=tuple(ReturnLine(sku=s, quantity=q, condition=c) for s, q, c in facts["lines"]),
                reason=facts["reason"],
            )
            self.open_return(tx, request, facts["store_id"], now, uow)
        elif topic == pos.TOPIC_RETURN_RECEIVED:
            record = load_return(tx, facts["return_no"])
            if record is None:
                raise NotYetKnown(f"return {facts['return_no']} is not known yet")
            self._goods_received(tx, record, facts["lines"], now, uow)
        else:
            self.host._count("webhooks_ignored")
            uow.note("ignored", f"{topic} moves no return")

    def apply_wms_return(self, tx: Transaction, body: Any, now: float, uow: UnitOfWork) -> None:
        facts = shipbob.parse_return_webhook(body)
        record = load_return(tx, facts["return_no"])
        if record is None:
            raise NotYetKnown(f"return {facts['return_no']} is not known yet")
        self._goods_received(tx, record, facts["lines"], now, uow)

    def _goods_received(
        self,
        tx: Transaction,
        record: ReturnRecord,
        received: list[tuple[str, int, str]],
        now: float,
        uow: UnitOfWork,
    ) -> None:
        if record.status is ReturnStatus.REJECTED:
            self.host._count("stale_return_events")
            uow.note("stale", f"return {record.return_no} was rejected")
            return
        conditions: dict[str, str] = {sku: condition for sku, _, condition in received}
        lines = [
            line.model_copy(update={"condition": conditions.get(line.sku, line.condition)})
            for line in record.lines
        ]
        self.transition(
            tx, record, ReturnEvent.GOODS_RECEIVED, now, uow, {"received_at": now, "lines": lines}
        )

    # ---- replies ----------------------------------------------------------------------------------

    def warehouse_return_created(
        self, tx: Transaction, answer: Answer, uow: UnitOfWork
    ) -> None:
        """Keep the warehouse's return id (the first one it gave)."""
        record = answer.return_record
        created = shipbob.created_order_id(answer.reply)
        if created and not record.wms_return_id:
            update = record.model_copy(update={"wms_return_id": created})
            tx.save(DocKind.RETURN, record.return_no, update.model_dump(mode="json"), answer.now)

    def return_goods_booked(
        self, tx: Transaction, answer: Answer, uow: UnitOfWork
    ) -> None:
        """The ERP booked the goods back into the DC's stock: they are available to promise again, and an
        exchange's replacement may now be delivered out of them."""
        record, now = answer.return_record, answer.now
        self.restock_positions(tx, record, now, uow)
        if record.exchange and record.status is ReturnStatus.RECEIVED and not record.replacement_order:
            tx.append(
                NewMessage(INTERNAL, "CreateExchangeOrder", record.return_no, record.correlation_id, {}, now)
            )
            uow.woken.add(INTERNAL)

    def create_exchange_order(
        self,
        tx: Transaction,
        return_no: str,
        now: float,
        uow: UnitOfWork,
    ) -> None:
        """An exchange's goods are back: ship the same goods free, or refund when no DC has them."""
        record = load_return(tx, return_no)
        order = self.host._load_record(tx, record.order_no) if record is not None else None
        if (
            record is None
            or order is None
            or record.status is not ReturnStatus.RECEIVED
            or not record.exchange
        ):
            return
        lines = [(line.sku, line.quantity) for line in record.lines]
        replacement = self.host.service_desk.create_replacement(
            tx, order, lines, record.erp_return_order, now, uow
        )
        if replacement is None:
            self.host._count("exchanges_refunded")
            self.transition(tx, record, ReturnEvent.EXCHANGE_UNAVAILABLE, now, uow)
            return
        self.host._count("exchanges")
        self.transition(
            tx, record, ReturnEvent.EXCHANGE_ORDERED, now, uow, {"replacement_order": replacement}
        )

    # ---- reading ----------------------------------------------------------------------------------

    def return_record(self, return_no: str) -> ReturnRecord | None:
        with self._transaction("return_record.read") as tx:
            return load_return(tx, return_no)
