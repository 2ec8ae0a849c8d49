"""What one outbox command kind means, said once: a :class:`CommandSpec`.

A spec belongs to the product module that serves the command (``sap.py`` for ``PostSalesOrder``,
``stripe.py`` for ``CapturePayment``, …) and holds everything the dispatcher used to switch on the kind
for: which aggregate the command is about (its :class:`Subject`, loaded by the dispatcher), how to render
the request from it, whether the ERP is looked up before a re-create (:class:`Lookup`), which refusals are
benign ("already done"), what a permanent refusal means for the order, and what an accepted reply means —
an order or return event with its facts (:class:`OrderMeant`, :class:`ReturnMeant`) and/or an
:class:`Effect` the core applies by name, and the further commands it leaves for the same aggregate
(:class:`FollowUp`: the next steps of a document that takes several requests, e.g. D365's lines after
its header) — and, for a system whose reply only says "received", how the acknowledgement is awaited or
collected (``deferred``: adapters/deferred.py).

Rules kept: a spec is pure — it reads its :class:`CommandInput` and the reply, never a store or a clock;
a render that returns None means the command is superseded (the dispatcher completes it silently); a
``latest_only`` kind is superseded earlier still, in the outbox, by a newer one of its lane; the
rendered request gets the correlation id from the dispatcher, not from the spec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from retailsim.core.adapters.deferred import Deferred
from retailsim.core.adapters.http import OutboundRequest, Reply
from retailsim.core.config import CoreConfig
from retailsim.core.models import Order
from retailsim.core.stores.base import OutboxMessage
from retailsim.core.workflows import order_to_cash as o2c
from retailsim.core.workflows.order_to_cash import OrderEvent, OrderRecord
from retailsim.core.workflows.return_to_refund import ReturnEvent, ReturnRecord


class Subject(StrEnum):
    """What the dispatcher loads before rendering a command (and before applying its reply)."""

    ORDER = "order"  # the order's record (its document too when the spec ``needs_order_doc``)
    RETURN = "return"  # the return's record and its order's document
    AVAILABILITY = "availability"  # one SKU's available-to-promise over the DCs (its publication taken)
    STOCK_FEED = "stock_feed"  # every SKU's available-to-promise
    PAYLOAD = "payload"  # nothing but the message's own payload


class Effect(StrEnum):
    """What an accepted reply does besides an order or return event: a handler of the core, by name."""

    STATUS_SYNCED = "status_synced"  # the system holds this status sequence now
    WAREHOUSE_ORDER_FETCHED = "warehouse_order_fetched"  # reconciliation read the WMS's order
    TRACKERS_FETCHED = "trackers_fetched"  # reconciliation read the carrier's trackers
    PICKUP_FETCHED = "pickup_fetched"  # reconciliation read the store's pickup
    ADJUSTMENTS_FETCHED = "adjustments_fetched"  # the adjustment watch read the WMS's list
    WAREHOUSE_RETURN_CREATED = "warehouse_return_created"  # keep the WMS's return id
    RETURN_GOODS_BOOKED = "return_goods_booked"  # the ERP booked returned goods into stock
    ORDER_MIGRATED = "order_migrated"  # the cloud ERP holds a migrated order (core/service/erp_routing.py)
    LEGACY_RETIRED = "legacy_retired"  # the legacy ERP closed a migrated order's document


class CommandContext(Protocol):
    """What rendering asks of the core: its settings and the guards it was assembled with."""

    @property
    def config(self) -> CoreConfig: ...

    @property
    def policy(self) -> o2c.Policy: ...

    def payment_idempotency_key(self, record: OrderRecord, command: str) -> str | None: ...

    def refund_idempotency_key(self, record: ReturnRecord) -> str | None: ...

    def restock_idempotency_key(self, record: ReturnRecord) -> str | None: ...

    def sales_order_plant(self, record: OrderRecord) -> str: ...


@dataclass(frozen=True, slots=True)
class CommandInput:
    """A claimed command and what its :class:`Subject` loaded (the other fields keep their defaults)."""

    message: OutboxMessage
    now: float
    context: CommandContext
    order: OrderRecord | None = None
    order_doc: Order | None = None
    returned: ReturnRecord | None = None
    sale: dict[str, Any] = field(default_factory=dict)  # the order document of a return, as stored
    available: int = 0  # AVAILABILITY: the SKU's available-to-promise
    stock: dict[str, int] = field(default_factory=dict)  # STOCK_FEED: every SKU's available-to-promise

    @property
    def record(self) -> OrderRecord:
        assert self.order is not None, f"{self.message.kind} is not about an order"
        return self.order

    @property
    def return_record(self) -> ReturnRecord:
        assert self.returned is not None, f"{self.message.kind} is not about a return"
        return self.returned

    def payload(self, key: str) -> str:
        return str(self.message.payload[key])

    def sale_buyer(self) -> tuple[str, str]:
        """The customer id and currency of a return's order (its stored document, ``sale``)."""
        customer = str((self.sale.get("customer") or {}).get("customer_id", ""))
        return customer, str(self.sale.get("currency", "USD"))


