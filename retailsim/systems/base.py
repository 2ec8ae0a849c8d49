"""What every mock external system shares: HTTP-shaped requests, capacity, latency, faults, webhooks.

A mock is a SimPy actor that answers :class:`Request` objects the way its real product answers HTTP
calls (status codes, error bodies, headers such as ``Retry-After``) and emits webhooks the way the
product does (at least once, with an event id). Rules kept here:

* systems/ imports SimPy and the standard library only: never the core, the runtime or the reports.
  The core maps to and from each product's payloads, as a production integration must.
* Every random draw comes from the ``random.Random`` handed in by the runtime (one named stream per
  system), so a run is reproducible from its seed.
* Faults are switched on and off by the runtime through :class:`FaultSwitches`; a mock never decides by
  itself to misbehave beyond its configured behaviour (decline rate, short-pick rate, ...).
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

Json = Any


@dataclass(slots=True)
class Request:
    """An HTTP-shaped call into a mock: what a real client would send over the wire."""

    method: str
    path: str
    body: Json = None
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    #: Seconds the request is still on the wire when :meth:`MockSystem.call` starts (the link's latency):
    #: the system admits it at once and serves it in one wait of ``lead_s`` + its service time.
    lead_s: float = 0.0


@dataclass(slots=True)
class Response:
    """The mock's answer. ``headers`` carries e.g. ``Retry-After`` or ``Sforce-Limit-Info``."""

    status: int
    body: Json = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class LostReply:
    """Marker returned by :meth:`MockSystem.call` when the system committed but the reply never came."""

    __slots__ = ()


LOST_REPLY = LostReply()


@dataclass(slots=True)
class Webhook:
    """One webhook delivery attempt as the product sends it: a stable event id plus its raw payload."""

    source: str
    event_id: str
    topic: str
    body: Json
    sent_at: float
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class PersistentError:
    """A share of the business entities this system cannot process: every call about one of them fails.

    Which entities are hit is a stable function of the fault's ``salt`` (drawn from the run's fault stream)
    and the entity's key — never Python's ``hash()``, which changes with ``PYTHONHASHSEED``. An entity hit
    either answers 500 in the product's own error shape, or (the first ``timeout_share`` of the hit ones)
    never answers: the call dies before it is handled, nothing is committed.
    """

    share: float
    salt: int
    timeout_share: float = 0.0
    _seen: dict[str, float] = field(default_factory=dict, repr=False)

    def draw(self, entity: str) -> float:
        """The entity's fixed point in [0, 1): below ``share`` it is hit."""
        point = self._seen.get(entity)
        if point is None:
            digest = hashlib.blake2b(f"{self.salt}:{entity}".encode(), digest_size=8).digest()
            point = self._seen[entity] = int.from_bytes(digest, "big") / 2**64
        return point

    def outcome(self, entity: str) -> str | None:
        """``"timeout"``, ``"error"``, or None when calls about this entity go through."""
        point = self.draw(entity)
        if point >= self.share:
            return None
        return "timeout" if point < self.share * self.timeout_share else "error"


@dataclass(slots=True)
class FaultSwitches:
    """Fault state of one system, switched by the runtime's fault plan; all off by default."""

    outage: bool = False
    latency_factor: float = 1.0
    timeout_rate: float = 0.0
    error_rate: float = 0.0
    lost_reply_rate: float = 0.0
    poison_rate: float = 0.0
    rate_limit_per_s: float | None = None
    persistent_error: PersistentError | None = None


@dataclass(frozen=True, slots=True)
class Latency:
    """Lognormal service latency given by its median and 99th percentile, in seconds."""

    median_s: float
    p99_s: float
    # The distribution's parameters, worked out once: a run draws a latency for every call.
    _mu: float = field(init=False, repr=False, compare=False)
    _sigma: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fixed = self.p99_s <= self.median_s
        object.__setattr__(self, "_mu", 0.0 if fixed else math.log(self.median_s))
        object.__setattr__(self, "_sigma", 0.0 if fixed else math.log(self.p99_s / self.median_s) / 2.326)

    def sample(self, rng: random.Random) -> float:
        if self._sigma == 0.0:
            return self.median_s
        return math.exp(rng.normalvariate(self._mu, self._sigma))  # what lognormvariate does


class WindowLimit:
    """A fixed-window request limit as API gateways apply it: N calls per window, then refusals.

    ``retry_after`` is the rest of the current window, which is what such gateways put in Retry-After.
    """

    __slots__ = ("_count", "_window_start", "limit", "window_s")

    def __init__(self, per_second: float, window_s: float = 1.0) -> None:
        self.limit = max(1, int(per_second * window_s))
        self.window_s = window_s
        self._window_start = 0.0
        self._count = 0

    def admit(self, now: float) -> float | None:
        """Count one call; ``None`` if admitted, else the seconds until the window reopens."""
        if now - self._window_start >= self.window_s:
            self._window_start = now - ((now - self._window_start) % self.window_s)
            self._count = 0
        if self._count < self.limit:
            self._count += 1
            return None
        return max(0.001, self._window_start + self.window_s - now)


