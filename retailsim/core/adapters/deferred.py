"""Commands whose real answer comes later: the system's reply says "received", an acknowledgement says "done".

A legacy ERP that posts in batch windows (``sap_ecc.py``) accepts a submission at once and acknowledges it
later, in a file the integration collects. Two roles, each a value on a :class:`~retailsim.core.adapters.spec.CommandSpec`
(its ``deferred`` field), read by the core's deferred-reply room (core/service/deferred_replies.py):

* :class:`AwaitsAck` on the submitting command: where the receipt (the system's id of the submission) is
  in the reply, and in a look-up's reply a submission received but not yet acknowledged (so a message whose
  acknowledgement is late is never submitted again while the first one may still post);
* :class:`CollectsAcks` on the command that fetches the acknowledgements: how to read them from its reply
  (:class:`Ack`: which aggregate, which receipt, what it means) and the cursor of the next fetch.

Rules kept: pure data and pure functions of a reply (no store, no clock); an acknowledgement names its
receipt, so one about an older submission is recognised as stale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from retailsim.core.adapters.http import Reply


class AckOutcome(StrEnum):
    """What an acknowledgement means for the message waiting for it."""

    DONE = "done"  # posted: the submit spec's ``means`` reads the acknowledgement (step "ack")
    RESEND = "resend"  # not posted through no fault of its own (its batch was aborted): submit again
    REFUSED = "refused"  # not posted for its own error: retrying the same bytes cannot help (dead letter)


@dataclass(frozen=True, slots=True)
class Ack:
    """One acknowledgement in a collected file."""

    reference: str  # the aggregate the acknowledged submission is about (the message's aggregate id)
    receipt: str  # the system's id of the submission it acknowledges
    outcome: AckOutcome
    body: Any  # the acknowledgement as the system wrote it (the reply body ``means`` reads)
    text: str  # the system's words (a dead letter's reason)


@dataclass(frozen=True, slots=True)
class CollectsAcks:
    """The command that collects acknowledgements: its kind, how often it runs while any are awaited, how to
    read a reply, and the cursor of the next collection (None: keep the old one)."""

    kind: str
    every_s: float
    acks: Callable[[Reply], list[Ack]]
    cursor: Callable[[Reply], str | None]


@dataclass(frozen=True, slots=True)
class AwaitsAck:
    """A submission answered "received": its message waits up to ``deadline_s`` for the acknowledgement that
    ``collector`` fetches; after that it is claimed again, looked up and, if nothing is there, resent."""

    receipt: Callable[[Reply], str | None]
    in_process: Callable[[Reply], str | None]
    collector: CollectsAcks
    deadline_s: float


Deferred = AwaitsAck | CollectsAcks
