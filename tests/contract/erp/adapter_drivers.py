"""The ERP contract suite's traffic rendered by the core's adapters (core/adapters/<product>.py).

Each operation builds the canonical objects the dispatcher would hold (an order record and document, a
return record), renders the dialect's :class:`CommandSpec` for the command kind, sends it, and reads the
reply with the spec's ``means`` — so the suite checks the adapter and its mock together, with the same
expectations as the hand-written drivers. Only dialects with an adapter in
``retailsim.core.adapters.registry.ERP_DIALECTS`` appear in ``DRIVERS``; the suite generates no adapter case for the rest.

Two operations have no command of their own and use the adapter's request builders directly: the
product's *plain* create (``submit_order``: for NetSuite a POST with the external id instead of the
adapter's upsert) and the look-up by the storefront order number (``find_orders``).

A document that takes several requests (D365: a header, then its lines) is completed as the core completes
it: an accepted reply's ``follow_ups`` are rendered through their own specs and sent in order (each
step's reply may leave the next), a benign refusal ("already exists") counting as done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from retailsim.core.adapters import dynamics, netsuite, oracle_fusion, sap, sap_ecc
from retailsim.core.adapters.deferred import AckOutcome, AwaitsAck
from retailsim.core.adapters.http import OutboundRequest
from retailsim.core.adapters.http import Reply as CoreReply
from retailsim.core.adapters.registry import ERP_DIALECTS
from retailsim.core.adapters.spec import Answer, CommandInput, CommandSpec, OrderMeant, ReturnMeant
from retailsim.core.config import CoreConfig
from retailsim.core.models import Address, Customer, OrderLine
from retailsim.core.models import Order as CanonicalOrder
from retailsim.core.stores.base import OutboxMessage
from retailsim.core.workflows import order_to_cash as o2c
from retailsim.core.workflows.order_to_cash import OrderRecord
from retailsim.core.workflows.return_to_refund import ReturnLineState, ReturnRecord
from retailsim.systems.base import Request, Response
from tests.contract.erp.drivers import Exchange, Order, Reply, Return, ecc_refusal

ADDRESS = Address(name="Ada", line1="1 Way", city="London", region="LN", postal_code="N1", country="GB")


class Context:
    """The core as a render sees it: default settings, no idempotency keys, the order's own plant."""

    config = CoreConfig()
    policy = o2c.Policy()

    def payment_idempotency_key(self, record: OrderRecord, command: str) -> str | None:
        return None

    def refund_idempotency_key(self, record: ReturnRecord) -> str | None:
        return None

    def restock_idempotency_key(self, record: ReturnRecord) -> str | None:
        return None

    def sales_order_plant(self, record: OrderRecord) -> str:
        return record.location


def canonical(order: Order, customer: str | None) -> tuple[OrderRecord, CanonicalOrder]:
    lines = tuple(
        OrderLine(line_no=n + 1, sku=line.sku, name=line.sku, quantity=line.quantity,
                  unit_price_minor=round(line.price * 100))
        for n, line in enumerate(order.lines)
    )  # fmt: skip
    document = CanonicalOrder(
        order_no=order.number, channel="web", site_id="site", currency=order.currency,
        customer=Customer(customer_id=customer or "", email="ada@example.com", name="Ada"), ship_to=ADDRESS,
        lines=lines, payment=None, total_minor=sum(line.amount_minor for line in lines), placed_at="2026-11-27",
    )  # fmt: skip
    record = OrderRecord(
        order_no=order.number, correlation_id=order.number, location=order.location,
        lines=[(line.sku, line.quantity) for line in lines],
    )  # fmt: skip
    return record, document


def to_request(outbound: OutboundRequest) -> Request:
    return Request(
        outbound.method, outbound.path, outbound.body, dict(outbound.headers), dict(outbound.query)
    )


def to_core(reply: Reply) -> CoreReply:
    if isinstance(reply, Response):
        return CoreReply(reply.status, reply.body, dict(reply.headers))
    return CoreReply(None)