class Capacity:
    """How many requests a system serves at once; the rest wait first come, first served.

    ``simpy.Resource`` with only what a mock needs: taking a free slot or giving one back when nobody
    waits costs no SimPy event (a Resource schedules a request and a release event for every call, a
    quarter of a simulation's events). A waiter gets its slot handed over by the one who releases it.
    """

    __slots__ = ("capacity", "count", "env", "queue")

    def __init__(self, env: simpy.Environment, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.env = env
        self.capacity = capacity
        self.count = 0  # slots in use
        self.queue: deque[simpy.Event] = deque()

    def acquire(self) -> simpy.Event | None:
        """Take a slot: None when one was free, else an event that fires when the slot is yours."""
        if self.count < self.capacity:
            self.count += 1
            return None
        turn = self.env.event()
        self.queue.append(turn)
        return turn

    def release(self) -> None:
        if self.queue:
            self.queue.popleft().succeed()  # the slot passes straight to the next in line
        else:
            self.count -= 1


Handler = Callable[..., Response]


class MockSystem:
    """Base of every mock: capacity, latency, faults, routing and webhook emission.

    Subclasses declare ``routes`` as ``(METHOD, regex, method_name)`` and implement the handlers as plain
    methods ``handler(request, *regex_groups) -> Response`` that mutate the mock's state. The handler runs
    at the end of the service time, so state changes happen when the work is done.
    """

    name: str = "system"
    routes: tuple[tuple[str, str, str], ...] = ()

    def __init__(
        self,
        env: simpy.Environment,
        rng: random.Random,
        *,
        concurrency: int = 8,
        latency: Latency = Latency(0.05, 0.2),
        rate_limit_per_s: float | None = None,
    ) -> None:
        self.env = env
        self.rng = rng
        self.capacity = Capacity(env, concurrency)
        self.latency = latency
        self.faults = FaultSwitches()
        self._base_limit = rate_limit_per_s
        self._limit: WindowLimit | None = WindowLimit(rate_limit_per_s) if rate_limit_per_s else None
        self._limit_source: float | None = rate_limit_per_s
        # Routes by method, in declaration order, with their handlers bound once (dispatch runs per call).
        self._routes: dict[str, list[tuple[re.Pattern[str], Handler]]] = {}
        for method, pattern, handler_name in self.routes:
            self._routes.setdefault(method, []).append((re.compile(pattern), getattr(self, handler_name)))
        self.webhook_sink: Callable[[Webhook], None] | None = None
        self.calls = 0
        self.refusals = 0
        self.throttled = 0  # refused at the rate limit (a subset of ``refusals``)
        self._event_seq = 0
        # How webhook event ids look: "prefixed" (``sbwh_0000007``: unique to this product) or "sequence"
        # (``7``: the bare message sequence number of many warehouse and store systems — unique only
        # within the system, so the ids of two such systems collide, as real ones do).
        self.event_ids = "prefixed"
        self._message_seq = 0

    # ---- the product's own error shape (subclasses override) -------------------------------------

    def error(self, status: int, code: str, message: str) -> Response:
        return Response(status, {"error": {"code": code, "message": message}})

    def rate_limited(self, retry_after_s: float) -> Response:
        response = self.error(429, "TooManyRequests", "Rate limit exceeded")
        response.headers["Retry-After"] = str(max(1, math.ceil(retry_after_s)))
        return response

    def unavailable(self) -> Response:
        return self.error(503, "ServiceUnavailable", "The service is temporarily unavailable")

    def cannot_process(self) -> Response:
        """A retriable 500 about one document the system keeps failing on (``persistent_error``)."""
        return self.error(500, "InternalServerError", "The document could not be processed")

    def refuses_poison_at_once(self, request: Request) -> bool:
        """Whether the ``poison`` fault refuses this call at once (a 400): every call that writes, unless the
        product takes it now and finds the bad data later (a file port posting in batches)."""
        return request.method != "GET"

    @staticmethod
    def entity_of(request: Request) -> str | None:
        """The business entity a call is about, for ``persistent_error``: the order or return number the
        integration sends as ``X-Correlation-ID`` with every call, else the resource path. None: the call
        is about several entities (a collection), and its handler judges each record."""
        return request.headers.get("X-Correlation-ID") or request.path

    # ---- calls ------------------------------------------------------------------------------------

    def queue_length(self) -> int:
        return len(self.capacity.queue)

    def in_service(self) -> int:
        return self.capacity.count

    def call(self, request: Request) -> Generator[simpy.Event, Any, Response | LostReply]:
        """Serve one request as a SimPy process: faults, rate limit, capacity, latency, handler.

        A request with a ``lead_s`` (the link's latency, sim/links.py) is admitted when it is sent — outage,
        rate limit and a capacity slot are checked then — and its time on the wire and its service time
        pass as one wait, at whose end the handler runs. The slot is held from the request's admission to
        its reply, as a server's connection limit counts an open connection. A refusal (outage, limit)
        never comes back before the request could have arrived.
        """
        self.calls += 1
        faults = self.faults
        lead = request.lead_s
        if faults.outage:
            yield self.env.timeout(lead + 0.002)
            self.refusals += 1
            return self.unavailable()
        limiter = self._current_limiter()
        if limiter is not None:
            wait = limiter.admit(self.env.now)
            if wait is not None:
                self.refusals += 1
                self.throttled += 1
                return self.rate_limited(wait)  # the link still carries the refusal back (sim/links.py)
        turn = self.capacity.acquire()
        if turn is not None:
            sent = self.env.now
            yield turn
            lead = max(0.0, lead - (self.env.now - sent))  # it queued while it travelled
        try:
            service = self.latency.sample(self.rng) * faults.latency_factor
            yield self.env.timeout(lead + service)
            if not self.serves_parts(request):
                refused = self.content_fault(request)
                if refused is not None:
                    return refused
            if faults.timeout_rate and self.rng.random() < faults.timeout_rate:
                return LOST_REPLY  # the request died before it was handled: nothing committed
            response = self.dispatch(request)
        finally:
            self.capacity.release()
        if faults.lost_reply_rate and self.rng.random() < faults.lost_reply_rate and response.ok:
            return LOST_REPLY  # committed, but the reply is lost on the way back
        return response

    def serves_parts(self, request: Request) -> bool:
        """Whether ``request`` carries several requests that the product serves one by one (a batch): the
        faults about what a request carries (``content_fault``) are then each part's, met in its handler,
        and only the transport's (outage, limit, latency, a dropped request or reply) the whole one's."""
        return False

    def content_fault(self, request: Request) -> Response | LostReply | None:
        """The faults about what one request carries, drawn in this order: a ``persistent_error`` about its
        entity (a 500, or a call that hangs: ``LOST_REPLY``), the ``error_rate``'s 500, the ``poison``
        fault's 400; None when it is served."""
        faults = self.faults
        if faults.persistent_error is not None:
            entity = self.entity_of(request)
            hit = faults.persistent_error.outcome(entity) if entity is not None else None
            if hit == "timeout":
                return LOST_REPLY  # the call hangs until the caller gives up: nothing committed
            if hit == "error":
                self.refusals += 1
                return self.cannot_process()
        if faults.error_rate and self.rng.random() < faults.error_rate:
            self.refusals += 1
            return self.error(500, "InternalServerError", "Unexpected error")
        if (
            faults.poison_rate
            and self.refuses_poison_at_once(request)
            and self.rng.random() < faults.poison_rate
        ):
            self.refusals += 1
            return self.error(400, "InvalidPayload", "The request payload could not be processed")
        return None

    def dispatch(self, request: Request) -> Response:
        """Route a request to its handler at once (no latency); used by :meth:`call` and by tests."""
        path = request.path
        for pattern, handler in self._routes.get(request.method, ()):
            match = pattern.fullmatch(path)
            if match:
                return handler(request, *match.groups())
        return self.error(404, "NotFound", f"No route for {request.method} {request.path}")

    def _current_limiter(self) -> WindowLimit | None:
        wanted = self.faults.rate_limit_per_s or self._base_limit
        if wanted != self._limit_source:
            self._limit_source = wanted
            self._limit = WindowLimit(wanted) if wanted else None
        return self._limit

    # ---- webhooks ---------------------------------------------------------------------------------

    def next_id(self, prefix: str) -> str:
        """Deterministic product-style ids (``evt_000001``): a counter, never a random uuid."""
        self._event_seq += 1
        return f"{prefix}{self._event_seq:07d}"

    def event_id(self, prefix: str) -> str:
        """The id of the next webhook event this system sends, in its ``event_ids`` style."""
        if self.event_ids == "sequence":
            self._message_seq += 1
            return str(self._message_seq)
        return self.next_id(prefix)

    def emit(self, topic: str, body: Json, event_id: str | None = None) -> Webhook:
        hook = Webhook(
            source=self.name,
            event_id=event_id or self.next_id("whk_"),
            topic=topic,
            body=body,
            sent_at=self.env.now,
        )
        if self.webhook_sink is not None:
            self.webhook_sink(hook)
        return hook
