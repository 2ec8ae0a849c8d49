"""The storefront's checkout: shoppers arrive, pay, place orders, and the storefront exports them.

Shoppers arrive as the workload's arrival shape says (steady, ramp, flash sale, diurnal). Each fills a
cart with what the storefront (or, for a marketplace sale, the core's available-to-promise) shows in
stock, has the payment gateway authorise it over a link, and the storefront exports the order to the
core's order API — retried with the same key, as storefronts do, and sent again at least once when a
``duplicate_delivery`` fault covers the storefront. The checkout then follows each order's status until
it settles: those still open keep the world from being quiet, and the wait for the ERP is measured.

Rules kept: every draw comes from a named stream of the run's seed ("arrivals", "shoppers", "carts",
and "bopis" for a store pickup, so that a pickup share shifts no other draw); order numbers are derived
from the arrival index; each checkout and status goes into the trace.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import simpy

from retailsim.core.adapters.http import OutboundRequest
from retailsim.core.service import ApiReply, IntegrationCore
from retailsim.scenarios.schema import Scenario
from retailsim.sim.core_process import CoreProcess
from retailsim.sim.faults import FaultSchedule
from retailsim.sim.links import Links
from retailsim.sim.monitors import BucketCounter, Counts, Tally, TraceDigest
from retailsim.sim.seeds import Streams
from retailsim.sim.workload import CartPicker, Shopper, arrival_times
from retailsim.systems.base import Latency
from retailsim.systems.payment import PaymentGateway
from retailsim.systems.pos import Pos
from retailsim.systems.storefront import Storefront

SETTLED = frozenset({"delivered", "cancelled", "delivery_failed"})  # nothing more comes unless an agent acts
EXPORT_ATTEMPTS = 5  # a storefront's retries of a failed export (an unanswered one: until it is answered)


def export_to_core(
    env: simpy.Environment,
    process: CoreProcess,
    link: Latency,
    rng: random.Random,
    request: Callable[[IntegrationCore], ApiReply],
) -> Generator[simpy.Event, Any, ApiReply | None]:
    """Send one request to the core's API as a storefront exports an order: over the link, retried with
    the same key while the core refuses it for now (5xx, 409 in flight, down) — five times, and one the
    core may have committed before it died (sent, never answered) until it is answered. The last answer
    (None: there was none)."""
    answer = None
    attempt, unanswered = 0, False
    while attempt < EXPORT_ATTEMPTS or unanswered:
        yield env.timeout(link.sample(rng))
        if process.up:
            answer = process.ask(request)
            unanswered = answer is None
            if answer is not None and answer.status < 500 and answer.status != 409:
                break
        attempt += 1
        yield env.timeout(5.0 * min(attempt, 12))
    return answer


@dataclass(eq=False, kw_only=True)
class Checkout:
    """The workload's shoppers at the storefront's checkout, and the orders they placed until settled."""

    env: simpy.Environment
    scenario: Scenario
    streams: Streams
    shoppers: Sequence[Shopper]
    carts: CartPicker
    storefront: Storefront
    payment: PaymentGateway
    pos: Pos
    links: Links
    process: CoreProcess
    faults: FaultSchedule
    payment_timeout_s: float
    trace: TraceDigest
    counts: Counts
    stages: BucketCounter
    acceptance: Tally = field(init=False, default_factory=Tally)  # export sent → answered
    erp_post: Tally = field(init=False, default_factory=Tally)  # stock reserved → posted to the ERP
    open_orders: int = field(init=False, default=0)
    workload_done: bool = field(init=False, default=False)
    workload_end: float = field(init=False, default=0.0)
    _accepted_at: dict[str, float] = field(init=False, default_factory=dict)

    def erp_backlog(self) -> int:
        """Accepted orders not yet posted to the ERP."""
        return len(self._accepted_at)

    # ---- the shoppers -----------------------------------------------------------------------------

    def workload(self) -> Generator[simpy.Event, Any, None]:
        """Shoppers arrive at the workload's times, each to a checkout of its own."""
        spec = self.scenario.workload
        rng = self.streams("arrivals")
        for index, at in enumerate(arrival_times(spec, rng)):
            if at > self.env.now:
                yield self.env.timeout(at - self.env.now)
            self.env.process(self._checkout(index + 1))
        self.workload_done = True
        self.workload_end = self.env.now

    def _checkout(self, number: int) -> Generator[simpy.Event, Any, None]:
        spec = self.scenario.workload
        rng = self.streams("shoppers")
        order_no = f"{number:08d}"
        shopper = self.shoppers[rng.randrange(len(self.shoppers))]
        lines: dict[str, tuple[str, int, float]] = {}
        # A marketplace sells the same stock from its own listing: the storefront never sees those sales
        # except through the core's inventory publications.
        marketplace = rng.random() < spec.marketplace_share
        for _ in range(rng.randint(1, spec.max_lines)):
            item = self.carts.pick(self.env.now)
            quantity = rng.randint(1, spec.max_quantity)
            shown = (
                self.marketplace_listing(item.sku)
                if marketplace
                else self.storefront.availability.get(item.sku, 0)
            )
            if item.sku not in lines and shown >= quantity:
                lines[item.sku] = (item.name, quantity, item.price)
        if not lines:
            self.counts.not_offered += 1  # the shopper saw only sold-out products
            return
        total_minor = sum(round(price * 100) * quantity for _, quantity, price in lines.values())
        confirmed = not marketplace and self.scenario.systems.storefront.inventory_sync == "batch"
        pickup_store = self._pickup_store() if spec.bopis_share > 0 and not marketplace else None
        authorisation = OutboundRequest(
            "POST",
            "/v1/payment_intents",
            {
                "amount": total_minor,
                "currency": "usd",
                "capture_method": "manual",
                "metadata": {"order_no": order_no},
            },
            {"Idempotency-Key": f"{order_no}:authorize"},
        )
        reply = yield from self.links.call(self.payment, authorisation, self.payment_timeout_s)
        if not reply.ok:
            if reply.status == 402:
                self.counts.payment_declined += 1
            else:
                self.counts.checkout_failed += 1
                # The gateway may have authorised before its reply was lost: the checkout knows the number.
                self.storefront.failed_orders.append(order_no)
            return
        order = self.storefront.build_order(
            order_no,
            {"customerId": shopper.customer_id, "customerNo": shopper.customer_no, "email": shopper.email},
            [(sku, name, quantity, price) for sku, (name, quantity, price) in lines.items()],
            {
                "firstName": shopper.first_name,
                "lastName": shopper.last_name,
                "address1": shopper.address1,
                "city": shopper.city,
                "stateCode": shopper.state_code,
                "postalCode": shopper.postal_code,
                "countryCode": "US",
            },
            str(reply.body["id"]),
            "confirmed" if confirmed else "not_confirmed",
            channel_type="marketplace" if marketplace else "storefront",
            pickup_store=pickup_store,
        )
        self.counts.submitted += 1
        self.stages.add("checkout", self.env.now)
        started = self.env.now
        outcome = yield from export_to_core(
            self.env,
            self.process,
            self.links.latency,
            rng,
            lambda core: core.submit_order(order, order_no, self.env.now),
        )
        self.acceptance.add(self.env.now - started)
        self.trace.record(f"{self.env.now:.6f}", "checkout", order_no, outcome.status if outcome else None)
        if outcome is not None and outcome.status in (200, 202) and outcome.body.get("status") != "rejected":
            self.counts.accepted += 1
            self.storefront.record_placed(order)
            # At-least-once export: the same order may be sent again (exporters mint a new request key).
            for copy, delay in enumerate(self.faults.webhook_deliveries("storefront")[1:], start=1):
                self.env.process(self._export_again(order, f"{order_no}:export-{copy}", delay))
            if not marketplace:
                for sku, (_, quantity, _) in lines.items():
                    self.storefront.decrement_availability(sku, quantity)
        elif outcome is not None and outcome.body.get("status") == "rejected":
            self.counts.rejected += 1
            self.storefront.failed_orders.append(order_no)
        else:
            self.counts.checkout_failed += 1
            self.storefront.failed_orders.append(order_no)

    def _pickup_store(self) -> str | None:
        """A shopper who collects in store picks one (its own stream: other draws do not shift)."""
        rng = self.streams("bopis")
        if rng.random() >= self.scenario.workload.bopis_share:
            return None
        self.counts.bopis_orders += 1
        stores = self.pos.store_ids
        return stores[rng.randrange(len(stores))]

    def marketplace_listing(self, sku: str) -> int:
        """What the marketplace shows: the core's available-to-promise (its connector asks in real time)."""
        if not self.process.up:
            return 0
        return sum((self.process.ask(lambda core: core.available_to_promise(sku)) or {}).values())

    def _export_again(
        self, order: dict[str, Any], key: str, delay: float
    ) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(delay)
        if self.process.up:
            reply = self.process.ask(lambda core: core.submit_order(order, key, self.env.now))
            status = reply.status if reply is not None else None
            self.trace.record(f"{self.env.now:.6f}", "export-again", order["orderNo"], status)

    # ---- the orders, followed until they settle ---------------------------------------------------

    def on_status(self, order_no: str, status: str, now: float) -> None:
        """The core changed an order's status (its observer): count what is open, time the ERP post."""
        self.trace.record(f"{now:.6f}", "status", order_no, status)
        self.stages.add(status, now)
        if status == "stock_reserved":
            self.open_orders += 1
            self._accepted_at[order_no] = now
        elif status in ("posted_to_erp", "backordered"):
            accepted = self._accepted_at.pop(order_no, None)
            if accepted is not None:
                self.erp_post.add(now - accepted)
                self.stages.add("erp_posted", now)
        if status in SETTLED:
            self.open_orders -= 1
            self._accepted_at.pop(order_no, None)
