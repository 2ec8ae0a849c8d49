"""Gather the invariants' evidence from a finished world: every mock's ledger, read directly.

Each system's record of an order is normalised to a small vocabulary (``delivered``, ``cancelled``,
``captured``, ``absent``…) so that ``reconciled_at_quiescence`` compares like with like. The core's own
state is read only for the question "what does the core believe", never to judge a system.
"""

from __future__ import annotations

from typing import Any

from retailsim.sim.erp_books import ErpBooks
from retailsim.sim.invariants import Evidence
from retailsim.sim.world import World
from retailsim.systems.erp import Erp


def erp_books(world: World) -> ErpBooks:
    """The ERP ledgers the evidence reads: the one ERP's, or both of a migration (sim/erp_books.py)."""
    if world.erp_cloud is None:
        return ErpBooks(world.erp, world.erp_initial)
    of_record = {no: str(record.get("erp") or "erp") for no, record in world.store.aggregates("order")}
    return ErpBooks(world.erp, world.erp_initial, world.erp_cloud, world.erp_cloud_initial, of_record)


def _erp_state(erp: ErpBooks, order_no: str) -> str:
    numbers = erp.orders_by_reference.get(order_no, [])
    return erp.order_state(numbers[0]) if numbers else "absent"


def _wms_state(world: World, order_no: str) -> str:
    ids = world.wms.by_reference.get(order_no, [])
    if not ids:
        return "absent"
    status = str(world.wms.orders[ids[0]].get("status", ""))
    return {"Completed": "shipped", "Cancelled": "cancelled", "OnHold": "on_hold"}.get(status, status.lower())


def _payment_state(world: World, intent_id: str | None) -> str:
    intent = world.payment.intents.get(intent_id or "")
    if intent is None:
        return "absent"
    status = intent.get("status")
    if status == "succeeded":
        return "captured"
    return str(status)


def _carrier_state(world: World, tracking_code: str | None) -> str:
    if not tracking_code:
        return "absent"
    tracker = world.carrier.tracker_by_code(tracking_code)
    return "absent" if tracker is None else str(tracker.get("status"))


def _parcels_state(world: World, parcels: dict[str, Any]) -> str:
    """An order shipped in several parcels, as the carrier's trackers tell it: delivered when every parcel
    is, given up when one is, else the first parcel still on its way."""
    states = [_carrier_state(world, str(p.get("tracking"))) for _, p in sorted(parcels.items())]
    gave_up = [state for state in states if state in ("failure", "return_to_sender")]
    if gave_up:
        return gave_up[0]
    waiting = [state for state in states if state != "delivered"]
    return waiting[0] if waiting else "delivered"


def _pos_state(world: World, order_no: str, location: str) -> str:
    """The stores' view of an order's pickups: the one at the order's location, unless another is live."""
    pickups = [world.pos.pickups[p] for p in world.pos.pickups_by_order.get(order_no, [])]
    if not pickups:
        return "absent"
    if any(p["store_id"] != location and p["status"] != "declined" for p in pickups):
        return "live_elsewhere"
    here = [p for p in pickups if p["store_id"] == location]
    return str(here[-1]["status"]) if here else "declined"


def _pickup_shown(history: list[str | None] | None, bopis: bool, store: str | None) -> str:
    """Whether the store a customer is told to go to (None: shipped home) is where the order is."""
    if not bopis:
        return "n/a"
    shown = history[-1] if history else None
    return "matches" if shown == store else f"shows {shown or 'shipped home'}"


def _payment_intent_of(order: dict[str, Any]) -> str | None:
    instruments = order.get("paymentInstruments") or []
    return instruments[0].get("c_paymentIntentId") if instruments else None


