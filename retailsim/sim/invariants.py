"""The harness's named invariants, judged on evidence gathered from every mock's ledger.

This is the god's-eye view only a simulation has: it reads the systems' ledgers directly, never the
core's opinion of them (``core_view_true`` reads the core's views only to compare them with the ledgers).
Rules kept: every invariant of ``CATALOGUE`` is judged in every run (``judge_all``); each reports how many
cases it ``checked``; one with nothing to check reports ``checked: 0`` — "not exercised", never a pass,
and a failure only when the scenario requires it; examples name the
order and what was wrong, so a failure reads as a bug report. The functions are pure over
:class:`Evidence`, so tests can feed them a deliberately broken history.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from retailsim.core.workflows.order_to_cash import RANK, TERMINAL, OrderStatus
from retailsim.reports.record import InvariantResult
from retailsim.sim.accounting import APPLIED, OUTCOMES, Repair, SentEvent
from retailsim.sim.retry_budget import ClaimLedger, FailedSends

MAX_EXAMPLES = 5

NO_PICKUP = frozenset({"absent", "declined"})  # no store holds a live pickup order for it
GAVE_UP = frozenset({"failure", "return_to_sender"})

# What each system must say about an order at quiescence, by the core's final status (adjusted by
# ``expected_final`` for orders collected in a store and for the core's own replacement orders).
EXPECTED_FINAL: dict[str, dict[str, frozenset[str]]] = {
    "delivered": {
        "storefront": frozenset({"delivered"}),
        "service_cloud": frozenset({"delivered"}),
        "erp": frozenset({"completed"}),
        "wms": frozenset({"shipped"}),
        "carrier": frozenset({"delivered"}),
        "payment": frozenset({"captured"}),
        "pos": NO_PICKUP,
    },
    "delivery_failed": {
        "storefront": frozenset({"delivery_failed"}),
        "service_cloud": frozenset({"delivery_failed"}),
        "erp": frozenset({"completed"}),
        "wms": frozenset({"shipped"}),
        "carrier": GAVE_UP,
        "payment": frozenset({"captured"}),
        "pos": NO_PICKUP,
    },
    "replaced": {
        "storefront": frozenset({"replaced"}),
        "service_cloud": frozenset({"replaced"}),
        "erp": frozenset({"completed"}),
        "wms": frozenset({"shipped"}),
        "carrier": GAVE_UP,
        "payment": frozenset({"captured"}),
        "pos": NO_PICKUP,
    },
    "cancelled": {
        "storefront": frozenset({"cancelled"}),
        "service_cloud": frozenset({"cancelled"}),
        "erp": frozenset({"cancelled", "absent"}),
        "wms": frozenset({"cancelled", "absent"}),
        "carrier": frozenset({"absent"}),
        "payment": frozenset({"canceled"}),
        "pos": NO_PICKUP,
    },
    "rejected": {
        "erp": frozenset({"absent"}),
        "wms": frozenset({"absent"}),
        "carrier": frozenset({"absent"}),
        "payment": frozenset({"canceled"}),
        "pos": frozenset({"absent"}),
    },
}
PICKUP_SHOWN = frozenset({"matches", "n/a"})


def expected_final(status: str, at_store: bool, replacement: bool) -> dict[str, frozenset[str]] | None:
    """What every system must say about an order the core left in ``status``.

    Collected in a store: no warehouse order, no parcel, the store's pickup collected. A replacement
    order is the core's own: the storefront never had it and no card pays for it.
    """
    expected = EXPECTED_FINAL.get(status)
    if expected is None:
        return None
    wanted = dict(expected)
    if at_store and status == "delivered":
        wanted.update(wms=frozenset({"absent"}), carrier=frozenset({"absent"}), pos=frozenset({"collected"}))
    if replacement:
        wanted.update(storefront=frozenset({"absent"}), payment=frozenset({"absent"}))
    if "storefront" in wanted:
        wanted.update(storefront_pickup=PICKUP_SHOWN, service_cloud_pickup=PICKUP_SHOWN)
    return wanted


@dataclass
class Evidence:
    """Plain facts gathered at the end of a run (or written by hand in a test)."""

    accepted_orders: list[str] = field(default_factory=list)
    erp_orders_by_reference: dict[str, list[str]] = field(default_factory=dict)
    status_histories: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    committed_units: dict[str, int] = field(default_factory=dict)
    supply_units: dict[str, int] = field(default_factory=dict)
    erp_overcommitments: int = 0
    core_final: dict[str, str] = field(default_factory=dict)
    system_final: dict[str, dict[str, str]] = field(default_factory=dict)
    deliveries: int = 0
    missing_correlation: list[str] = field(default_factory=list)
    ledger_references: list[tuple[str, str]] = field(default_factory=list)
    known_references: set[str] = field(default_factory=set)
    drain_reference_s: float | None = None
    drained_at_s: float | None = None
    max_drain_s: float = 0.0
    dead_letters: list[dict[str, object]] = field(default_factory=list)
    # The retry budget (``core.retry_max_attempts``) and, per outbox message that failed on its own
    # account, its failed sends counted on the wire (sim/retry_budget.py).
    retry_budget: int = 0
    failed_sends: list[FailedSends] = field(default_factory=list)
    claims: ClaimLedger = field(default_factory=ClaimLedger)
    # Returns: approved = the ERP holds a customer return for the return number; refunds from the
    # gateway's ledger (return number from the refund's metadata); captured/refunded per PaymentIntent.
    approved_returns: list[str] = field(default_factory=list)
    refunds_by_return: dict[str, list[int]] = field(default_factory=dict)
    captured_by_intent: dict[str, int] = field(default_factory=dict)
    refunded_by_intent: dict[str, int] = field(default_factory=dict)
    # Stock per (system:location, sku): initial, on_hand, shipped (or sold), restocked; and what the
    # physical receipts say should have been restocked there.
    stock_ledgers: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    restock_expected: dict[tuple[str, str], int] = field(default_factory=dict)
    core_returns: dict[str, str] = field(default_factory=dict)
    return_systems: dict[str, dict[str, str]] = field(default_factory=dict)
    # Exchanges: the ERP's free-of-charge deliveries with reference to each return's customer return.
    exchanges_by_return: dict[str, list[str]] = field(default_factory=dict)
    # The ERP's goods issues from the DC against the warehouse's shipments, per (place, sku).
    issued_vs_shipped: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    # Store pickups and replacement orders: where the core fulfilled each order ("store"), the core's
    # replacement orders (→ the order they replace) and replaced orders (→ replacement); the ERP's
    # free-of-charge deliveries by the order whose sales order they refer to.
    core_fulfilment: dict[str, str] = field(default_factory=dict)
    core_replacements: dict[str, str] = field(default_factory=dict)
    core_replaced_by: dict[str, str] = field(default_factory=dict)
    erp_replacements: dict[str, list[str]] = field(default_factory=dict)
    # Service Cloud cases: {case, closed, order_no, remedy, reference, return_status}.
    cases: list[dict[str, object]] = field(default_factory=list)
    # Every event the webhook sources sent, with each delivery attempt and the core's answer; the
    # reconciliation repairs the harness saw (by source and order) and the core's own count of them.
    # Warehouse adjustments (signed units) against the ERP's goods movements for them, per (place, sku).
    adjusted_vs_moved: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    events: list[SentEvent] = field(default_factory=list)
    repairs: list[Repair] = field(default_factory=list)
    repairs_counted: int = 0
    # Liveness per fault episode (sim/world.py): {kind, target, start_s, end_s, drained_at_s,
    # drain_time_s, outlasted_run}; per merged episode and destination {destination, start_s, end_s,
    # pre_fault_lag_s, lag_at_end_s, at_end, rate_per_s, bound_s, recovered_after_s}; the stall watch (it ran, and what it
    # found: {at_s, no_progress_since_s, stuck: [{destination, backlog, breaker, bucket, ...}]}).
    episode_drains: list[dict[str, Any]] = field(default_factory=list)
    recoveries: list[dict[str, Any]] = field(default_factory=list)
    stall_watched: bool = False
    stall: dict[str, Any] | None = None
    # The core's view against the truth at quiescence: available-to-promise per (sku, location) as the
    # core holds it, and as the systems' stock ledgers say (on hand minus open reservations).
    core_atp: dict[tuple[str, str], int] = field(default_factory=dict)
    true_atp: dict[tuple[str, str], int] = field(default_factory=dict)
    # Each order's final status as the systems' own ledgers tell it (None: they say nothing conclusive).
    ledger_final: dict[str, str] = field(default_factory=dict)
    # Why the run ended without quiescence (the hard stop, or a stall), or None when it reached it.
    not_quiescent: str | None = None
    # ERP migration (empty with one ERP): per order its ERP of record (the core's record) and the states
    # of its sales orders in each ERP; the orders the core holds a sales order number for; per return
    # its order's ERP of record and the ERPs holding its return authorisation or credit memo.
    erp_of_record: dict[str, str] = field(default_factory=dict)
    erp_documents: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    erp_posted: set[str] = field(default_factory=set)
    return_erps: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    # Per ERP (SAP-shaped mocks), the sales order numbers commands named that it never issued.
    unknown_erp_documents: dict[str, list[str]] = field(default_factory=dict)


def _result(name: str, checked: int, problems: list[str]) -> InvariantResult:
    return InvariantResult(name, checked, len(problems), tuple(problems[:MAX_EXAMPLES]))


def no_lost_orders(ev: Evidence) -> InvariantResult:
    problems = [
        f"order {no}: the storefront was told 'accepted' but the ERP has no sales order"
        for no in ev.accepted_orders
        if not ev.erp_orders_by_reference.get(no)
    ]
    return _result("no_lost_orders", len(ev.accepted_orders), problems)


def no_duplicate_erp_orders(ev: Evidence) -> InvariantResult:
    problems = [
        f"order {no}: {len(numbers)} ERP sales orders ({', '.join(numbers)})"
        for no, numbers in sorted(ev.erp_orders_by_reference.items())
        if len(numbers) > 1
    ]
    return _result("no_duplicate_erp_orders", len(ev.erp_orders_by_reference), problems)


def per_order_ordering(ev: Evidence) -> InvariantResult:
    problems, checked = [], 0
    for system in sorted(ev.status_histories):
        for no, history in sorted(ev.status_histories[system].items()):
            checked += 1
            ranks = [RANK[OrderStatus(s)] for s in history]
            for i in range(1, len(ranks)):
                after_final = OrderStatus(history[i - 1]) in TERMINAL and history[i] != history[i - 1]
                if ranks[i] < ranks[i - 1] or after_final:
                    problems.append(f"order {no}: {system} applied '{history[i]}' after '{history[i - 1]}'")
                    break
    return _result("per_order_ordering", checked, problems)


def no_oversell(ev: Evidence) -> InvariantResult:
    problems = [
        f"SKU {sku}: {units} units released for fulfilment, only {ev.supply_units.get(sku, 0)} could be supplied"
        for sku, units in sorted(ev.committed_units.items())
        if units > ev.supply_units.get(sku, 0)
    ]
    if ev.erp_overcommitments:
        problems.append(f"the ERP reserved more than it had on hand {ev.erp_overcommitments} time(s)")
    return _result("no_oversell", len(ev.committed_units), problems)


RETURN_EXPECTED: dict[str, dict[str, frozenset[str]]] = {
    "refunded": {
        "erp_return": frozenset({"present"}),
        "erp_credit_memo": frozenset({"present"}),
        "payment": frozenset({"refunded"}),
        "storefront": frozenset({"refunded"}),
        "pos": frozenset({"refunded", "n/a"}),
        "exchange_order": frozenset({"absent"}),
    },
    "exchanged": {
        "erp_return": frozenset({"present"}),
        "erp_credit_memo": frozenset({"absent"}),
        "payment": frozenset({"absent"}),
        "storefront": frozenset({"exchanged"}),
        "pos": frozenset({"exchanged", "n/a"}),
        "exchange_order": frozenset({"present"}),
    },
    "rejected": {
        "erp_return": frozenset({"absent"}),
        "erp_credit_memo": frozenset({"absent"}),
        "payment": frozenset({"absent"}),
        "storefront": frozenset({"rejected"}),
        "pos": frozenset({"rejected", "n/a"}),
        "exchange_order": frozenset({"absent"}),
    },
}


def _case_problems(ev: Evidence) -> list[str]:
    """Cases closed, and what each case says was done is what the core and the ERP hold."""
    problems = []
    for case in ev.cases:
        name, order_no, remedy = case["case"], str(case["order_no"]), case["remedy"]
        reference = str(case["reference"])
        if not case["closed"]:
            problems.append(f"case {name} (order {order_no}): still open at quiescence")
        if remedy == "reship" and ev.core_replaced_by.get(order_no) != reference:
            problems.append(
                f"case {name}: says reshipped as {reference}, the core has {ev.core_replaced_by.get(order_no)}"
            )
        if remedy in ("refund", "return"):
            status = ev.core_returns.get(reference)
            if status is None:
                problems.append(f"case {name}: says {remedy} {reference}, the core has no such return")
            elif case["return_status"] != status:
                problems.append(
                    f"case {name}: shows return {reference} {case['return_status'] or 'without status'}, "
                    f"the core says {status}"
                )
    for order_no, numbers in sorted(ev.erp_replacements.items()):
        if len(numbers) > 1:
            problems.append(
                f"order {order_no}: {len(numbers)} free replacement deliveries in the ERP ({', '.join(numbers)})"
            )
    for order_no, replacement in sorted(ev.core_replaced_by.items()):
        if not ev.erp_replacements.get(order_no):
            problems.append(
                f"order {order_no}: replaced by {replacement}, the ERP has no replacement delivery"
            )
    return problems


def reconciled_at_quiescence(ev: Evidence) -> InvariantResult:
    problems = [f"the run never reached quiescence: {ev.not_quiescent}"] if ev.not_quiescent else []
    problems += _case_problems(ev)
    for no, status in sorted(ev.core_returns.items()):
        wanted = RETURN_EXPECTED.get(status)
        if wanted is None:
            problems.append(f"return {no}: still '{status}' at quiescence")
            continue
        seen = ev.return_systems.get(no, {})
        for system, allowed in sorted(wanted.items()):
            actual = seen.get(system, "absent")
            if actual not in allowed:
                problems.append(f"return {no}: core says {status}, {system} says {actual}")
    for no, status in sorted(ev.core_final.items()):
        expected = expected_final(status, ev.core_fulfilment.get(no) == "store", no in ev.core_replacements)
        if expected is None:
            problems.append(f"order {no}: still '{status}' at quiescence")
            continue
        seen = ev.system_final.get(no, {})
        for system, allowed in sorted(expected.items()):
            actual = seen.get(system, "n/a" if system.endswith("_pickup") else "absent")
            if actual not in allowed:
                problems.append(f"order {no}: core says {status}, {system} says {actual}")
    checked = len(ev.core_final) + len(ev.core_returns) + len(ev.cases)
    return _result("reconciled_at_quiescence", checked, problems)


def refund_exactly_once(ev: Evidence) -> InvariantResult:
    problems = []
    approved = set(ev.approved_returns)
    for return_no in sorted(approved):
        refunds = ev.refunds_by_return.get(return_no, [])
        exchanges = ev.exchanges_by_return.get(return_no, [])
        if len(refunds) + len(exchanges) != 1:
            problems.append(
                f"return {return_no}: approved, refunded {len(refunds)} time(s) {refunds}"
                + (f" and exchanged {len(exchanges)} time(s) {exchanges}" if exchanges else "")
            )
    for return_no in sorted(set(ev.refunds_by_return) - approved):
        problems.append(f"return {return_no}: refunded without an approved return in the ERP")
    for intent, refunded in sorted(ev.refunded_by_intent.items()):
        captured = ev.captured_by_intent.get(intent, 0)
        if refunded > captured:
            problems.append(f"payment {intent}: refunded {refunded} > captured {captured}")
    return _result("refund_exactly_once", len(approved) + len(ev.refunded_by_intent), problems)


def inventory_conserved(ev: Evidence) -> InvariantResult:
    problems = []
    for (place, sku), row in sorted(ev.stock_ledgers.items()):
        written_off = row.get("written_off", 0)
        adjusted = row.get("adjusted", 0)
        balance = row["on_hand"] + row["shipped"] + written_off - row["restocked"] - adjusted
        if balance != row["initial"]:
            lost = f" + written off {written_off}" if written_off else ""
            counted = f" - adjusted {adjusted}" if adjusted else ""
            problems.append(
                f"{place} SKU {sku}: on hand {row['on_hand']} + shipped {row['shipped']}{lost} - restocked "
                f"{row['restocked']}{counted} = {balance}, started with {row['initial']}"
            )
        expected = ev.restock_expected.get((place, sku))
        if expected is not None and row["restocked"] != expected:
            problems.append(f"{place} SKU {sku}: restocked {row['restocked']}, returned to stock {expected}")
    for (place, sku), (issued, shipped) in sorted(ev.issued_vs_shipped.items()):
        if issued != shipped:
            problems.append(
                f"{place} SKU {sku}: the ERP issued {issued} unit(s), the warehouse shipped {shipped}"
            )
    for (place, sku), (adjusted, moved) in sorted(ev.adjusted_vs_moved.items()):
        if adjusted != moved:
            problems.append(
                f"{place} SKU {sku}: the warehouse adjusted {adjusted:+d} unit(s), the ERP's goods movements "
                f"moved {moved:+d}"
            )
    for key in sorted(set(ev.restock_expected) - set(ev.stock_ledgers)):
        if ev.restock_expected[key]:
            problems.append(
                f"{key[0]} SKU {key[1]}: {ev.restock_expected[key]} unit(s) returned, no stock record"
            )
    # Every stock ledger balanced is a case checked, with or without returns; so is every ERP/WMS pair.
    checked = len(ev.stock_ledgers) + len(ev.issued_vs_shipped)
    return _result("inventory_conserved", checked, problems)


def correlation_complete(ev: Evidence) -> InvariantResult:
    problems = [f"message without its correlation id: {m}" for m in ev.missing_correlation]
    problems += [
        f"{system} record refers to unknown order {ref!r}"
        for system, ref in ev.ledger_references
        if ref not in ev.known_references
    ]
    return _result("correlation_complete", ev.deliveries + len(ev.ledger_references), problems)


def backlog_drained(ev: Evidence) -> InvariantResult:
    """Per fault episode, from its own end; without episodes, from the spike's or the workload's end."""
    if ev.episode_drains:
        problems = []
        for episode in ev.episode_drains:
            name = f"{episode['kind']} on {episode['target']} ({episode['start_s']:.0f}s–{episode['end_s']:.0f}s)"
            drain = episode["drain_time_s"]
            if episode.get("outlasted_run"):
                problems.append(f"{name}: the fault outlasted the run; its drain was never seen")
            elif drain is None:
                problems.append(f"{name}: the backlog never drained after it ended")
            elif drain > ev.max_drain_s:
                problems.append(f"{name}: drained {drain:.0f}s after it ended; allowed {ev.max_drain_s:.0f}s")
        return _result("backlog_drained", len(ev.episode_drains), problems)
    if ev.drain_reference_s is None:
        return _result("backlog_drained", 0, [])
    if ev.drained_at_s is None:
        return _result("backlog_drained", 1, ["the backlog never drained before the run ended"])
    drain = max(0.0, ev.drained_at_s - ev.drain_reference_s)
    problems = []
    if drain > ev.max_drain_s:
        problems.append(f"drained {drain:.0f}s after the pressure ended; allowed {ev.max_drain_s:.0f}s")
    return _result("backlog_drained", 1, problems)


def dlq_accounted(ev: Evidence) -> InvariantResult:
    problems = []
    for entry in ev.dead_letters:
        missing = [k for k in ("reason", "correlation_id") if not entry.get(k)]
        if entry.get("attempts") is None:
            missing.append("attempts")
        if missing:
            problems.append(f"dead letter {entry.get('dlq_id')}: missing {', '.join(missing)}")
        if entry.get("status") not in ("replayed", "dead"):
            problems.append(f"dead letter {entry.get('dlq_id')}: neither replayed nor flagged")
    # A message that keeps failing on its own account belongs in the DLQ once its attempts are spent: sent
    # and failed again beyond the budget, it is a dead letter the DLQ never accounts for.
    dead = {entry.get("seq") for entry in ev.dead_letters}
    for sent in ev.failed_sends:
        if ev.retry_budget and sent.failures > ev.retry_budget:
            where = "dead-lettered only then" if sent.seq in dead else "never dead-lettered"
            problems.append(
                f"message {sent.seq} ({sent.kind} for {sent.aggregate_id} to {sent.destination}): failed "
                f"{sent.failures} times while its system answered others, {where}; the retry budget is "
                f"{ev.retry_budget} attempts"
            )
    # Given up on early: dead-lettered after a retriable failure (a timeout or a 5xx) although claimed fewer
    # times than the budget — the core charges at most one attempt per claim.
    for entry in ev.dead_letters:
        seq = entry.get("seq")
        claims = ev.claims.get(seq) if isinstance(seq, int) else None
        if not ev.retry_budget or claims is None or not claims.replied:
            continue
        retriable = claims.last_status is None or claims.last_status >= 500
        if retriable and claims.claims < ev.retry_budget:
            problems.append(
                f"dead letter {entry.get('dlq_id')} (message {entry.get('seq')}): dead-lettered after "
                f"{claims.claims} claim(s), the last answered {claims.last_status or 'by a timeout'}; the retry "
                f"budget is {ev.retry_budget} attempts"
            )
    return _result("dlq_accounted", len(ev.dead_letters) + len(ev.failed_sends), problems)


def _event_problems(event: SentEvent, repairs: list[Repair]) -> list[str]:
    """One event: each acknowledged reply says what was done, with a reason; the first copy the core
    answered was not refused as a duplicate (unless an earlier attempt reached the core and got no
    answer — it may have committed — or the core's reconciliation repaired what the event is about
    since it was sent, applying it under its id); at most one copy was applied."""
    name = f"{event.source} event {event.event_id} ({event.topic}, {event.reference or 'no reference'})"
    problems = []
    acknowledged = [a for a in event.attempts if a.acknowledged]
    for attempt in acknowledged:
        if attempt.outcome not in OUTCOMES:
            problems.append(
                f"{name}: acknowledged at {attempt.at:.0f}s saying {attempt.outcome or 'nothing'!r}"
            )
        elif not attempt.reasoned:
            problems.append(f"{name}: {attempt.outcome} at {attempt.at:.0f}s without a reason")
    if acknowledged and acknowledged[0].outcome == "duplicate":
        first = acknowledged[0]
        before = event.attempts[: event.attempts.index(first)]
        repaired = any(
            r.source == event.source and r.reference == event.reference and event.sent_at <= r.at <= first.at
            for r in repairs
        )
        if not repaired and not any(a.reached and a.status is None for a in before):
            problems.append(
                f"{name}: its first delivery was refused as a duplicate at {first.at:.0f}s, but no copy of it "
                f"had been applied"
            )
    applied = [a for a in acknowledged if a.outcome in APPLIED]
    if len(applied) > 1:
        times = ", ".join(f"{a.at:.0f}s" for a in applied)
        problems.append(f"{name}: applied {len(applied)} times ({times})")
    return problems


def events_accounted(ev: Evidence) -> InvariantResult:
    """Per source, every event sent was applied once, recognised as a duplicate of an applied one, or
    ignored as stale, with a reason each; a reconciliation repair is explained by an event of that
    source about that order that had not been applied (dropped, abandoned or still on its way)."""
    problems: list[str] = []
    by_reference: dict[tuple[str, str], list[SentEvent]] = {}
    for event in ev.events:
        problems += _event_problems(event, ev.repairs)
        by_reference.setdefault((event.source, event.reference), []).append(event)
    for repair in ev.repairs:
        told = [e for e in by_reference.get((repair.source, repair.reference), []) if e.sent_at <= repair.at]
        if all(e.applied_by(repair.at) for e in told):
            problems.append(
                f"order {repair.reference}: reconciliation repaired it from {repair.source} at {repair.at:.0f}s, "
                f"though no fault kept any of {len(told)} event(s) {repair.source} sent about it from the core"
            )
    if ev.repairs_counted > len(ev.repairs):
        problems.append(
            f"the core counted {ev.repairs_counted} reconciliation repairs, the harness saw {len(ev.repairs)}"
        )
    return _result("events_accounted", len(ev.events) + len(ev.repairs), problems)


def recovered_promptly(ev: Evidence) -> InvariantResult:
    """After each fault episode every destination is back at its pre-fault level (its oldest due message
    waits no longer than before) within a bound derived from the run; and the run never stalled (no progress anywhere while work was due)."""
    problems = []
    for row in ev.recoveries:
        after, bound = row["recovered_after_s"], row["bound_s"]
        if after is not None and after <= bound:
            continue
        took = "never" if after is None else f"only after {after:.0f}s"
        problems.append(
            f"{row['destination']}: backlog {row['at_end']:.0f} when the fault episode "
            f"{row['start_s']:.0f}s–{row['end_s']:.0f}s ended, caught up (its oldest due message waiting no "
            f"longer than before the fault, {row['pre_fault_lag_s']:.0f}s, or a minute) {took}; "
            f"bound {bound:.0f}s (backlog ÷ {row['rate_per_s']}/s × factor + retry cap + breaker open time)"
        )
    if ev.stall is not None:
        for stuck in ev.stall["stuck"]:
            problems.append(
                f"stalled: {stuck['destination']} made no progress from {ev.stall['no_progress_since_s']:.0f}s "
                f"to {ev.stall['at_s']:.0f}s with backlog {stuck['backlog']} due; breaker {stuck['breaker']}, "
                f"bucket {stuck['bucket']}; the run was stopped early"
            )
    checked = len(ev.recoveries) + (1 if ev.stall_watched else 0)
    return _result("recovered_promptly", checked, problems)


def core_view_true(ev: Evidence) -> InvariantResult:
    """At quiescence the core's available-to-promise per SKU and location is the systems' physical stock
    minus open reservations, and its final status per order is what the systems' ledgers hold."""
    problems = []
    for key in sorted(set(ev.core_atp) | set(ev.true_atp)):
        core, truth = ev.core_atp.get(key), ev.true_atp.get(key)
        if core != truth:
            problems.append(
                f"SKU {key[0]} at {key[1]}: the core promises {core if core is not None else 'nothing'}, "
                f"the systems hold {truth if truth is not None else 'no stock record'}"
            )
    for no, held in sorted(ev.ledger_final.items()):
        status = ev.core_final.get(no)
        if status != held:
            problems.append(
                f"order {no}: the core says {status or 'nothing'}, the systems' ledgers say {held}"
            )
    checked = len(set(ev.core_atp) | set(ev.true_atp)) + len(ev.ledger_final)
    return _result("core_view_true", checked, problems)


