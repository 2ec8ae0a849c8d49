"""Which failed calls spend a message's retry budget, and when the core dead-letters it.

What it is for: a message is dead-lettered for its own failures, never for its system's (core/service/dispatch.py,
``_retry_or_bury``). A call refused while the breaker says the system is down — a half-open probe, or a
call in flight when the breaker opened — costs no attempt (a refusal committed nothing); a timeout then
still counts (it may have committed: the count is what makes the next try look the document up first),
but nothing is buried while the system is down; and a throttled call, which costs no attempt, never
spends the last one.
"""

from __future__ import annotations

from retailsim.core import CoreConfig, IntegrationCore
from retailsim.core.adapters.http import Reply
from retailsim.core.service import Delivery
from retailsim.core.stores.memory import MemoryStore
from tests.factories import scapi_order

DOWN = Reply(503, {"error": {"type": "api_error", "message": "Stripe is temporarily unavailable"}})
BROKEN = Reply(500, {"error": {"type": "api_error", "message": "Unexpected error"}})
TIMEOUT = Reply(None)
THROTTLED = Reply(429, {"error": {"type": "rate_limit_error", "code": "rate_limit"}}, {"Retry-After": "1"})
AUTHORIZED = Reply(200, {"id": "pi_0000002", "object": "payment_intent", "status": "requires_capture"})


def core_with(*, breaker_failures: int, retry_max_attempts: int) -> IntegrationCore:
    config = CoreConfig(
        retry_base_s=0.5,
        retry_cap_s=1.0,
        breaker_open_s=10.0,
        breaker_failures=breaker_failures,
        retry_max_attempts=retry_max_attempts,
    )
    core = IntegrationCore(MemoryStore(), config)
    core.load_inventory([("SKU-00001", "DC1", 50)], 0.0)
    return core


def verification(core: IntegrationCore, now: float) -> Delivery:
    delivery = core.claim("payment", now)
    assert delivery is not None and delivery.message.kind == "VerifyPaymentAuthorization"
    return delivery


def test_refused_probes_under_a_long_outage_cost_no_attempt_and_nothing_is_buried() -> None:
    core = core_with(breaker_failures=2, retry_max_attempts=3)
    core.submit_order(scapi_order(), "key-1", 1.0)
    first = verification(core, 1.0)
    core.on_reply(first, DOWN, 1.0)  # the breaker is still closed: the message's own failure
    second = verification(core, 3.0)
    assert second.message.attempts == 2
    core.on_reply(second, DOWN, 3.0)  # the second in a row opens the breaker: the system's failure
    now = 3.0
    for _ in range(20):  # hours of outage, the message serving as the breaker's probe every time
        now += 11.0
        probe = verification(core, now)
        assert probe.message.attempts == 2  # the refusals while down were never charged
        core.on_reply(probe, DOWN, now)
    assert core.store.dead_letters() == []
    now += 11.0
    probe = verification(core, now)
    core.on_reply(probe, TIMEOUT, now)  # a probe that times out is charged (it may have committed) ...
    now += 11.0
    probe = verification(core, now)
    assert probe.message.attempts == 3
    core.on_reply(probe, TIMEOUT, now)  # ... but the budget is not spent while the system is down
    assert core.store.dead_letters() == []
    now += 11.0
    core.on_reply(verification(core, now), AUTHORIZED, now)
    assert core.store.backlog("payment") == 0 and core.store.dead_letters() == []


def test_a_throttled_call_never_spends_the_last_attempt_an_own_failure_does() -> None:
    core = core_with(breaker_failures=2, retry_max_attempts=2)
    core.submit_order(scapi_order(), "key-1", 1.0)
    core.on_reply(verification(core, 1.0), TIMEOUT, 1.0)
    core.on_reply(verification(core, 3.0), TIMEOUT, 3.0)  # opens the breaker: attempts 2, not buried
    core.submit_order(scapi_order("00000002", intent="pi_0000002"), "key-2", 5.0)
    probe = verification(core, 14.0)
    assert probe.message.aggregate_id == "00000002"
    core.on_reply(probe, AUTHORIZED, 14.0)  # the system is back: the breaker closes
    again = verification(core, 14.0)
    assert again.message.aggregate_id == "00000001" and again.message.attempts == 3
    core.on_reply(again, THROTTLED, 14.0)  # throttled at the gate: not an attempt, not a reason to bury
    assert core.store.dead_letters() == []
    last = verification(core, 20.0)
    core.on_reply(last, BROKEN, 20.0)  # its own failure with the budget spent: dead-lettered
    [dead] = core.store.dead_letters()
    assert dead.aggregate_id == "00000001" and dead.attempts == 3
    assert dead.reason.startswith("retries exhausted after 3 attempts; last: HTTP 500")