def gather(world: World) -> Evidence:
    storefront, erp, wms = world.storefront, erp_books(world), world.wms
    evidence = Evidence()
    evidence.accepted_orders = sorted(storefront.orders)
    evidence.erp_orders_by_reference = {
        po: list(numbers) for po, numbers in sorted(erp.orders_by_reference.items())
    }
    evidence.status_histories = {
        "storefront": {no: list(h) for no, h in storefront.status_history.items()},
        "service_cloud": {no: list(h) for no, h in world.service_cloud.status_history.items()},
    }
    committed: dict[str, int] = {}
    for reference in sorted(wms.by_reference):
        first = wms.orders[wms.by_reference[reference][0]]
        for product in first.get("products", []):
            sku = str(product["reference_id"])
            committed[sku] = committed.get(sku, 0) + int(product["quantity"])
    evidence.committed_units = committed
    # What the DC could supply: its opening stock, moved by the warehouse's own adjustments (counts,
    # damage, receipts), and every unit a return put back on its shelves (an exchange's replacement
    # ships out of those).
    evidence.supply_units = {
        sku: units + wms.adjusted.get(sku, 0) + wms.restocked_units.get(sku, 0)
        for sku, units in sorted(wms.initial_stock.items())
    }
    evidence.erp_overcommitments = int(erp.max_reserved_over_on_hand > 0)

    intents_by_order: dict[str, str] = {}
    for order_no, order in storefront.orders.items():
        intent = _payment_intent_of(order)
        if intent:
            intents_by_order[order_no] = intent
    stores = set(world.pos.store_ids)
    for order_no, record in world.store.aggregates("order"):
        status = str(record["status"])
        location = str(record.get("location") or "")
        at_store = location in stores
        bopis = record.get("pickup_store") is not None
        evidence.core_final[order_no] = status
        if at_store:
            evidence.core_fulfilment[order_no] = "store"
        if record.get("replaces"):
            evidence.core_replacements[order_no] = str(record["replaces"])
        if record.get("replaced_by"):
            evidence.core_replaced_by[order_no] = str(record["replaced_by"])
        evidence.system_final[order_no] = {
            "storefront": storefront.current.get(order_no, "absent"),
            "service_cloud": world.service_cloud.current.get(order_no, "absent"),
            "erp": _erp_state(erp, order_no),
            "wms": _wms_state(world, order_no),
            "carrier": _parcels_state(world, record["parcels"])
            if len(record.get("parcels") or {}) > 1
            else _carrier_state(world, record.get("tracking_code")),
            "payment": _payment_state(world, record.get("payment_ref") or intents_by_order.get(order_no)),
            "pos": _pos_state(world, order_no, location),
            "storefront_pickup": _pickup_shown(
                storefront.pickup_history.get(order_no), bopis, location if at_store else None
            ),
            "service_cloud_pickup": _pickup_shown(
                [world.service_cloud.orders.get(order_no, {}).get("Pickup_Store__c")],
                bopis,
                location if at_store else None,
            ),
        }
    # Free-of-charge replacement orders by the document they make good: the sales order of a lost parcel.
    po_of_sales_order = {n: po for po, numbers in erp.orders_by_reference.items() for n in numbers}
    for number in sorted(erp.sales_orders):
        refers_to = erp.replaced_document(number)
        if refers_to is not None and refers_to in po_of_sales_order:
            original = po_of_sales_order[refers_to]
            evidence.erp_replacements.setdefault(original, []).append(number)

    evidence.deliveries = world.counts.deliveries
    evidence.missing_correlation = list(world.counts.missing_correlation)
    known = set(storefront.orders) | set(storefront.failed_orders)
    # Replacement orders (lost parcels, exchanges) are known to the customer through their original.
    known |= {no for numbers in storefront.replacements.values() for no in numbers}
    evidence.known_references = known
    references: list[tuple[str, str]] = [("erp", po) for po in erp.orders_by_reference]
    references += [("wms", ref) for ref in wms.by_reference]
    references += [("service_cloud", ref) for ref in world.service_cloud.orders]
    references += [
        ("payment", str((intent.get("metadata") or {}).get("order_no", "")))
        for intent in world.payment.intents.values()
        if intent.get("status") != "requires_payment_method"
    ]
    evidence.ledger_references = sorted(references)

    _gather_returns(world, erp, evidence)
    _gather_migration(world, evidence)
    _gather_cases(world, evidence)
    evidence.drain_reference_s = world.drain_reference() if world.workload_done else None
    evidence.drained_at_s = world.drained_at
    evidence.max_drain_s = world.scenario.expect.max_drain
    evidence.episode_drains = world.episode_drains()
    evidence.recoveries = world.episode_recoveries()
    evidence.stall_watched = True
    evidence.stall = world.stalled
    if world.quiescent_at is not None:
        _gather_core_view(world, erp, evidence)
    elif world.workload_done or world.stalled is not None:
        stopped_by = (
            "by the stall watch"
            if world.stalled is not None
            else "at a dead end (nothing left scheduled that could move them)"
            if world.dead_end_at is not None
            else "by the hard stop (expect.hard_stop)"
        )
        evidence.not_quiescent = (
            f"stopped at {world.env.now / 86400:.1f} d {stopped_by}"
            + f" with {world.open_orders} order(s), {world.open_returns} return(s) open, outbox backlog "
            f"{world.outbox_backlog()}, {world.webhooks_in_flight} webhook(s) in flight"
            + ("" if world.desk is None or world.desk.idle else ", cases still being worked")
        )
    evidence.dead_letters = [
        {
            "dlq_id": d.dlq_id,
            "seq": d.seq,
            "reason": d.reason,
            "attempts": d.attempts,
            "correlation_id": d.correlation_id,
            "status": d.status,
        }
        for d in world.store.dead_letters()
    ]
    evidence.retry_budget = world.core_config.retry_max_attempts
    evidence.failed_sends = list(world.retry_audit.messages.values())
    evidence.claims = world.retry_audit.claims
    evidence.events = list(world.event_ledger.sent_events)
    evidence.repairs = list(world.event_ledger.repairs)
    evidence.repairs_counted = world.counters().get("reconciliation_repairs", 0)
    return evidence


