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
times; a 4xx is a permanent refusal and rightly dead-letters at once. Every message of a run is claimed,
so the claims are kept compact (``ClaimLedger``: two arrays indexed by ``seq``, not a record per message).
Rules kept: no clock, no random, only arrays and dicts keyed by ints and tuples (insertion order), so a
run stays a function of its seed.
"""

from __future__ import annotations

from array import array
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


_NOT_REPLIED = -1  # a message claimed but never answered (its claims' process died, or still in flight)
_TIMED_OUT = 0  # answered by a timeout: no reply, no status


class ClaimLedger:
    """Every message's claims and last reply status, in two arrays indexed by ``seq`` (six bytes a
    message; a ``Claims`` record in a dict was ~170). The store numbers messages 1, 2, 3…, so the arrays
    stay dense. ``get`` answers as the dict of ``Claims`` it replaces: None for a message never claimed."""

    __slots__ = ("_claims", "_last")

    def __init__(self) -> None:
        self._claims = array("I")
        self._last = array("h")

    def claimed(self, seq: int) -> None:
        if seq >= len(self._claims):
            more = max(seq + 1, 2 * len(self._claims)) - len(self._claims)
            self._claims.extend(bytes(more))
            self._last.extend(array("h", (_NOT_REPLIED,)) * more)
        self._claims[seq] += 1

    def replied(self, seq: int, status: int | None) -> None:
        """The last reply to a claimed message (a reply to one never claimed is not kept)."""
        if seq < len(self._claims) and self._claims[seq]:
            self._last[seq] = _TIMED_OUT if status is None else status

    def get(self, seq: int) -> Claims | None:
        if seq >= len(self._claims) or not self._claims[seq]:
            return None
        last = self._last[seq]
        return Claims(self._claims[seq], last != _NOT_REPLIED, None if last <= _TIMED_OUT else last)


@dataclass
class RetryBudgetAudit:
    """Counts each outbox message's own failed sends from the replies its delivery workers receive."""

    breaker_failures: int
    messages: dict[int, FailedSends] = field(default_factory=dict)
    claims: ClaimLedger = field(default_factory=ClaimLedger)
    # Calls in a row without a 2xx, per (core process, destination).
    _run: dict[tuple[int, str], int] = field(default_factory=dict)

    def claimed(self, message: OutboxMessage) -> None:
        """A delivery worker claimed ``message``: one attempt, whatever becomes of it."""
        self.claims.claimed(message.seq)

    def observe(self, epoch: int, message: OutboxMessage, reply: Reply) -> None:
        """One reply to a call made for ``message`` by core process ``epoch``, as the core judged it."""
        self.claims.replied(message.seq, reply.status)
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