def one_erp_of_record(ev: Evidence) -> InvariantResult:
    """ERP migration: every order is in exactly one ERP of record at quiescence — a live sales order in
    no other ERP (none in both), at most one live there, and a posted order's ERP of record holds it
    (none in neither); and no ERP was sent a command for a sales order it never held (an order's command
    rendered after its move, aimed at the other ERP's document). Not exercised with one ERP."""
    problems = [
        f"{erp}: a command aimed at sales order {number}, which it never held (another ERP's document?)"
        for erp, numbers in sorted(ev.unknown_erp_documents.items())
        for number in numbers
    ]
    for no, documents in sorted(ev.erp_documents.items()):
        home = ev.erp_of_record.get(no, "erp")
        live = {erp: sum(1 for state in states if state != "cancelled") for erp, states in documents.items()}
        elsewhere = [erp for erp, count in sorted(live.items()) if count and erp != home]
        if elsewhere:
            problems.append(f"order {no}: of record in {home}, a live sales order in {', '.join(elsewhere)} too")
        if live.get(home, 0) > 1:
            problems.append(f"order {no}: {live[home]} live sales orders in {home}, its ERP of record")
        if no in ev.erp_posted and not documents.get(home):
            problems.append(f"order {no}: in neither ERP — of record in {home}, which has no sales order for it")
    return _result("one_erp_of_record", len(ev.erp_documents), problems)