@dataclass(frozen=True)
class AdapterDriver:
    """A contract-suite driver over one dialect's adapter (see the module docstring)."""

    dialect: str
    plain_create: Callable[[OutboundRequest], OutboundRequest]
    find: Callable[[str], OutboundRequest]
    found: Callable[[CoreReply], list[str]]

    def spec(self, kind: str) -> CommandSpec:
        return next(spec for spec in ERP_DIALECTS[self.dialect].commands if spec.kind == kind)

    def _input(self, kind: str, payload: dict[str, Any] | None = None, **loaded: Any) -> CommandInput:
        message = OutboxMessage(1, "erp", kind, "agg", "corr", payload or {}, 0.0)
        return CommandInput(message=message, now=0.0, context=Context(), **loaded)

    def _settle(self, kind: str, reply: CoreReply, step: str, rendering: dict[str, Any],
                **loaded: Any) -> Exchange[dict[str, Any] | None]:  # fmt: skip
        """Apply an accepted reply as the core does: what it means, then the steps it leaves (each step's
        own reply may leave more; sent in the order the core's lane would). The facts of the last meaning,
        or None when a step failed."""
        facts: dict[str, Any] | None = None
        pending: list[tuple[str, CoreReply, str, dict[str, Any]]] = [(kind, reply, step, {})]
        while pending:
            kind, reply, step, payload = pending.pop(0)
            spec = self.spec(kind)
            message = OutboxMessage(1, "erp", kind, "agg", "corr", payload, 0.0)
            answer = Answer(message, reply, step, 0.0, **loaded)
            meant = spec.means(answer) if spec.means is not None else None
            if isinstance(meant, OrderMeant | ReturnMeant) and meant.facts is not None:
                facts = meant.facts
            for follow_up in spec.follow_ups(answer) if spec.follow_ups is not None else ():
                step_spec = self.spec(follow_up.kind)
                request = step_spec.render(self._input(follow_up.kind, follow_up.payload, **rendering))
                assert request is not None
                answered = to_core((yield to_request(request)))
                if not (answered.ok or step_spec.benign(answered)):
                    return None
                pending.append((follow_up.kind, answered, "send", follow_up.payload))
        return facts

    def _order_request(self, order: Order, customer: str | None) -> OutboundRequest:
        record, document = canonical(order, customer)
        rendered = self.spec("PostSalesOrder").render(
            self._input("PostSalesOrder", order=record, order_doc=document)
        )
        assert rendered is not None
        return rendered

    def submit_order(self, order: Order) -> Exchange[Reply]:
        reply = yield to_request(self.plain_create(self._order_request(order, order.customer)))
        if isinstance(reply, Response) and reply.ok:
            record, document = canonical(order, order.customer)
            rendering = {"order": record, "order_doc": document}
            yield from self._settle("PostSalesOrder", to_core(reply), "send", rendering, order=record)
        return reply

    def submit_malformed_order(self, order: Order) -> Exchange[Reply]:
        return (yield to_request(self.plain_create(self._order_request(order, None))))

    def find_orders(self, order_no: str) -> Exchange[list[str]]:
        reply = yield to_request(self.find(order_no))
        return self.found(to_core(reply))

    def place_order(self, order: Order) -> Exchange[str | None]:
        """As the dispatcher does on a retry: the spec's look-up first (if it has one), else its render."""
        record, document = canonical(order, order.customer)
        spec, loaded = self.spec("PostSalesOrder"), {"order": record}
        rendering = {"order": record, "order_doc": document}
        step, reply = "send", None
        if spec.lookup is not None:
            looked = to_core((yield to_request(spec.lookup.render(self._input(spec.kind, **loaded)))))
            if looked.ok and spec.lookup.found(looked):
                step, reply = "lookup", looked
        if reply is None:
            reply = to_core((yield to_request(self._order_request(order, order.customer))))
            if not (reply.ok or spec.benign(reply)):  # benign: already there (Oracle Fusion)
                return None
        facts = yield from self._settle(spec.kind, reply, step, rendering, **loaded)
        return str(facts["erp_sales_order"]) if facts is not None else None

    def _return_document(
        self, kind: str, fact: str, record: ReturnRecord, order: Order
    ) -> Exchange[str | None]:
        spec = self.spec(kind)
        sale = {"customer": {"customer_id": order.customer}, "currency": order.currency}
        rendered = spec.render(self._input(kind, returned=record, sale=sale))
        assert rendered is not None
        reply = to_core((yield to_request(rendered)))
        if not (reply.ok or spec.benign(reply)):  # benign: already there (Oracle Fusion)
            return None
        rendering = {"returned": record, "sale": sale}
        facts = yield from self._settle(kind, reply, "send", rendering, returned=record)
        return str(facts[fact]) if facts is not None else None

    def _return_record(self, ret: Return, **documents: str) -> ReturnRecord:
        lines = [
            ReturnLineState(sku=line.sku, quantity=line.quantity, unit_price_minor=round(line.price * 100))
            for line in ret.lines
        ]
        return ReturnRecord(return_no=ret.number, order_no=ret.order.number, correlation_id=ret.number,
                            channel="storefront", location=ret.order.location, lines=lines, **documents)  # fmt: skip

    def authorise_return(self, ret: Return, order_id: str) -> Exchange[str | None]:
        record = self._return_record(ret, erp_sales_order=order_id)
        return (
            yield from self._return_document("CreateCustomerReturn", "erp_return_order", record, ret.order)
        )

    def credit_return(self, ret: Return, return_id: str) -> Exchange[str | None]:
        record = self._return_record(ret, erp_return_order=return_id)
        return (
            yield from self._return_document("CreateCreditMemoRequest", "erp_credit_memo", record, ret.order)
        )

    def stock_on_hand(self, sku: str) -> Exchange[int]:
        dialect = ERP_DIALECTS[self.dialect]
        reply = to_core((yield to_request(dialect.stock_snapshot())))
        return sum(quantity for item, _, quantity in dialect.parse_stock(reply) if item == sku)


