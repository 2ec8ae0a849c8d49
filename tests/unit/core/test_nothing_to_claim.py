"""``nothing_to_claim``: the worker's shortcut past a claim that would find nothing (core/service/dispatch.py).

It must say True only when ``claim`` would return None *and change nothing*: not while a message is due,
and not while the breaker is open — a claim then moves a breaker whose time is up to half-open, and
skipping it would move the half-open probe later.
"""

from __future__ import annotations

from retailsim.core import CoreConfig, IntegrationCore
from retailsim.core.reliability.breaker import BreakerState
from retailsim.core.stores.memory import MemoryStore
from tests.factories import scapi_order


def core_with_an_order() -> IntegrationCore:
    config = CoreConfig(retry_base_s=0.5, retry_cap_s=1.0, breaker_open_s=10.0, breaker_failures=1)
    core = IntegrationCore(MemoryStore(), config)
    core.load_inventory([("SKU-00001", "DC1", 50)], 0.0)
    core.submit_order(scapi_order(), "key-1", 1.0)
    return core


def test_nothing_to_claim_only_when_nothing_is_due() -> None:
    core = core_with_an_order()
    assert not core.nothing_to_claim("payment", 1.0)  # the verification is due
    delivery = core.claim("payment", 1.0)
    assert delivery is not None
    assert core.nothing_to_claim("payment", 1.0)  # in flight: nothing else is due
    assert core.claim("payment", 1.0) is None  # and a claim agrees


def test_an_open_breaker_is_left_to_the_claim_that_moves_it_to_half_open() -> None:
    core = core_with_an_order()
    assert core.claim("payment", 1.0) is not None  # in flight: nothing is due from here on
    breaker = core.dispatch.breakers["payment"]
    breaker.record_failure(1.0)  # another call's failure opens it (one failure suffices here)
    assert breaker.state is BreakerState.OPEN
    later = 1.0 + 10.0 + 1.0  # the breaker's time is up; still nothing is due
    assert not core.nothing_to_claim("payment", later)  # skipping the claim would keep it open
    assert core.claim("payment", later) is None
    assert breaker.state is BreakerState.HALF_OPEN  # what the skipped claim would have missed
