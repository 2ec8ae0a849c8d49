"""``events_accounted`` on hand-written histories: every event a source sent is applied once, recognised
as a duplicate of an applied one, or ignored as stale, each with a reason; a first delivery refused as a
duplicate fails even when reconciliation repaired the order later; a repair no fault explains fails.
"""

from __future__ import annotations

from retailsim.sim.accounting import Attempt, EventLedger, Repair, SentEvent, per_source
from retailsim.sim.invariants import Evidence, events_accounted

ORDER = "00000042"


def shipped(*attempts: Attempt, copies: int = 1, source: str = "wms", event_id: str = "7") -> SentEvent:
    return SentEvent(source, event_id, "order.shipped", ORDER, 100.0, copies, list(attempts))


def ok(at: float, outcome: str = "processed", copy: int = 0, reason: str = "applied") -> Attempt:
    return Attempt(at, copy, 200, True, outcome, bool(reason))


def judged(*events: SentEvent, repairs: tuple[Repair, ...] = (), counted: int | None = None) -> list[str]:
    evidence = Evidence(
        events=list(events),
        repairs=list(repairs),
        repairs_counted=len(repairs) if counted is None else counted,
    )
    result = events_accounted(evidence)
    assert result.checked == len(events) + len(repairs)
    assert result.violations == len(result.examples) or len(result.examples) == 5
    return list(result.examples)


def test_an_event_applied_once_and_its_copies_recognised_as_duplicates_is_accounted() -> None:
    assert judged(shipped(ok(101.0), ok(150.0, "duplicate", 1), ok(151.0, "duplicate", 2), copies=3)) == []


def test_stale_and_ignored_events_are_accounted_with_their_reason() -> None:
    assert judged(shipped(ok(101.0, "stale", reason="order delivered, past shipped"))) == []
    assert judged(shipped(ok(101.0, "ignored", reason="moves no order"))) == []


def test_a_first_delivery_refused_as_a_duplicate_fails() -> None:
    examples = judged(shipped(ok(101.0, "duplicate")))
    assert len(examples) == 1
    assert "wms event 7" in examples[0] and ORDER in examples[0] and "refused as a duplicate" in examples[0]


def test_a_wrongly_refused_event_fails_even_when_reconciliation_repaired_the_order() -> None:
    examples = judged(shipped(ok(101.0, "duplicate")), repairs=(Repair(30000.0, "wms", ORDER),))
    assert len(examples) == 1 and "refused as a duplicate" in examples[0]


def test_a_duplicate_after_an_unanswered_attempt_that_reached_the_core_is_explained() -> None:
    # The core may have committed the first attempt and died before its reply: the retry is a duplicate.
    unanswered = Attempt(101.0, 0, None, True, "", False)
    assert judged(shipped(unanswered, ok(161.0, "duplicate"))) == []
    # ... but not an attempt that never reached the core (it was down): nothing can have committed.
    not_reached = Attempt(101.0, 0, None, False, "", False)
    assert len(judged(shipped(not_reached, ok(161.0, "duplicate")))) == 1


def test_an_event_applied_twice_fails() -> None:
    examples = judged(shipped(ok(101.0), ok(150.0, copy=1), copies=2))
    assert len(examples) == 1 and "applied 2 times" in examples[0]


def test_a_reply_that_does_not_say_what_was_done_fails() -> None:
    assert "saying 'ok'" in judged(shipped(ok(101.0, "ok")))[0]
    assert "without a reason" in judged(shipped(ok(101.0, "stale", reason="")))[0]


def test_a_repair_explained_by_a_dropped_or_late_event_passes() -> None:
    dropped = shipped(copies=0)
    assert judged(dropped, repairs=(Repair(30000.0, "wms", ORDER),)) == []
    late = shipped(ok(40000.0))  # delayed (reordered, retried): not yet applied when the repair came
    assert judged(late, repairs=(Repair(30000.0, "wms", ORDER),)) == []


def test_a_repair_no_fault_explains_fails() -> None:
    # Every event the WMS sent about the order had been applied: why did reconciliation repair it?
    examples = judged(shipped(ok(101.0)), repairs=(Repair(30000.0, "wms", ORDER),))
    assert len(examples) == 1 and ORDER in examples[0] and "repaired" in examples[0]
    # A repair without any event at all from that source is unexplained too.
    assert len(judged(repairs=(Repair(30000.0, "carrier", ORDER),))) == 1