@dataclass(frozen=True)
class DeferredAdapterDriver(AdapterDriver):
    """A dialect whose create is answered "received" (``AwaitsAck``): the operation collects the
    acknowledgements as the core does, with the spec's collector, and reads the one for its receipt."""

    def _collected(self, receipt: str) -> Exchange[Any]:
        deferred = self.spec("PostSalesOrder").deferred
        assert isinstance(deferred, AwaitsAck)
        collect = next(spec for spec in ERP_DIALECTS[self.dialect].extra_commands)
        message = OutboxMessage(2, "erp", collect.kind, collect.kind, "corr", {"after": "0"}, 0.0)
        rendered = collect.render(CommandInput(message=message, now=0.0, context=Context()))
        assert rendered is not None
        reply = to_core((yield to_request(rendered)))
        return next((ack for ack in deferred.collector.acks(reply) if ack.receipt == receipt), None)

    def submit_malformed_order(self, order: Order) -> Exchange[Reply]:
        received = yield to_request(self._order_request(order, None))
        if not (isinstance(received, Response) and received.ok):
            return received
        return ecc_refusal(order.number, (yield to_request(sap_ecc.status_files("0"))))

    def submit_order(self, order: Order) -> Exchange[Reply]:
        """The IDoc as the port takes it: "received" is nothing the core applies (the message waits)."""
        return (yield to_request(self.plain_create(self._order_request(order, order.customer))))

    def place_order(self, order: Order) -> Exchange[str | None]:
        """The look-up first; else submit, collect the acknowledgement and apply it (step "ack")."""
        record, document = canonical(order, order.customer)
        spec = self.spec("PostSalesOrder")
        assert spec.lookup is not None and isinstance(spec.deferred, AwaitsAck)
        looked = to_core((yield to_request(spec.lookup.render(self._input(spec.kind, order=record)))))
        if looked.ok and spec.lookup.found(looked):
            step, reply = "lookup", looked
        else:
            received = to_core((yield to_request(self._order_request(order, order.customer))))
            receipt = spec.deferred.receipt(received) if received.ok else None
            ack = (yield from self._collected(receipt)) if receipt else None
            if ack is None or ack.outcome is not AckOutcome.DONE:
                return None
            step, reply = "ack", CoreReply(200, ack.body)
        rendering = {"order": record, "order_doc": document}
        facts = yield from self._settle(spec.kind, reply, step, rendering, order=record)
        return str(facts["erp_sales_order"]) if facts is not None else None


def _netsuite_post(upsert: OutboundRequest) -> OutboundRequest:
    """NetSuite's plain create: the upsert's body POSTed with the external id the path carried."""
    external_id = upsert.path.rsplit("eid:", 1)[-1]
    return OutboundRequest(
        "POST", f"{netsuite.RECORD}/salesOrder", {**upsert.body, "externalId": external_id}
    )


DRIVERS: dict[str, AdapterDriver] = {
    "sap": AdapterDriver("sap", lambda create: create, sap.find_by_purchase_order, sap.found_sales_orders),
    "netsuite": AdapterDriver(
        "netsuite",
        _netsuite_post,
        lambda order_no: netsuite.find_by_external_id("salesOrder", order_no),
        netsuite.found_ids,
    ),
    # Fusion's plain create is the adapter's own import: its idempotency is the source-order key itself.
    "oracle_fusion": AdapterDriver(
        "oracle_fusion", lambda create: create, oracle_fusion.find_orders, oracle_fusion.found_order_keys
    ),
    "d365": AdapterDriver(
        "d365",
        lambda create: create,
        lambda order_no: dynamics.find_by_reference(dynamics.SALES_ORDER, order_no),
        dynamics.found_numbers(dynamics.SALES_ORDER.number),
    ),
    "sap_ecc": DeferredAdapterDriver(
        "sap_ecc", lambda create: create, sap_ecc.idocs_of, sap_ecc.posted_sales_orders
    ),
}
