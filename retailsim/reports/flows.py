"""Per-order message flows, read back from a run's trace: who sent what to whom about one order, and when.

What it is for: the report (and the operations page) draws a Lamport-style diagram for the orders that
appear in invariant examples and a few sampled others. The run hands its trace lines over through a
:class:`TraceSpill` (the trace digest's tap; a live server keeps a :class:`TraceTail`); :func:`choose_orders` picks the orders and
:func:`order_flows` turns their lines into :class:`~retailsim.reports.record.OrderFlow` records.

Rules it keeps:
- reads the very lines the digest is computed from, never writes to the trace: a picture cannot change
  a digest;
- plain data only: the standard library and this package; what the trace does not say about an order
  (which order a webhook event is about, events a fault dropped, dead letters) comes in as plain tuples;
- the trace records a call to a system when its answer (or the caller's timeout) arrived, so a request
  is drawn just before its reply, both at that time;
- bounded: the spill lives in an unnamed temporary file, only the chosen orders' lines are kept in memory,
  and each flow keeps at most ``max_messages`` arrows (the rest are counted as omitted);
- deterministic: the same trace gives the same flows (orders sampled by position, never at random).
"""

from __future__ import annotations

import re
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Final, NamedTuple

from retailsim.reports.record import FlowMark, FlowMessage, OrderFlow

#: The integration core's lane: every arrow starts or ends there.
CORE: Final = "core"
#: The lane a customer's checkout and the order exports come from.
STOREFRONT: Final = "storefront"
#: At most this many orders from invariant examples get a diagram, plus ``SAMPLED_ORDERS`` others.
MAX_EXAMPLE_ORDERS: Final = 8
SAMPLED_ORDERS: Final = 3
MAX_MESSAGES: Final = 80

_TOKEN: Final = re.compile(r"[A-Za-z0-9]+(?:[_.:-][A-Za-z0-9]+)*")  # "order 00000006: …" names 00000006


class SentWebhook(NamedTuple):
    """A webhook event as its source sent it: the order it is about, and how many copies the faults
    delivered (0: dropped)."""

    source: str
    event_id: str
    topic: str
    order: str
    sent_at: float
    copies: int


class DeadLetterNote(NamedTuple):
    """A message the core gave up on: the order, where it was going, its kind and why."""

    order: str
    destination: str
    kind: str
    reason: str


class TraceSpill:
    """A tap for the trace digest that keeps every line in an unnamed temporary file, to be read back
    once the run is over (memory stays flat however long the run)."""

    def __init__(self) -> None:
        # Lives as long as the run (closed by close(); unnamed, so the OS frees it with the process).
        self._file = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115

    def __call__(self, line: str) -> None:
        self._file.write(line)
        self._file.write("\n")

    def lines(self) -> Iterator[str]:
        """Every line recorded so far, in order."""
        self._file.flush()
        self._file.seek(0)
        try:
            for raw in self._file:
                yield raw.rstrip("\n")
        finally:
            self._file.seek(0, 2)

    def close(self) -> None:
        self._file.close()


class TraceTail:
    """A tap for the trace digest that keeps the last ``limit`` lines in memory: a long-running live
    server's recent history, bounded however long it runs."""

    def __init__(self, limit: int) -> None:
        self._lines: deque[str] = deque(maxlen=limit)

    def __call__(self, line: str) -> None:
        self._lines.append(line)

    def lines(self) -> list[str]:
        """The kept lines, oldest first (a copy: the tap may go on while they are read)."""
        return list(self._lines)


def _timed(line: str) -> list[str] | None:
    """A trace line's fields when it starts with a simulated time (the closing ``end`` line does not)."""
    fields = line.split("|")
    return fields if len(fields) >= 3 and fields[0][:1].isdigit() else None


def _acknowledged(status: str) -> bool:
    return status.isdigit() and 200 <= int(status) < 300


def choose_orders(
    lines: Iterable[str],
    examples: Sequence[tuple[str, Sequence[str]]],
    *,
    max_examples: int = MAX_EXAMPLE_ORDERS,
    sampled: int = SAMPLED_ORDERS,
) -> list[tuple[str, str]]:
    """``(order, reason)`` pairs: orders named in ``examples`` (``(invariant, example texts)``), then
    ``sampled`` accepted orders that no example names, spread evenly over the run's checkouts."""
    known: set[str] = set()
    accepted: list[str] = []
    for line in lines:
        fields = _timed(line)
        if fields is not None and fields[1] == "checkout" and fields[2] not in known:
            known.add(fields[2])
            if _acknowledged(fields[3] if len(fields) > 3 else ""):
                accepted.append(fields[2])
    chosen: dict[str, str] = {}
    for invariant, texts in examples:
        for text in texts:
            for token in _TOKEN.findall(text):
                if token in known and token not in chosen and len(chosen) < max_examples:
                    chosen[token] = f"named in an example of {invariant}"
    others = [order for order in accepted if order not in chosen]
    if others and sampled > 0:
        step = len(others) / sampled
        for index in sorted({int(step * (i + 0.5)) for i in range(sampled)}):
            chosen[others[index]] = "sampled order (named in no invariant example)"
    return list(chosen.items())