def return_credited_in_erp_of_record(ev: Evidence) -> InvariantResult:
    """ERP migration: a return's authorisation and credit memo are booked in its order's ERP of record
    and nowhere else (the system of record follows the order). Not exercised with one ERP."""
    problems = [
        f"return {no}: its order's ERP of record is {home}, its documents are in {', '.join(holders) or 'no ERP'}"
        for no, (home, holders) in sorted(ev.return_erps.items())
        if holders != [home]
    ]
    return _result("return_credited_in_erp_of_record", len(ev.return_erps), problems)


CATALOGUE: dict[str, Callable[[Evidence], InvariantResult]] = {
    "no_lost_orders": no_lost_orders,
    "no_duplicate_erp_orders": no_duplicate_erp_orders,
    "per_order_ordering": per_order_ordering,
    "no_oversell": no_oversell,
    "reconciled_at_quiescence": reconciled_at_quiescence,
    "correlation_complete": correlation_complete,
    "backlog_drained": backlog_drained,
    "dlq_accounted": dlq_accounted,
    "refund_exactly_once": refund_exactly_once,
    "inventory_conserved": inventory_conserved,
    "events_accounted": events_accounted,
    "recovered_promptly": recovered_promptly,
    "core_view_true": core_view_true,
    "one_erp_of_record": one_erp_of_record,
    "return_credited_in_erp_of_record": return_credited_in_erp_of_record,
}


def judge(evidence: Evidence, names: list[str]) -> list[InvariantResult]:
    return [CATALOGUE[name](evidence) for name in names]


def judge_all(evidence: Evidence, required: list[str]) -> list[InvariantResult]:
    """Every invariant of the catalogue, in catalogue order: ``required`` ones must be exercised
    (checked > 0); any other that had nothing to check is "not exercised" (not a failure); a violation
    of any fails the run (see ``InvariantResult.fails_run``)."""
    wanted = set(required)
    results = []
    for name, invariant in CATALOGUE.items():
        result = invariant(evidence)
        results.append(dataclasses.replace(result, required=name in wanted))
    return results