@dataclass(frozen=True, slots=True)
class Answer:
    """An accepted reply (or a benign refusal) to a command, with what its subject loaded."""

    message: OutboxMessage
    reply: Reply
    step: str  # "lookup" (answers the ERP look-up), "ack" (a deferred acknowledgement), else "send"
    now: float
    order: OrderRecord | None = None
    returned: ReturnRecord | None = None

    @property
    def record(self) -> OrderRecord:
        assert self.order is not None, f"{self.message.kind} is not about an order"
        return self.order

    @property
    def return_record(self) -> ReturnRecord:
        assert self.returned is not None, f"{self.message.kind} is not about a return"
        return self.returned


@dataclass(frozen=True, slots=True)
class OrderMeant:
    """The reply means this event happened to the command's order."""

    event: OrderEvent
    facts: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ReturnMeant:
    """The reply means this event happened to the command's return."""

    event: ReturnEvent
    facts: dict[str, Any] | None = None


Meaning = OrderMeant | ReturnMeant


@dataclass(frozen=True, slots=True)
class Lookup:
    """Look the document up before creating it again (the ERP has no duplicate check of its own).

    ``found`` reads the look-up's reply: the numbers of the documents already there (empty: a miss, so
    the command's own render creates it). ``create_when_due``: a create after a miss is dated at the
    message's due time, not the reply's (warehouse goods movements keep their original posting date).
    """

    render: Callable[[CommandInput], OutboundRequest]
    found: Callable[[Reply], list[str]]
    create_when_due: bool = False


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A further command for the same aggregate and destination, appended to the outbox in the transaction
    that accepts the reply — before anything the reply's event decides, so it is next in the aggregate's
    lane. For products whose documents take several requests (a header, then each line): every step is a
    command of its own, retried and looked after like any other."""

    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Batch:
    """The command's collection form: several messages of one destination sent as ONE request.

    ``render_many`` turns the single requests the spec's own ``render`` made (in claim order) into the one
    request that carries them all; ``split`` reads that request's 2xx reply back into one reply per
    record, in the same order, each shaped as the single request's reply would have been (a success, a
    retriable 5xx, or a refusal), so that each message is judged by the rules it would meet alone —
    ``None`` when the reply cannot be read record by record (every message is then retried). The
    product's limit on records per request is ``max_records``; the core's setting
    (``core.bulk_status``) may only lower it. A lone message is sent in its single form.
    """

    render_many: Callable[[list[OutboundRequest]], OutboundRequest]
    split: Callable[[Reply, int], list[Reply] | None]
    max_records: int


def never(_: Reply) -> bool:
    return False


def no_event(_: Reply) -> OrderEvent | None:
    return None


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command kind as its product serves it (see the module docstring)."""

    kind: str
    subject: Subject
    render: Callable[[CommandInput], OutboundRequest | None]
    needs_order_doc: bool = False
    lookup: Lookup | None = None
    benign: Callable[[Reply], bool] = never
    refused_means: Callable[[Reply], OrderEvent | None] = no_event
    means: Callable[[Answer], Meaning | None] | None = None
    effect: Effect | None = None
    # A status push, latest wins: appending one supersedes the pending (unclaimed) ones of its kind for the
    # same aggregate and system (core/stores/base.py), so a backlog sends the newest state once.
    latest_only: bool = False
    follow_ups: Callable[[Answer], list[FollowUp]] | None = None
    deferred: Deferred | None = None  # the reply says "received"; the real answer comes later (deferred.py)
    # Several due messages of this kind to one destination may go as one request (a collection): Batch.
    batch: Batch | None = None


def never_sent(_: CommandInput) -> None:
    """A render that sends nothing: the command completes as superseded."""
    return None


def status_superseded(command: CommandInput) -> bool:
    """A newer status already reached this system: an older one is never sent."""
    seq = int(command.message.payload["seq"])
    return seq < command.record.synced.get(command.message.destination, 0)


def pickup_view(command: CommandInput) -> tuple[bool, str | None]:
    """Whether the order is a BOPIS order, and where to collect it now (None: shipped home). Rendered from
    the current record, so a reroute is never stale."""
    record = command.record
    at_store = o2c.at_store(record, command.context.policy)
    return record.pickup_store is not None, record.location if at_store else None


@dataclass(frozen=True, slots=True)
class ErpDialect:
    """One ERP product behind the ERP port: the specs of the ERP's command kinds, and how its stock
    snapshot (the initial inventory load) is asked for and read. ``step_kinds``: the kinds only this
    product needs beyond the ERP port's — the later steps of its multi-request documents, appended by
    its own specs' ``follow_ups``."""

    name: str
    commands: tuple[CommandSpec, ...]
    stock_snapshot: Callable[[], OutboundRequest]
    parse_stock: Callable[[Reply], list[tuple[str, str, int]]]  # (material, plant, on hand) rows
    step_kinds: frozenset[str] = frozenset()
    extra_commands: tuple[CommandSpec, ...] = ()  # kinds of its own beyond the port (collecting acks)
