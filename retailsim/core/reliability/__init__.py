"""Reliability primitives: each a small state machine that takes ``now`` and is unit-tested alone."""

from retailsim.core.reliability.breaker import BreakerState, CircuitBreaker
from retailsim.core.reliability.idempotency import fingerprint
from retailsim.core.reliability.ratelimit import TokenBucket
from retailsim.core.reliability.retry import RetryPolicy

__all__ = ["BreakerState", "CircuitBreaker", "RetryPolicy", "TokenBucket", "fingerprint"]
