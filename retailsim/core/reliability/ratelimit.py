"""Token bucket per downstream system: the core's own throttle, kept below the system's known limit.

Sending faster than a system's limit only buys 429s and retries; a client-side bucket smooths a burst
(a flash sale) into the rate the system can take, and the backlog waits durably in the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass

_EPSILON = 1e-9  # refill arithmetic in floats must not leave a token at 0.9999999 forever


@dataclass(slots=True)
class TokenBucket:
    rate_per_s: float
    burst: float
    tokens: float = -1.0
    updated_at: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def _refill(self, now: float) -> None:
        if now > self.updated_at:
            self.tokens = min(self.burst, self.tokens + (now - self.updated_at) * self.rate_per_s)
            self.updated_at = now

    def try_take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens >= 1.0 - _EPSILON:
            self.tokens -= 1.0
            return True
        return False

    def give_back(self) -> None:
        """Return a token taken for a call that was not made after all."""
        self.tokens = min(self.burst, self.tokens + 1.0)

    def ready_at(self, now: float) -> float:
        """When the next token will be there (``now`` if one is there already)."""
        self._refill(now)
        if self.tokens >= 1.0 - _EPSILON:
            return now
        return now + (1.0 - self.tokens) / self.rate_per_s

    def slow_down(self, now: float, pause_s: float) -> None:
        """Honour a server's Retry-After: no token until ``now + pause_s``."""
        self._refill(now)
        self.tokens = min(self.tokens, 0.0) - pause_s * self.rate_per_s