def _ledger_final(world: World, erp: ErpBooks, order_no: str, replaced: set[str]) -> str | None:
    """An order's final status as the systems' own ledgers tell it, without asking the core: collected
    in a store or delivered by the carrier; given up by the carrier (replaced, if the ERP holds a free
    replacement delivery for it); cancelled in the ERP or the warehouse. None: nothing conclusive."""
    wms = world.wms
    if any(
        world.pos.pickups[p]["status"] == "collected" for p in world.pos.pickups_by_order.get(order_no, [])
    ):
        return "delivered"
    ids = wms.by_reference.get(order_no, [])
    tracking = (wms.orders[ids[0]].get("tracking") or {}) if ids else {}
    code = tracking.get("tracking_id") if isinstance(tracking, dict) else None
    tracker = world.carrier.tracker_by_code(str(code)) if code else None
    status = str(tracker.get("status")) if tracker is not None else None
    if status == "delivered":
        return "delivered"
    if status in ("failure", "return_to_sender"):
        made_good = any(number in replaced for number in erp.orders_by_reference.get(order_no, []))
        return "replaced" if made_good else "delivery_failed"
    if _erp_state(erp, order_no) == "cancelled" or _wms_state(world, order_no) == "cancelled":
        return "cancelled"
    return None


def _gather_core_view(world: World, erp: ErpBooks, evidence: Evidence) -> None:
    """At quiescence: the core's available-to-promise at each DC against the warehouse's shelves minus
    the ERP's open reservations there (less the safety stock the core keeps back), and each order's
    final status against what the systems' ledgers say. Stores are left out: their walk-in sales are
    not reported to the integration (systems/pos.py), so no core could know them."""
    plant = world.scenario.core.locations[0]
    safety = world.core_config.safety_stock
    for position in world.store.positions():
        if position.location in world.core_config.locations:
            evidence.core_atp[(position.sku, position.location)] = position.available
    for sku, on_hand in sorted(world.wms.stock.items()):
        reserved = erp.stock.get((plant, sku), {}).get("reserved", 0)
        evidence.true_atp[(sku, plant)] = max(0, on_hand - reserved - safety)
    made_good = (erp.replaced_document(number) for number in erp.sales_orders)
    replaced = {document for document in made_good if document is not None}
    for order_no in evidence.core_final:
        truth = _ledger_final(world, erp, order_no, replaced)
        if truth is not None:
            evidence.ledger_final[order_no] = truth


