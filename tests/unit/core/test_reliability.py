"""Each reliability primitive alone: retry policy, circuit breaker, token bucket, fingerprint."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from retailsim.core.reliability import BreakerState, CircuitBreaker, RetryPolicy, TokenBucket, fingerprint


@given(attempts=st.integers(1, 40), seed=st.integers(0, 2**32))
def test_backoff_is_full_jitter_under_the_cap(attempts: int, seed: int) -> None:
    policy = RetryPolicy(base_s=0.5, cap_s=60.0, max_attempts=10)
    delay = policy.delay(attempts, random.Random(seed))
    assert 0.0 <= delay <= min(60.0, 0.5 * 2 ** (attempts - 1))


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy(base_s=0.1, cap_s=1.0)
    assert policy.delay(1, random.Random(1), retry_after_s=30.0) == 30.0


def test_attempts_are_bounded() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert not policy.exhausted(2)
    assert policy.exhausted(3)


def test_breaker_opens_after_consecutive_failures_and_probes_once() -> None:
    breaker = CircuitBreaker(failure_threshold=3, open_s=10.0)
    for _ in range(3):
        assert breaker.allow(0.0)
        breaker.record_failure(0.0)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow(5.0)
    assert breaker.retry_at(5.0) == 10.0
    assert breaker.allow(10.0)  # the half-open probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow(10.0)  # only one probe at a time
    breaker.record_success(11.0)
    assert breaker.state is BreakerState.CLOSED and breaker.allow(11.0)


def test_failed_probe_reopens() -> None:
    breaker = CircuitBreaker(failure_threshold=1, open_s=10.0)
    breaker.record_failure(0.0)
    assert breaker.allow(10.0)
    breaker.record_failure(10.0)
    assert breaker.state is BreakerState.OPEN and not breaker.allow(15.0)


def test_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failure_threshold=3)
    breaker.record_failure(0.0)
    breaker.record_failure(0.0)
    breaker.record_success(0.0)
    breaker.record_failure(0.0)
    assert breaker.state is BreakerState.CLOSED


def test_token_bucket_smooths_to_its_rate() -> None:
    bucket = TokenBucket(rate_per_s=2.0, burst=2.0)
    taken = sum(bucket.try_take(t / 10) for t in range(0, 100))  # 10 s of asking 10x a second
    assert 20 <= taken <= 22  # burst + rate × time


def test_token_bucket_honours_retry_after() -> None:
    bucket = TokenBucket(rate_per_s=1.0, burst=1.0)
    bucket.slow_down(0.0, 5.0)
    assert not bucket.try_take(4.0)
    assert bucket.ready_at(4.0) > 4.0
    assert bucket.try_take(6.01)


def test_fingerprint_ignores_key_order_but_not_values() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
