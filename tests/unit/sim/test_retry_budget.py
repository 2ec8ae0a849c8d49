"""The retry-budget audit counts each outbox message's own failed sends from the wire.

What it is for: ``dlq_accounted`` judges from these counts whether a message was sent again after its
retry budget was spent (sim/retry_budget.py). Own failures are timeouts and 5xx met while the destination
answered others; throttling is no failure, and failures while the destination is down for everyone (a
run of ``breaker_failures`` calls without a 2xx, in one core process) are the system's.
"""

from __future__ import annotations

from retailsim.core.adapters.http import Reply
from retailsim.core.stores.base import OutboxMessage
from retailsim.sim.retry_budget import Claims, RetryBudgetAudit

OK = Reply(200, {})
ERROR = Reply(500, {"error": {}})
TIMEOUT = Reply(None)
THROTTLED = Reply(429, {}, {"Retry-After": "1"})
SF_LIMIT = Reply(403, [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}])
BAD = Reply(400, {"error": {}})


def message(seq: int, destination: str = "erp") -> OutboxMessage:
    return OutboxMessage(seq, destination, "PostSalesOrder", f"{seq:08d}", f"{seq:08d}", {}, 0.0)


def failures(audit: RetryBudgetAudit) -> dict[int, int]:
    return {seq: sends.failures for seq, sends in audit.messages.items()}


def test_own_failures_are_counted_per_message_and_throttling_is_not_a_failure() -> None:
    audit = RetryBudgetAudit(breaker_failures=5)
    for reply in (ERROR, OK, TIMEOUT, THROTTLED, OK, SF_LIMIT, ERROR, BAD, OK):
        audit.observe(0, message(1 if reply is not OK else 2), reply)
    assert failures(audit) == {1: 3}
    assert audit.messages[1].kind == "PostSalesOrder" and audit.messages[1].destination == "erp"


def test_failures_while_the_destination_is_down_for_everyone_are_the_systems() -> None:
    audit = RetryBudgetAudit(breaker_failures=3)
    for seq in (1, 2, 3, 4, 5, 1, 1):  # an outage: nobody gets through
        audit.observe(0, message(seq), ERROR)
    assert failures(audit) == {1: 1, 2: 1}  # the third failure in a row opens the breaker
    audit.observe(0, message(9), BAD)  # a 4xx says nothing about health: still down
    audit.observe(0, message(1), ERROR)
    assert failures(audit) == {1: 1, 2: 1}
    audit.observe(0, message(9), OK)  # back: failures are the message's own again
    audit.observe(0, message(1), ERROR)
    assert failures(audit) == {1: 2, 2: 1}


def test_throttling_neither_extends_nor_ends_a_run_of_failures() -> None:
    audit = RetryBudgetAudit(breaker_failures=2)
    audit.observe(0, message(1), ERROR)
    audit.observe(0, message(2), THROTTLED)
    audit.observe(0, message(3), ERROR)  # the second failure in a row: the system's
    assert failures(audit) == {1: 1}


def test_each_destination_and_each_core_process_has_its_own_run() -> None:
    audit = RetryBudgetAudit(breaker_failures=2)
    audit.observe(0, message(1, "erp"), ERROR)
    audit.observe(0, message(2, "wms"), ERROR)  # another destination's breaker
    audit.observe(1, message(1, "erp"), ERROR)  # a restarted core starts with closed breakers
    assert failures(audit) == {1: 2, 2: 1}


def test_claims_count_per_message_with_the_last_reply_status() -> None:
    audit = RetryBudgetAudit(breaker_failures=5)
    audit.observe(0, message(9), ERROR)  # a reply to a message never claimed is not kept
    for seq, replies in ((1, (ERROR, TIMEOUT)), (2, (ERROR, BAD)), (3, ()), (1_000, (ERROR, OK))):
        for reply in replies or (None,):
            audit.claimed(message(seq))
            if reply is not None:
                audit.observe(0, message(seq), reply)
    assert audit.claims.get(9) is None and audit.claims.get(4) is None and audit.claims.get(10**6) is None
    assert audit.claims.get(1) == Claims(2, True, None)  # the last reply was a timeout
    assert audit.claims.get(2) == Claims(2, True, 400)
    assert audit.claims.get(3) == Claims(1, False, None)  # claimed, never answered
    assert audit.claims.get(1_000) == Claims(2, True, 200)