def oversell_units(world: World) -> int:
    """Units confirmed to customers that could not be supplied: orders the core had to backorder."""
    units = 0
    for order_no, history in world.storefront.status_history.items():
        if "backordered" in history:
            order = world.storefront.orders.get(order_no, {})
            units += sum(int(item["quantity"]) for item in order.get("productItems", []))
    return units


def _gather_returns(world: World, erp: ErpBooks, evidence: Evidence) -> None:
    """Returns, refunds and stock, from the ERP's, gateway's, warehouse's and stores' own ledgers."""
    payment, wms, pos = world.payment, world.wms, world.pos
    evidence.approved_returns = sorted(erp.returns_by_reference)
    refunds: dict[str, list[int]] = {}
    refunded: dict[str, int] = {}
    for refund in payment.refunds:
        return_no = str((refund.get("metadata") or {}).get("return_no", ""))
        refunds.setdefault(return_no, []).append(int(refund["amount"]))
        intent = str(refund["payment_intent"])
        refunded[intent] = refunded.get(intent, 0) + int(refund["amount"])
    evidence.refunds_by_return = dict(sorted(refunds.items()))
    evidence.refunded_by_intent = dict(sorted(refunded.items()))
    evidence.captured_by_intent = {i: payment.captured_amount(i) for i in sorted(refunded)}

    ledgers: dict[tuple[str, str], dict[str, int]] = {}
    expected: dict[tuple[str, str], int] = {}
    for (plant, material), initial in sorted(erp.initial.items()):
        now = erp.stock.get((plant, material), {"on_hand": 0})
        ledgers[(f"erp:{plant}", material)] = {
            "initial": initial["on_hand"],
            "on_hand": now["on_hand"],
            "shipped": erp.issued.get((plant, material), 0),
            "restocked": erp.restocked.get((plant, material), 0),
            "adjusted": erp.moved.get((plant, material), 0),
        }
    plant = world.scenario.core.locations[0]
    for sku, initial_units in sorted(wms.initial_stock.items()):
        ledgers[(f"wms:{plant}", sku)] = {
            "initial": initial_units,
            "on_hand": wms.stock.get(sku, 0),
            "shipped": wms.shipped_units.get(sku, 0),
            "restocked": wms.restocked_units.get(sku, 0),
            "adjusted": wms.adjusted.get(sku, 0),
        }
        # The ERP's book of the DC must take back exactly what the warehouse put back on its shelves.
        expected[(f"erp:{plant}", sku)] = wms.restocked_units.get(sku, 0)
    for store, stock in sorted(pos.initial_stock.items()):
        for sku, initial_units in sorted(stock.items()):
            ledgers[(f"pos:{store}", sku)] = {
                "initial": initial_units,
                "on_hand": pos.stock[store].get(sku, 0),
                "shipped": pos.sold.get((store, sku), 0),
                "restocked": pos.restocked.get((store, sku), 0),
            }
    for (place, sku), row in ledgers.items():
        if place.startswith("pos:"):
            row["written_off"] = pos.written_off.get((place[4:], sku), 0)
    if wms.adjusted or erp.moved:
        # The ERP's goods movements per SKU must add up to the warehouse's adjustments (each once).
        for sku in sorted(set(wms.adjusted) | {m for (p, m) in erp.moved if p == plant}):
            evidence.adjusted_vs_moved[(f"wms:{plant}", sku)] = (
                wms.adjusted.get(sku, 0),
                erp.moved.get((plant, sku), 0),
            )
    # Stock balances hold in every run, with or without returns: every ledger is judged.
    # The ERP's book of the DC issues exactly what the warehouse shipped from it.
    for (place, sku), row in ledgers.items():
        if place == f"erp:{plant}":
            evidence.issued_vs_shipped[(place, sku)] = (row["shipped"], wms.shipped_units.get(sku, 0))
    for receipt in pos.receipts:
        key = (f"pos:{receipt['store_id']}", str(receipt["sku"]))
        handed_back = pos.returns[str(receipt["return_id"])].get("status") == "rejected"
        units = int(receipt["quantity"]) if receipt["condition"] == "resellable" and not handed_back else 0
        expected[key] = expected.get(key, 0) + units
    evidence.stock_ledgers = ledgers
    evidence.restock_expected = expected

    # Exchanges: free-of-charge deliveries with reference to a customer return.
    return_of_document = {n: po for po, numbers in erp.returns_by_reference.items() for n in numbers}
    for number in sorted(erp.sales_orders):
        reference = erp.replaced_document(number)
        if reference is not None and reference in return_of_document:
            evidence.exchanges_by_return.setdefault(return_of_document[reference], []).append(number)

    for return_no, record in world.store.aggregates("return"):
        evidence.core_returns[return_no] = str(record["status"])
        pos_history = pos.status_history.get(return_no)
        shown = world.storefront.return_status.get(return_no, [])
        evidence.return_systems[return_no] = {
            "erp_return": "present" if erp.returns_by_reference.get(return_no) else "absent",
            "erp_credit_memo": "present" if erp.credit_memos_by_reference.get(return_no) else "absent",
            "payment": "refunded" if refunds.get(return_no) else "absent",
            "storefront": shown[-1] if shown else "absent",
            "pos": "n/a" if pos_history is None else (pos_history[-1] if pos_history else "absent"),
            "exchange_order": "present" if evidence.exchanges_by_return.get(return_no) else "absent",
        }