class _FlowBuilder:
    """The arrows of one order, marked as the trace goes: a call again after an unacknowledged one is a
    retry, another copy of an acknowledged event a duplicate."""

    def __init__(self) -> None:
        self.messages: list[FlowMessage] = []
        self._unacknowledged: set[tuple[str, str]] = set()  # (destination, kind) of unanswered calls
        self._events: dict[tuple[str, str], bool] = {}  # (source, event id) → acknowledged before

    def add(self, at: float, sender: str, receiver: str, label: str, mark: FlowMark = "", reply: bool = False) -> None:
        self.messages.append(FlowMessage(at, sender, receiver, label, mark, reply))

    def answer(self, at: float, sender: str, receiver: str, status: str) -> None:
        """The reply to a request just added: its status, or no reply at all (lost, timed out)."""
        if status == "None":
            self.add(at, sender, receiver, "(lost or timed out)", "no_reply", reply=True)
        else:
            self.add(at, sender, receiver, status, "" if _acknowledged(status) else "error", reply=True)

    def call(self, at: float, destination: str, kind: str, status: str) -> None:
        """A request of the core and its reply; the same request after one that was not acknowledged is
        a retry (a second status update after an acknowledged one is news, not a retry)."""
        key = (destination, kind)
        self.add(at, CORE, destination, kind, "retry" if key in self._unacknowledged else "")
        self.answer(at, destination, CORE, status)
        if _acknowledged(status):
            self._unacknowledged.discard(key)
        else:
            self._unacknowledged.add(key)

    def webhook(self, at: float, source: str, event_id: str, topic: str, status: str) -> None:
        earlier = self._events.get((source, event_id))
        mark: FlowMark = "" if earlier is None else ("duplicate" if earlier else "retry")
        self._events[(source, event_id)] = bool(earlier) or _acknowledged(status)
        self.add(at, source, CORE, f"{topic} ({event_id})", mark)
        self.answer(at, CORE, source, status)

    def dead_letter(self, note: DeadLetterNote) -> None:
        """Mark the last request of that kind to that destination as given up."""
        for index in range(len(self.messages) - 1, -1, -1):
            message = self.messages[index]
            if not message.reply and message.receiver == note.destination and message.label == note.kind:
                self.messages[index] = FlowMessage(
                    message.at, message.sender, message.receiver, f"{message.label}: {note.reason}", "dead_letter"
                )
                return


def order_flows(
    lines: Iterable[str],
    chosen: Sequence[tuple[str, str]],
    webhooks: Iterable[SentWebhook] = (),
    dead_letters: Iterable[DeadLetterNote] = (),
    *,
    max_messages: int = MAX_MESSAGES,
) -> tuple[OrderFlow, ...]:
    """The message flow of each ``(order, reason)`` in ``chosen``, read from the trace ``lines``."""
    builders = {order: _FlowBuilder() for order, _reason in chosen}
    events: Mapping[tuple[str, str], SentWebhook] = {
        (hook.source, hook.event_id): hook for hook in webhooks if hook.order in builders
    }
    for line in lines:
        fields = _timed(line)
        if fields is None:
            continue
        at, kind = float(fields[0]), fields[1]
        if kind == "reply" and len(fields) >= 6 and fields[4] in builders:
            builders[fields[4]].call(at, fields[2], fields[3], fields[5])
        elif kind == "webhook" and len(fields) >= 5 and (hook := events.get((fields[2], fields[3]))):
            builders[hook.order].webhook(at, hook.source, hook.event_id, hook.topic, fields[4])
        elif kind in ("checkout", "export-again") and len(fields) >= 4 and fields[2] in builders:
            again = kind == "export-again"
            builder = builders[fields[2]]
            builder.add(at, STOREFRONT, CORE, "order export (again)" if again else "checkout", "duplicate" if again else "")
            builder.answer(at, CORE, STOREFRONT, fields[3])
        elif kind == "status" and len(fields) >= 4 and fields[2] in builders:
            builders[fields[2]].add(at, CORE, CORE, f"status: {fields[3]}")
    for hook in events.values():
        if hook.copies == 0:
            builders[hook.order].add(hook.sent_at, hook.source, CORE, f"{hook.topic} ({hook.event_id})", "dropped")
    for note in dead_letters:
        if note.order in builders:
            builders[note.order].dead_letter(note)
    flows = []
    for order, reason in chosen:
        messages = sorted(builders[order].messages, key=lambda m: m.at)  # stable: trace order within a time
        flows.append(OrderFlow(order, reason, tuple(messages[:max_messages]), max(0, len(messages) - max_messages)))
    return tuple(flows)
