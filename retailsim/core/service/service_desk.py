"""The service agent's view and hands: one timeline per order, and the actions an agent takes from it.

``order_timeline`` is the experience API behind ``GET /v1/orders/{id}``: the order with what the core
knows of every system's record of it — payment, ERP, WMS, carrier, store pickup and its rerouting, every
return (ERP return and credit memo, refund), replacement orders and the agents' actions — and one list
of dated entries from all of them. Agents act through ``agent_action`` (``POST /v1/orders/{id}/actions``):

* ``reship`` — a parcel the carrier gave up on (``delivery_failed``) is replaced by a free replacement
  order (``{order}-R{n}``, the ERP's "SDF" with reference to the original sales order) shipped from the
  DC; the original becomes ``replaced``.
* ``refund`` — the same lost parcel, refunded instead: a return with no goods to come back, so it runs
  the return-to-refund table (ERP return, credit memo, refund with its idempotency key).
* ``return`` — a delivered order comes back (wrong item, …), optionally as an exchange.

Rules kept: the same idempotency rules as the order API (one mechanism,
``IdempotentRequests.run_validated``); every action is one transaction, and a remedy is never applied
twice to one order — a second reship answers with the first replacement, a return opened twice from one
case is the same return (its number is the case's). Refusals are 409 with the reason and change nothing.
No clock, no global random.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from retailsim.core.documents import DocKind
from retailsim.core.models import Order, Return, ReturnLine
from retailsim.core.service.hosts import IdempotentHost
from retailsim.core.service.records import load_return, returns_of_order
from retailsim.core.service.replies import ApiReply
from retailsim.core.service.returns import Returns
from retailsim.core.service.unit_of_work import UnitOfWork
from retailsim.core.stores.base import Transaction
from retailsim.core.workflows.order_to_cash import OrderEvent, OrderRecord, OrderStatus
from retailsim.core.workflows.return_to_refund import ReturnRecord, ReturnStatus


class AgentAction(BaseModel):
    """What a service agent asks the core to do for an order (body of ``POST /v1/orders/{id}/actions``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["reship", "refund", "return"]
    case_number: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_\-]+$")
    case_id: str | None = Field(None, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9]+$")
    lines: tuple[ReturnLine, ...] | None = Field(None, min_length=1, max_length=500)
    exchange: bool = False
    reason: str = Field("R01", max_length=40)


def _refused(error: str, detail: str, **extra: Any) -> ApiReply:
    return ApiReply(409, {"error": error, "detail": detail, **extra})


def load_actions(tx: Transaction, order_no: str) -> list[list[Any]]:
    document = tx.load(DocKind.ORDER_ACTIONS, order_no)
    return list(document["actions"]) if document is not None else []


class ServiceDeskHost(IdempotentHost, Protocol):
    """What the service desk needs besides the shared part: the returns room, to open a return."""

    @property
    def returns(self) -> Returns: ...