def _gather_migration(world: World, evidence: Evidence) -> None:
    """ERP migration: each order's ERP of record and its documents in both ERPs, read from their own
    ledgers; each return's order's ERP of record and the ERPs that hold its documents. Nothing with one
    ERP. A command the legacy ERP was sent for a sales order it never issued counts against the record too."""
    cloud = world.erp_cloud
    if cloud is None:
        return
    erps = (world.erp, cloud)
    for erp in erps:
        if isinstance(erp, Erp) and erp.unknown_sales_orders:
            evidence.unknown_erp_documents[erp.name] = list(erp.unknown_sales_orders)
    of_record: dict[str, str] = {}
    for order_no, record in world.store.aggregates("order"):
        home = of_record[order_no] = str(record.get("erp") or world.erp.name)
        documents = {
            erp.name: [erp.order_state(n) for n in erp.orders_by_reference.get(order_no, [])] for erp in erps
        }
        if record.get("erp_sales_order"):
            evidence.erp_posted.add(order_no)
        if any(documents.values()) or order_no in evidence.erp_posted:
            evidence.erp_of_record[order_no] = home
            evidence.erp_documents[order_no] = {erp: states for erp, states in documents.items() if states}
    for return_no, record in world.store.aggregates("return"):
        holders = [
            erp.name
            for erp in erps
            if erp.returns_by_reference.get(return_no) or erp.credit_memos_by_reference.get(return_no)
        ]
        # Past "requested" (and not rejected by the core's own policy), a return has been sent to an ERP.
        if holders or str(record.get("status")) not in ("requested", "rejected"):
            home = of_record.get(str(record.get("order_no") or ""), world.erp.name)
            evidence.return_erps[return_no] = (home, holders)


def _gather_cases(world: World, evidence: Evidence) -> None:
    """Every Service Cloud case: open or closed, what the agent recorded, what the core wrote on it."""
    for case_id, case in sorted(world.service_cloud.cases.items()):
        evidence.cases.append(
            {
                "case": str(case.get("CaseNumber") or case_id),
                "closed": bool(case.get("IsClosed")),
                "order_no": str(case.get("Order_Number__c", "")),
                "remedy": str(case.get("Remedy__c") or ""),
                "reference": str(case.get("Remedy_Reference__c") or ""),
                "return_status": str(case.get("Return_Status__c") or ""),
            }
        )
