"""Retry policy: exponential backoff with full jitter, a cap, and a bounded number of attempts.

Full jitter (AWS architecture blog, "Exponential Backoff And Jitter") spreads retries of many clients
uniformly over [0, min(cap, base * 2**attempt)], which avoids synchronised retry storms after an outage.
A server's ``Retry-After`` is a floor: we never come back earlier than the server asked.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_s: float = 0.5
    cap_s: float = 300.0
    max_attempts: int = 12

    def exhausted(self, attempts: int) -> bool:
        """True once ``attempts`` deliveries have failed and no more may be made."""
        return attempts >= self.max_attempts

    def delay(self, attempts: int, rng: random.Random, retry_after_s: float | None = None) -> float:
        """Seconds to wait before the next attempt, after ``attempts`` failed ones (>= 1)."""
        ceiling = min(self.cap_s, self.base_s * (2 ** min(attempts - 1, 30)))
        wait = rng.uniform(0.0, ceiling)
        if retry_after_s is not None:
            wait = max(wait, retry_after_s)
        return wait
