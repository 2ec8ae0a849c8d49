"""Customers who open Service Cloud cases, and the service agents who work them from the core's timeline.

The scenario's ``[cases]`` rules decide when a customer contacts the service desk: a parcel still not
delivered ``late_after`` the order ("Delayed parcel"), a carrier telling the customer it gave up on the
parcel ("Carrier exception"), a refund not shown ``refund_after`` the return request ("Refund status"),
the wrong item in the box ("Wrong item"). The customer opens the case by Web-to-Case, through the
Service Cloud mock's API (Case fields as Salesforce has them; the order number in ``Order_Number__c``).

An agent picks the case up, reads the order's timeline — ``IntegrationCore.order_timeline``, the very
function behind ``GET /v1/orders/{id}`` — and acts through the core (``agent_action``, the function
behind ``POST /v1/orders/{id}/actions``): a failed delivery is reshipped (or refunded, when the customer
prefers the money), a wrong item comes back as an exchange; otherwise the agent tells the customer what
the timeline says. Then the agent closes the case with what was done (``Remedy__c``,
``Remedy_Reference__c``).

Each read of a timeline is judged against the ledgers at that moment (the harness's god's-eye view): it
is *complete* when it shows every system's record that the ledgers say exists for the order — the ERP's
sales order, the warehouse order and its shipment, the parcel's tracking code and the carrier's final
scan (delivered, or given up on), the capture, the pickup store, every return (and its refund). That share is a KPI of the agent's experience, not an invariant: records the core has
not heard of yet (a reply still in flight) make a timeline honestly incomplete.

Rules kept: draws come from the run's named streams ("cases", "agents"), and none is drawn unless a rule
is on, so a scenario without cases runs exactly as before; case ids and keys are derived, never random.
The desk knows no world: it reads the mock systems it needs (:class:`DeskSystems`), reaches the core
through a :class:`CoreAccess` and Service Cloud over a :class:`Link` — three narrow protocols.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import simpy

from retailsim.core.adapters.http import OutboundRequest, Reply
from retailsim.core.service import IntegrationCore
from retailsim.scenarios.schema import CasesSpec
from retailsim.sim.links import latency
from retailsim.sim.monitors import Tally, TraceDigest
from retailsim.systems.base import Latency, MockSystem
from retailsim.systems.carrier import Carrier
from retailsim.systems.erp_base import ErpSystem
from retailsim.systems.payment import PaymentGateway
from retailsim.systems.pos import Pos
from retailsim.systems.service_cloud import ServiceCloud
from retailsim.systems.storefront import Storefront
from retailsim.systems.wms import Wms

CASE_API = "/services/data/v59.0/sobjects/Case"
GAVE_UP = ("failure", "return_to_sender")
ATTEMPTS = 6
T = TypeVar("T")


class Ledgers(Protocol):
    """The systems whose ledgers a timeline is judged against (the harness's god's-eye view)."""

    @property
    def erp(self) -> ErpSystem: ...

    @property
    def wms(self) -> Wms: ...

    @property
    def carrier(self) -> Carrier: ...

    @property
    def payment(self) -> PaymentGateway: ...

    @property
    def pos(self) -> Pos: ...


class DeskSystems(Ledgers, Protocol):
    """What the desk reads of the mock systems: those ledgers, the storefront the customers look at,
    and Service Cloud, where their cases live."""

    @property
    def storefront(self) -> Storefront: ...

    @property
    def service_cloud(self) -> ServiceCloud: ...


class CoreAccess(Protocol):
    """How an agent reaches the core: whether it is up, and one call into it (None: no reply)."""

    @property
    def up(self) -> bool: ...

    def ask(self, call: Callable[[IntegrationCore], T]) -> T | None: ...


class Link(Protocol):
    """The network between a user and a system: its latency, and one call over it."""

    @property
    def latency(self) -> Latency: ...

    def call(
        self, system: MockSystem, request: OutboundRequest, timeout_s: float
    ) -> Generator[simpy.Event, Any, Reply]: ...


@dataclass
class DeskCounts:
    opened: int = 0
    closed: int = 0
    not_opened: int = 0  # the customer could not get through (Service Cloud refused every attempt)
    reads: int = 0
    complete_reads: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    remedies: dict[str, int] = field(default_factory=dict)
    gaps: dict[str, int] = field(default_factory=dict)  # system → reads that missed its record


@dataclass(eq=False, kw_only=True)
class ServiceDesk:
    """The customers' side of Service Cloud and its agents, for one world."""

    env: simpy.Environment
    spec: CasesSpec
    systems: DeskSystems
    core: CoreAccess
    link: Link
    rng: random.Random  # the customers' decisions ("cases" stream)
    agent_rng: random.Random  # the agents' ("agents" stream)
    service_cloud_timeout_s: float
    trace: TraceDigest
    agents: simpy.Resource = field(init=False)
    counts: DeskCounts = field(init=False, default_factory=DeskCounts)
    resolution: Tally = field(init=False, default_factory=Tally)  # case opened → closed
    open: int = field(init=False, default=0)  # checks to come and cases not closed: the world waits for 0
    _cases_of: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.agents = simpy.Resource(self.env, capacity=self.spec.agents)
        if self.spec.exception_share > 0:
            self.systems.carrier.notify_recipient = self._carrier_notice

    @property
    def idle(self) -> bool:
        return self.open == 0

    # ---- when customers get in touch --------------------------------------------------------------

    def on_status(self, order_no: str, status: str) -> None:
        """The core's order status changed (the runtime's observer; customers watch their orders)."""
        spec = self.spec
        if status == "posted_to_erp" and spec.late_after and order_no not in self._cases_of:
            record = self.systems.storefront.orders.get(order_no)
            home = record is not None and not record["shipments"][0].get("c_fromStoreId")
            if home:
                self._cases_of[order_no] = 0
                self._start(self._late_check(order_no, spec.late_after))
        elif (
            status == "delivered"
            and spec.wrong_item_share
            and order_no in self.systems.storefront.orders
            and self.rng.random() < spec.wrong_item_share
        ):
            self._start(self._contact(order_no, "Wrong item"))

    def on_return_requested(self, return_no: str, order_no: str) -> None:
        if self.spec.refund_after:
            self._start(self._refund_check(return_no, order_no, self.spec.refund_after))

    def _carrier_notice(self, tracking_code: str, status: str) -> None:
        if status not in GAVE_UP:
            return
        carrier = self.systems.carrier
        tracker = carrier.tracker_by_code(tracking_code) or {}
        shipment = carrier.shipments.get(str(tracker.get("shipment_id")), {})
        order_no = str(shipment.get("reference_id", ""))
        if order_no in self.systems.storefront.orders and self.rng.random() < self.spec.exception_share:
            self._start(self._contact(order_no, "Carrier exception"))

    def _start(self, process: Generator[simpy.Event, Any, None]) -> None:
        self.open += 1
        self.env.process(self._counted(process))

    def _counted(self, process: Generator[simpy.Event, Any, None]) -> Generator[simpy.Event, Any, None]:
        yield from process
        self.open -= 1

    def _late_check(self, order_no: str, after: float) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(after)
        shown = self.systems.storefront.current.get(order_no)
        if shown not in ("delivered", "cancelled", "replaced") and self.rng.random() < self.spec.late_share:
            yield from self._contact(order_no, "Delayed parcel")

    def _refund_check(self, return_no: str, order_no: str, after: float) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(after)
        shown = self.systems.storefront.return_status.get(return_no, [])
        if not shown or shown[-1] not in ("refunded", "rejected", "exchanged"):
            yield from self._contact(order_no, "Refund status", return_no)

    # ---- a case's life ----------------------------------------------------------------------------

    def _contact(
        self, order_no: str, reason: str, return_no: str | None = None
    ) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(latency(self.spec.contact_delay).sample(self.rng))
        order = self.systems.storefront.orders.get(order_no, {})
        body: dict[str, Any] = {
            "Subject": f"{reason}: order {order_no}",
            "Description": f"Customer contact about order {order_no} ({reason.lower()}).",
            "Origin": "Web",
            "Type": "Question" if reason == "Refund status" else "Problem",
            "Reason": reason,
            "Priority": "High" if reason == "Carrier exception" else "Medium",
            "SuppliedEmail": str((order.get("customerInfo") or {}).get("email", "")),
            "Order_Number__c": order_no,
        }
        if return_no is not None:
            body["Return_Number__c"] = return_no
        reply = yield from self._service_cloud(OutboundRequest("POST", f"{CASE_API}/", body))
        if reply is None:
            self.counts.not_opened += 1
            return
        case_id = str(reply["id"])
        self.counts.opened += 1
        self.counts.by_reason[reason] = self.counts.by_reason.get(reason, 0) + 1
        self._cases_of[order_no] = self._cases_of.get(order_no, 0) + 1
        self.trace.record(f"{self.env.now:.6f}", "case", case_id, order_no, reason)
        yield from self._work(case_id, order_no, reason, return_no, opened_at=self.env.now)

    def _work(
        self, case_id: str, order_no: str, reason: str, return_no: str | None, opened_at: float
    ) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(latency(self.spec.agent_response).sample(self.agent_rng))
        with self.agents.request() as slot:
            yield slot
            case = yield from self._service_cloud(OutboundRequest("GET", f"{CASE_API}/{case_id}"))
            case_number = str((case or {}).get("CaseNumber") or case_id)
            yield self.env.timeout(latency(self.spec.handle_time).sample(self.agent_rng))
            timeline = yield from self._timeline(order_no)
            remedy, reference = yield from self._resolve(case_id, case_number, order_no, reason, timeline)
            self.counts.remedies[remedy] = self.counts.remedies.get(remedy, 0) + 1
            closing = {
                "Status": "Closed",
                "Remedy__c": remedy,
                "Remedy_Reference__c": reference,
                "Description": f"{reason}: {remedy} ({reference or timeline.get('status', 'unknown')})",
            }
            closed = yield from self._service_cloud(
                OutboundRequest("PATCH", f"{CASE_API}/{case_id}", closing)
            )
        if closed is not None:
            self.counts.closed += 1
            self.resolution.add(self.env.now - opened_at)
        self.trace.record(f"{self.env.now:.6f}", "case-closed", case_id, remedy, reference)

    def _timeline(self, order_no: str) -> Generator[simpy.Event, Any, dict[str, Any]]:
        """The agent's screen: the core's timeline (waits while the core is down), judged for completeness."""
        read: dict[str, Any] | None = None
        while read is None:  # the core died while it read (a crash point): the agent looks again
            while not self.core.up:
                yield self.env.timeout(60.0)
            read = self.core.ask(
                lambda core: core.order_timeline(order_no) or {"order_id": order_no, "status": "unknown"}
            )
        timeline = read
        gaps = timeline_gaps(self.systems, order_no, timeline)
        self.counts.reads += 1
        if not gaps:
            self.counts.complete_reads += 1
        for system in gaps:
            self.counts.gaps[system] = self.counts.gaps.get(system, 0) + 1
        return timeline

    def _resolve(
        self, case_id: str, case_number: str, order_no: str, reason: str, timeline: dict[str, Any]
    ) -> Generator[simpy.Event, Any, tuple[str, str]]:
        """What the agent does with what the timeline shows: (remedy, reference)."""
        status = str(timeline.get("status"))
        if reason in ("Delayed parcel", "Carrier exception") and status == "delivery_failed":
            wants_money = self.agent_rng.random() < self.spec.refund_instead_share
            first = "refund" if wants_money else "reship"
            reply = yield from self._act(case_id, case_number, order_no, {"action": first})
            if first == "reship" and reply is not None and reply.get("error") == "no_stock":
                reply = yield from self._act(case_id, case_number, order_no, {"action": "refund"})
                first = "refund"
            if reply is not None and "error" not in reply:
                reference = str(reply.get("replacement_order") or reply.get("return_id") or "")
                if reply.get("duplicate"):
                    # Another case made the parcel good first: the agent tells the customer about it.
                    return "informed", reference
                return ("reship" if reply.get("replacement_order") else "refund"), reference
            return "escalated", str((reply or {}).get("error", "no answer"))
        if reason == "Wrong item" and status == "delivered":
            reply = yield from self._act(
                case_id, case_number, order_no, {"action": "return", "exchange": True}
            )
            if reply is not None and reply.get("status") not in (None, "rejected") and "error" not in reply:
                return_id = str(reply["return_id"])
                units = sum(int(line["quantity"]) for line in timeline.get("lines", []))
                self.systems.wms.expect_return_conditions(return_id, ["resellable"] * max(units, 1))
                return "return", return_id
            return "informed", str((reply or {}).get("status") or (reply or {}).get("error", ""))
        return "informed", ""

    def _act(
        self, case_id: str, case_number: str, order_no: str, action: dict[str, Any]
    ) -> Generator[simpy.Event, Any, dict[str, Any] | None]:
        """One action through the core's action API; the console re-sends timeouts with the same key."""
        body = {**action, "case_number": case_number, "case_id": case_id}
        key = f"{case_id}:{action['action']}"
        sends = 2 if self.agent_rng.random() < self.spec.console_retry_share else 1
        answer: dict[str, Any] | None = None
        for _ in range(sends):
            for attempt in range(ATTEMPTS):
                yield self.env.timeout(self.link.latency.sample(self.agent_rng))
                reply = self.core.ask(lambda core: core.agent_action(order_no, body, key, self.env.now))
                if reply is not None:  # None: the core is down, or died before it answered
                    in_flight = reply.status == 409 and reply.body.get("error") == "request_in_flight"
                    if reply.status < 500 and not in_flight:
                        answer = dict(reply.body)
                        break
                yield self.env.timeout(30.0 * (attempt + 1))
        self.trace.record(f"{self.env.now:.6f}", "agent-action", case_id, action["action"], str(answer))
        return answer

    def _service_cloud(self, request: OutboundRequest) -> Generator[simpy.Event, Any, Any]:
        """A user's call into Service Cloud, retried while the org refuses it; None if it never lands."""
        for attempt in range(ATTEMPTS):
            reply = yield from self.link.call(self.systems.service_cloud, request, self.service_cloud_timeout_s)
            if reply.ok:
                return reply.body if reply.body is not None else {}
            yield self.env.timeout(60.0 * (attempt + 1))
        return None