class ServiceDesk:
    """The service agent's view and actions in one core (see the module docstring)."""

    def __init__(self, host: ServiceDeskHost) -> None:
        self.host = host

    def _transaction(self, point: str) -> AbstractContextManager[Transaction]:
        return self.host._transaction(point)

    # ---- the timeline -----------------------------------------------------------------------------

    def order_timeline(self, order_no: str) -> dict[str, Any] | None:
        with self._transaction("order_timeline.read") as tx:
            record: OrderRecord | None = self.host._load_record(tx, order_no)
            if record is None:
                return None
            returns = [r for r in (load_return(tx, no) for no in returns_of_order(tx, order_no)) if r]
            actions = load_actions(tx, order_no)
        entries: list[dict[str, Any]] = [
            {"at": at, "status": status, "event": event, "source": "order"}
            for at, status, event in record.history
        ]
        for at, location, why in record.routing:
            entries.append(
                {
                    "at": at,
                    "status": record.status.value,
                    "event": f"routed to {location or 'nowhere'}: {why}",
                    "source": "fulfilment",
                }
            )
        for ret in returns:
            entries += [
                {"at": at, "status": status, "event": event, "source": f"return {ret.return_no}"}
                for at, status, event in ret.history
            ]
        for at, action, case_number, result in actions:
            entries.append(
                {
                    "at": at,
                    "status": record.status.value,
                    "event": f"agent {action}: {result}",
                    "source": f"case {case_number}",
                }
            )
        entries.sort(key=lambda entry: (entry["at"], entry["source"]))
        return {
            "order_id": record.order_no,
            "correlation_id": record.correlation_id,
            "status": record.status.value,
            "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in record.lines],
            "location": record.location,
            "total_minor": record.total_minor,
            "currency": record.currency,
            "payment": {
                "payment_intent": record.payment_ref,
                "capture_requested": self._capture_requested(record),
            },
            "erp": {"sales_order": record.erp_sales_order, "posted_at": record.posted_at},
            "wms": {"order_id": record.wms_order_id, "shipped_at": record.shipped_at},
            "carrier": {
                "carrier": record.carrier,
                "tracking_code": record.tracking_code,
                "delivered_at": record.delivered_at,
            },
            "fulfilment": {
                "pickup_store": record.pickup_store,
                "location": record.location,
                "routing": [{"at": at, "location": loc, "reason": why} for at, loc, why in record.routing],
            },
            "replacement": {"replaces": record.replaces, "replaced_by": record.replaced_by},
            "returns": [self._return_view(ret) for ret in returns],
            "actions": [
                {"at": at, "action": action, "case_number": case_number, "result": result}
                for at, action, case_number, result in actions
            ],
            "timeline": entries,
        }

    @staticmethod
    def _capture_requested(record: OrderRecord) -> bool:
        """The core asks for the capture when the goods leave (shipped, or collected at a store); the
        gateway's answer changes no state, so the timeline claims the request, not the capture."""
        events = {event for _, _, event in record.history}
        return bool(record.payment_ref) and bool(
            events & {OrderEvent.SHIPPED.value, OrderEvent.PICKED_UP.value}
        )

    @staticmethod
    def _return_view(ret: ReturnRecord) -> dict[str, Any]:
        return {
            "return_id": ret.return_no,
            "status": ret.status.value,
            "channel": ret.channel,
            "location": ret.location,
            "amount_minor": ret.amount_minor,
            "erp_return_order": ret.erp_return_order,
            "erp_credit_memo": ret.erp_credit_memo,
            "refund_id": ret.refund_id,
            "refunded_at": ret.refunded_at,
            "exchange": ret.exchange,
            "replacement_order": ret.replacement_order,
            "rejection": ret.rejection,
        }

    # ---- actions ----------------------------------------------------------------------------------

    def agent_action(self, order_no: str, body: Any, idempotency_key: str | None, now: float) -> ApiReply:
        """An agent's action on an order, under the order API's idempotency rules."""
        if not self.host.guards.remedy_guard:  # every re-send is a new action
            idempotency_key = f"{idempotency_key}:{now!r}"
        result: ApiReply = self.host.requests.run_validated(
            "actions",
            idempotency_key,
            {"order_no": order_no, "body": body},
            now,
            AgentAction,
            body,
            lambda tx, action, uow: self._act(tx, order_no, action, now, uow),
            "invalid_action",
        )
        return result

    def _act(
        self,
        tx: Transaction,
        order_no: str,
        action: AgentAction,
        now: float,
        uow: UnitOfWork,
    ) -> ApiReply:
        record: OrderRecord | None = self.host._load_record(tx, order_no)
        if record is None:
            return ApiReply(404, {"error": "order_not_found", "detail": f"no order {order_no!r}"})
        if action.action == "reship":
            reply: ApiReply = self._reship(tx, record, action, now, uow)
        elif action.action == "refund":
            reply = self._refund_lost_parcel(tx, record, action, now, uow)
        else:
            reply = self._agent_return(tx, record, action, now, uow)
        if reply.status < 300:
            result = str(
                reply.body.get("replacement_order") or reply.body.get("return_id") or reply.body["status"]
            )
            self._record_action(tx, order_no, [now, action.action, action.case_number, result], now)
        return reply

    @staticmethod
    def _record_action(tx: Transaction, order_no: str, entry: list[Any], now: float) -> None:
        tx.save(DocKind.ORDER_ACTIONS, order_no, {"actions": [*load_actions(tx, order_no), entry]}, now)

    def allow_second_remedy(self) -> bool:
        """A remedy already applied to an order is never applied again (the remedy guard)."""
        return not self.host.guards.remedy_guard

    def _reship(
        self,
        tx: Transaction,
        record: OrderRecord,
        action: AgentAction,
        now: float,
        uow: UnitOfWork,
    ) -> ApiReply:
        earlier: ApiReply | None = self._lost_parcel_remedy(tx, record)
        if earlier is not None and not self.allow_second_remedy():
            return earlier
        if record.status not in (OrderStatus.DELIVERY_FAILED, OrderStatus.REPLACED):
            return _refused(
                "action_not_allowed",
                f"order {record.order_no} is {record.status.value}; only a failed delivery is reshipped",
            )
        replacement = self.create_replacement(
            tx, record, list(record.lines), record.erp_sales_order, now, uow
        )
        if replacement is None:
            return _refused("no_stock", "no DC can ship the replacement now; refund the customer instead")
        self.host._count("reships")
        if record.status is OrderStatus.DELIVERY_FAILED:
            self.host._transition(
                tx,
                record,
                OrderEvent.REPLACEMENT_ORDERED,
                now,
                uow,
                {"replaced_by": replacement},
            )
        return ApiReply(
            202, {"order_id": record.order_no, "status": "replaced", "replacement_order": replacement}
        )

    def create_replacement(
        self,
        tx: Transaction,
        original: OrderRecord,
        lines: list[tuple[str, int]],
        reference: str | None,
        now: float,
        uow: UnitOfWork,
    ) -> str | None:
        """A free replacement order shipped from a DC (reship, exchange); None when no DC has the stock.

        It carries the original's correlation id (the customer's order number), no payment and a zero
        total; the ERP gets it as a free-of-charge delivery with reference to ``reference``.
        """
        doc = tx.load(DocKind.ORDER_DOC, original.order_no)
        if doc is None:
            return None
        source = Order.model_validate(doc)
        made = tx.load(DocKind.ORDER_REPLACEMENTS, original.order_no) or {"orders": []}
        number = f"{original.order_no}-R{len(made['orders']) + 1}"
        wanted = {sku: quantity for sku, quantity in lines}
        order_lines = [
            line.model_copy(update={"unit_price_minor": 0, "quantity": wanted[line.sku]})
            for line in source.lines
            if line.sku in wanted
        ]
        order = source.model_copy(
            update={
                "order_no": number,
                "channel": "callcenter",
                "lines": tuple(order_lines),
                "payment": None,
                "total_minor": 0,
                "pickup_store": None,
            }
        )
        needed: dict[str, int] = {}
        for line in order.lines:
            needed[line.sku] = needed.get(line.sku, 0) + line.quantity
        location = self.host.inventory.reserve_at(tx, needed, list(self.host.config.locations))
        if location is None:
            return None
        tx.save(DocKind.ORDER_DOC, number, order.model_dump(mode="json"), now)
        tx.save(DocKind.ORDER_REPLACEMENTS, original.order_no, {"orders": [*made["orders"], number]}, now)
        replacement = OrderRecord(
            order_no=number,
            correlation_id=original.correlation_id,
            lines=[(line.sku, line.quantity) for line in order.lines],
            currency=original.currency,
            location=location,
            reserved=True,
            accepted_at=now,
            replaces=original.order_no,
            erp_reference=reference,
            history=[(now, OrderStatus.RECEIVED.value, "ReplacementRequested")],
        )
        for sku in sorted(needed):
            self.host.inventory.schedule_publication(tx, sku, now, uow)
        replacement = self.host._transition(
            tx, replacement, OrderEvent.STOCK_RESERVED, now, uow
        )
        self.host._transition(tx, replacement, OrderEvent.PAYMENT_NOT_REQUIRED, now, uow)
        return number

    def _lost_parcel_remedy(self, tx: Transaction, record: OrderRecord) -> ApiReply | None:
        """The remedy a lost parcel already has (a replacement, or a refund claim), as the answer to
        a second agent asking for one: a parcel is made good once."""
        body: dict[str, Any] = {"order_id": record.order_no, "status": record.status.value, "duplicate": True}
        if record.replaced_by:
            body["replacement_order"] = record.replaced_by
        else:
            claims = [
                r
                for r in (load_return(tx, no) for no in returns_of_order(tx, record.order_no))
                if r is not None and not r.goods_expected and r.status is not ReturnStatus.REJECTED
            ]
            if not claims:
                return None
            body["return_id"] = claims[0].return_no
        self.host._count("duplicate_remedies")
        return ApiReply(200, body)

    def _refund_lost_parcel(
        self, tx: Transaction, record: OrderRecord, action: AgentAction, now: float, uow: UnitOfWork
    ) -> ApiReply:
        earlier: ApiReply | None = self._lost_parcel_remedy(tx, record)
        if earlier is not None and not self.allow_second_remedy():
            return earlier
        if record.status is not OrderStatus.DELIVERY_FAILED:
            return _refused(
                "action_not_allowed",
                f"order {record.order_no} is {record.status.value}; only a lost parcel is refunded without a return",
            )
        lines = tuple(
            ReturnLine(sku=sku, quantity=quantity, condition="lost") for sku, quantity in record.lines
        )
        reply: ApiReply = self._open_agent_return(tx, record, action, lines, now, uow, goods_expected=False)
        return reply

    def _agent_return(
        self, tx: Transaction, record: OrderRecord, action: AgentAction, now: float, uow: UnitOfWork
    ) -> ApiReply:
        lines = action.lines or tuple(
            ReturnLine(sku=sku, quantity=quantity) for sku, quantity in record.lines
        )
        reply: ApiReply = self._open_agent_return(tx, record, action, lines, now, uow, goods_expected=True)
        return reply

    def _open_agent_return(
        self,
        tx: Transaction,
        record: OrderRecord,
        action: AgentAction,
        lines: tuple[ReturnLine, ...],
        now: float,
        uow: UnitOfWork,
        *,
        goods_expected: bool,
    ) -> ApiReply:
        request = Return(
            return_no=f"AGT{action.case_number}",
            order_no=record.order_no,
            channel="agent",
            lines=lines,
            reason=action.reason,
            exchange=action.exchange,
        )
        opened: ReturnRecord = self.host.returns.open_return(
            tx,
            request,
            self.host.config.locations[0],
            now,
            uow,
            goods_expected=goods_expected,
            case_id=action.case_id,
        )
        return ApiReply(
            202,
            {
                "order_id": record.order_no,
                "return_id": opened.return_no,
                "correlation_id": opened.correlation_id,
                "status": opened.status.value,
            },
        )
