"""The retry-budget audit: failed sends per outbox message, counted on the wire, not by the core.

The core promises that a message whose own calls keep failing is dead-lettered once its attempts are
spent (``core.retry_max_attempts``), and that a message is never dead-lettered for its *system's*
failures: while the destination is down (its breaker open) the message waits, however long the outage.
This audit watches every reply a delivery worker hands to the core and counts, per outbox message
(``seq``: an operator's replay appends a new message, so the count starts again), the failures that were
the message's own:

* a failure is a timeout (no reply) or a 5xx — what every client must treat as retriable;
* throttling (429, Salesforce's 403 ``REQUEST_LIMIT_EXCEEDED``) is not a failure, and does not count
  towards the system being down either: the request never reached the system (the core charges it no
  attempt either);
* a failure met while the destination was down for everyone is the system's, not the message's: the
  destination counts as down once ``breaker_failures`` calls in a row (across all messages, since its
  last 2xx, within one core process) came back without a 2xx — the core's own definition of "down",
  derived here from the wire. Any non-2xx reply extends that run, so the audit's run is never shorter
  than the breaker's count, and what it calls the message's own failure the real core counts too.

``sim/invariants.dlq_accounted`` turns the counts into a verdict: more own failures than the budget means
the message was sent again after it should have been dead-lettered. The audit also counts, per message,
the times a worker claimed it and the status of the last reply it got: a message dead-lettered after a
retriable failure (a timeout or a 5xx) although it was claimed fewer times than the budget was given up
on early. The core charges an attempt per claim at most (a claim whose process then died counts: the
request may have gone out), so a core that keeps its budget never dead-letters a message claimed fewer
times; a 4xx is a permanent refusal and rightly dead-letters at once. Rules kept: no clock, no random,
only dicts keyed by ints and tuples (insertion order), so a run stays a function of its seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from retailsim.core.adapters.http import Reply, is_salesforce_limit
from retailsim.core.stores.base import OutboxMessage


@dataclass(slots=True)
class FailedSends:
    """One outbox message's own failed sends, and what it was."""

    seq: int
    destination: str
    kind: str
    aggregate_id: str
    failures: int = 0


@dataclass(slots=True)
class Claims:
    """How often one outbox message was claimed for delivery, and the last reply it got (if any)."""

    claims: int = 0
    replied: bool = False
    last_status: int | None = None


@dataclass
class RetryBudgetAudit:
    """Counts each outbox message's own failed sends from the replies its delivery workers receive."""

    breaker_failures: int
    messages: dict[int, FailedSends] = field(default_factory=dict)
    claims: dict[int, Claims] = field(default_factory=dict)
    # Calls in a row without a 2xx, per (core process, destination).
    _run: dict[tuple[int, str], int] = field(default_factory=dict)

    def claimed(self, message: OutboxMessage) -> None:
        """A delivery worker claimed ``message``: one attempt, whatever becomes of it."""
        claims = self.claims.get(message.seq)
        if claims is None:
            claims = self.claims[message.seq] = Claims()
        claims.claims += 1

    def observe(self, epoch: int, message: OutboxMessage, reply: Reply) -> None:
        """One reply to a call made for ``message`` by core process ``epoch``, as the core judged it."""
        claims = self.claims.get(message.seq)
        if claims is not None:
            claims.replied, claims.last_status = True, reply.status
        if reply.status == 429 or is_salesforce_limit(reply):
            return
        retriable = reply.status is None or reply.status >= 500
        key = (epoch, message.destination)
        if reply.ok:
            self._run[key] = 0
            return
        run = self._run[key] = self._run.get(key, 0) + 1
        if retriable and run < self.breaker_failures:
            sends = self.messages.get(message.seq)
            if sends is None:
                sends = self.messages[message.seq] = FailedSends(
                    message.seq, message.destination, message.kind, message.aggregate_id
                )
            sends.failures += 1