def timeline_gaps(systems: Ledgers, order_no: str, timeline: dict[str, Any]) -> list[str]:
    """Systems whose record of the order exists in their ledger but is missing from ``timeline``."""
    gaps: list[str] = []
    erp_orders = systems.erp.orders_by_reference.get(order_no, [])
    if erp_orders and not (timeline.get("erp") or {}).get("sales_order"):
        gaps.append("erp")
    wms_orders = [systems.wms.orders[i] for i in systems.wms.by_reference.get(order_no, [])]
    wms = timeline.get("wms") or {}
    shipped = any(o.get("status") == "Completed" for o in wms_orders)
    if (wms_orders and not wms.get("order_id")) or (shipped and wms.get("shipped_at") is None):
        gaps.append("wms")
    codes = [str(o["tracking"]["tracking_id"]) for o in wms_orders if o.get("tracking")]
    trackers = [systems.carrier.tracker_by_code(code) or {} for code in codes]
    # The carrier's last word on the parcel (delivered, or given up on) is part of its record.
    final = {str(t.get("status")) for t in trackers} & {"delivered", *GAVE_UP}
    settled = timeline.get("status") in ("delivered", "delivery_failed", "replaced")
    if (codes and not (timeline.get("carrier") or {}).get("tracking_code")) or (final and not settled):
        gaps.append("carrier")
    payment = timeline.get("payment") or {}
    intent = payment.get("payment_intent")
    if intent and systems.payment.captured_amount(str(intent)) and not payment.get("capture_requested"):
        gaps.append("payment")
    pickups = [systems.pos.pickups[p] for p in systems.pos.pickups_by_order.get(order_no, [])]
    located = str((timeline.get("fulfilment") or {}).get("location") or timeline.get("location") or "")
    if any(p["status"] in ("ready", "collected") and p["store_id"] != located for p in pickups):
        gaps.append("pos")
    shown = {str(r.get("return_id")): r for r in timeline.get("returns") or []}
    known: list[str] = [
        no for no, r in sorted(systems.pos.returns.items()) if r.get("order_reference") == order_no
    ]
    for number in erp_orders:
        known += systems.erp.returns_of_order(number)
    refunded = {str((r.get("metadata") or {}).get("return_no", "")) for r in systems.payment.refunds}
    for return_no in sorted(set(known)):
        if return_no not in shown:
            gaps.append("returns")
            break
        if return_no in refunded and not shown[return_no].get("refund_id"):
            gaps.append("payment")
            break
    return gaps