def test_repairs_the_core_counted_but_the_harness_never_saw_fail() -> None:
    examples = judged(shipped(ok(101.0)), counted=2)
    assert "counted 2 reconciliation repairs" in examples[0]


def test_the_ledger_keys_events_by_source_and_id_and_counts_per_source() -> None:
    ledger = EventLedger()
    ledger.sent("wms", "1", "order.shipped", ORDER, 10.0, 2)
    ledger.sent("pos", "1", "pickup.ready", "00000043", 11.0, 1)  # the same id from another system
    ledger.sent("carrier", "evt_1", "tracker.updated", ORDER, 12.0, 0)
    ledger.attempt("wms", "1", 0, 11.0, 200, {"status": "processed", "reason": "applied"}, True)
    ledger.attempt("wms", "1", 1, 12.0, 200, {"status": "duplicate", "reason": "inbox"}, True)
    ledger.attempt("pos", "1", 0, 13.0, 409, {"error": "not_yet_known", "detail": "later"}, True)
    table = per_source(list(ledger.events.values()))
    assert table["wms"] == {
        "sent": 1, "delivered": 2, "applied": 1, "duplicates": 1, "stale": 0, "ignored": 0, "dropped": 0,
        "refused": 0,
    }
    assert table["pos"]["refused"] == 1 and table["carrier"]["dropped"] == 1
    assert ledger.events[("pos", "1")].attempts[0].outcome == "not_yet_known"


def test_the_ledger_keeps_whether_a_reply_gave_a_reason_and_the_invariant_flags_one_that_did_not() -> None:
    ledger = EventLedger()
    ledger.sent("wms", "1", "order.shipped", ORDER, 10.0, 1)
    ledger.sent("wms", "2", "order.shipped", "00000043", 10.0, 1)
    reply = {"status": "processed", "reason": "order 00000042 shipped"}
    ledger.attempt("wms", "1", 0, 11.0, 200, reply, True)
    ledger.attempt("wms", "2", 0, 11.0, 200, {"status": "processed"}, True)
    first, second = (event.attempts[0] for event in ledger.sent_events)
    assert first.reasoned and not second.reasoned
    examples = judged(*ledger.sent_events)
    assert len(examples) == 1 and "without a reason" in examples[0] and "00000043" in examples[0]


def test_a_duplicate_of_an_event_reconciliation_applied_since_it_was_sent_is_explained() -> None:
    # A delta the core recovered from the WMS's event list (under its id) before its late webhook came.
    late = SentEvent("wms", "9", "inventory.adjustment", "inventory", 100.0, 1, [ok(9000.0, "duplicate")])
    assert judged(late, repairs=(Repair(4000.0, "wms", "inventory"),)) == []
    # ... but not when the repair came before the event was even sent.
    early = SentEvent("wms", "9", "inventory.adjustment", "inventory", 5000.0, 1, [ok(9000.0, "duplicate")])
    assert len(judged(early, repairs=(Repair(4000.0, "wms", "inventory"),))) == 2  # refused + repair unexplained


def test_an_event_keeps_its_one_attempt_without_a_tuple_and_reads_every_attempt_in_order() -> None:
    ledger = EventLedger()
    ledger.sent("wms", "1", "order.shipped", ORDER, 10.0, 2)
    ledger.attempt("wms", "1", 0, 11.0, 500, {"error": "boom", "detail": "down"}, True)
    [event] = ledger.sent_events
    assert isinstance(event.kept_attempts, Attempt) and len(event.attempts) == 1
    ledger.attempt("wms", "1", 0, 12.0, 200, {"status": "processed", "reason": "applied"}, True)
    ledger.attempt("wms", "1", 1, 13.0, 200, {"status": "duplicate", "reason": "inbox"}, True)
    assert [(a.at, a.outcome) for a in event.attempts] == [(11.0, "boom"), (12.0, "processed"), (13.0, "duplicate")]
    assert event.applied_by(12.0) and not event.applied_by(11.5)
