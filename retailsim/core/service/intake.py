"""Idempotent requests: the order API's rules for an ``Idempotency-Key``, for orders, returns and agent actions.

``once`` runs a request's act at most once per (scope, key), in one transaction with the key's record: the
transaction claims the key ("in flight"), runs the act and stores its reply ("done") — all or nothing, so a
killed process leaves no claim behind. In this process a key being run is held in memory (a second
request with it is answered 409 at once, or 422 for another body); in another process (PostgreSQL) the
claim's insert waits for the open transaction and then finds the key taken (409). A finished key answers
its stored reply (same body) or 422 (another body) until ``idempotency_retention_s`` has passed. An act
given as a reply is a refusal of the body (422): answered after the key checks, nothing stored, so a
corrected retry may use the key; so is a 4xx the act answers (a refusal changes nothing).
``run_together`` runs several orders' acts in one transaction, each answered as alone; should it fail,
each runs again in a transaction of its own. ``run_validated`` is ``once`` for a request whose body a
pydantic model validates first (returns, agent actions): no key → 400, a refused body → 422 with field
errors.

Rules kept: a reply is stored as JSON text (a replay renders the bytes the first answer sent); what a
transaction collects (its unit of work) joins the caller's only once it committed; counts made in a
transaction that rolls back are not kept (the core's ``_counting``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from retailsim.core.adapters import sfcc
from retailsim.core.config import CoreConfig
from retailsim.core.jsoncodec import dumps
from retailsim.core.reliability.idempotency import fingerprint
from retailsim.core.service.replies import ApiReply, in_flight, key_reused, missing_key
from retailsim.core.service.unit_of_work import UnitOfWork
from retailsim.core.stores.base import ConcurrencyConflict, IdempotencyRecord, Transaction


class IdempotencyHost(Protocol):
    """What idempotent requests need from the rest of the core: settings, transactions, counters, crash
    points, and what it announces after a commit."""

    @property
    def config(self) -> CoreConfig: ...

    def _transaction(self, point: str) -> AbstractContextManager[Transaction]: ...

    def _counting(self) -> AbstractContextManager[None]: ...

    def _count(self, name: str, n: int = 1) -> None: ...

    def _crash_point(self, point: str) -> None: ...

    def _after_commit(self, uow: UnitOfWork, now: float) -> None: ...


# The crash points (before its commit, at its reply) of an idempotent request, by its scope.
ONCE_POINTS = {
    "orders": ("order_intake.before_commit", "order_intake.after_commit"),
    "returns": ("return_request.before_commit", "return_request.after_commit"),
    "actions": ("agent_action.before_commit", "agent_action.after_commit"),
}


def once_points(scope: str) -> tuple[str, str]:
    """A scope without its entry above gets names outside the catalogue, which the simulation refuses."""
    return ONCE_POINTS.get(scope) or (f"{scope}.before_commit", f"{scope}.after_commit")


# What an idempotent request does inside its transaction, or the refusal of its body (422, nothing stored).
Act = Callable[[Transaction, UnitOfWork], ApiReply] | ApiReply


@dataclass(slots=True)
class Job:
    """One idempotent request on its way through ``once`` or ``submit_orders``."""

    scope: str
    key: str
    fingerprint: str
    now: float
    act: Act
    index: int  # its place among the outcomes of ``submit_orders``


class IdempotentRequests:
    """The idempotency keys of one core process (see the module docstring)."""

    def __init__(self, host: IdempotencyHost) -> None:
        self.host = host
        # Idempotency keys this process is running now → their body fingerprints (see ``once``).
        self._claims: dict[tuple[str, str], str] = {}
        self._claims_lock = threading.Lock()

    def _transaction(self, point: str) -> AbstractContextManager[Transaction]:
        return self.host._transaction(point)

    def once(
        self, scope: str, key: str, body: Any, now: float, act: Act, committed: UnitOfWork | None = None
    ) -> ApiReply:
        """Run ``act`` at most once per idempotency key, in one transaction with the key's record.

        The transaction claims the key ("in flight"), runs ``act`` and stores its reply ("done") — all or
        nothing, so a killed process leaves no claim behind. What a request with the same key sees meanwhile:
        in this process, the key held in ``_claims`` → 409 at once (or 422 for another body), without
        waiting for the store; in another process (PostgreSQL), the claim's insert waits for the open
        transaction and then finds the key taken → 409. A finished key answers its stored reply (same
        body) or 422 (other body). ``act`` given as a reply is a refusal of the body (422): answered after
        the key checks, and nothing is stored, so a corrected retry may use the key; so is a 4xx that
        ``act`` answers (a refusal changes nothing).
        """
        job = Job(scope, key, fingerprint(body), now, act, 0)
        early = self.claim(job)
        if early is not None:
            return early
        work = UnitOfWork()
        try:
            with self.host._counting(), self._transaction(once_points(scope)[0]) as tx:
                reply = self._run_claimed(tx, job, work)
        finally:
            self.release([job])
        if committed is not None:
            committed.absorb(work)
        return reply

    def run_validated(
        self,
        scope: str,
        key: str | None,
        fingerprinted: Any,
        now: float,
        model: type[BaseModel],
        body: Any,
        work: Callable[[Transaction, Any, UnitOfWork], ApiReply],
        invalid_error: str = "invalid_request",
    ) -> ApiReply:
        """The order API's idempotency rules (``once``) around ``work`` (returns, agent actions).

        No key → 400; a body ``model`` refuses → 422 with field errors; then ``work`` runs once per key in
        one transaction with the validated request. A refusal from ``work`` (4xx, which must have changed
        nothing) is not stored, so a corrected retry may use the key.
        """
        if not key:
            return missing_key()
        try:
            # Strict, as JSON (arrays for tuples): what the published schema says, no coercion of 0 to false.
            request = model.model_validate_json(json.dumps(body), strict=True)
        except ValidationError as exc:
            refused = ApiReply(
                422,
                {
                    "error": invalid_error,
                    "detail": f"invalid {scope} request",
                    "errors": sfcc.field_errors(exc),
                },
            )
            return self.once(scope, key, fingerprinted, now, refused)
        committed = UnitOfWork()
        reply = self.once(
            scope,
            key,
            fingerprinted,
            now,
            lambda tx, uow: work(tx, request, uow),
            committed,
        )
        self.host._after_commit(committed, now)
        self.host._crash_point(once_points(scope)[1])
        return reply

    def run_together(
        self, jobs: list[Job], outcomes: list[ApiReply | Exception], committed: UnitOfWork
    ) -> None:
        """Every job in one transaction; if it fails, each in one of its own. What a transaction collects
        joins ``committed`` only once it has committed: a rolled-back one announces nothing."""
        if not jobs:
            return
        work = UnitOfWork()
        try:
            with self.host._counting(), self._transaction("order_intake.before_commit") as tx:
                for job in jobs:
                    outcomes[job.index] = self._run_claimed(tx, job, work)
        except Exception as exc:
            if len(jobs) == 1:
                outcomes[jobs[0].index] = exc
                return
        else:
            committed.absorb(work)
            return
        for job in jobs:
            work = UnitOfWork()
            try:
                with self.host._counting(), self._transaction("order_intake.before_commit") as tx:
                    outcomes[job.index] = self._run_claimed(tx, job, work)
            except Exception as exc:
                outcomes[job.index] = exc
            else:
                committed.absorb(work)

    def claim(self, job: Job) -> ApiReply | None:
        """Hold the job's key in this process; or the answer when the key is held already."""
        claim = (job.scope, job.key)
        with self._claims_lock:
            holder = self._claims.get(claim)
            if holder is None:
                self._claims[claim] = job.fingerprint
                return None
        return key_reused() if holder != job.fingerprint else in_flight()

    def release(self, jobs: list[Job]) -> None:
        with self._claims_lock:
            for job in jobs:
                del self._claims[(job.scope, job.key)]

    def _run_claimed(self, tx: Transaction, job: Job, work: UnitOfWork) -> ApiReply:
        """The key's stored answer, or: claim it in ``tx``, run the job, store its reply (see ``once``)."""
        scope, key, body_fingerprint, now = job.scope, job.key, job.fingerprint, job.now
        existing = tx.get_idempotency(scope, key)
        answer = self._answer_from_record(existing, body_fingerprint, now)
        if answer is not None:
            return answer
        if isinstance(job.act, ApiReply):
            return job.act
        try:
            tx.put_idempotency(
                IdempotencyRecord(scope, key, body_fingerprint, "in_flight", None, now),
                create=existing is None,
            )
        except ConcurrencyConflict:
            return in_flight()  # another process claimed it meanwhile; it has committed by now
        reply = job.act(tx, work)
        if 400 <= reply.status < 500:
            # A refusal (it changed nothing): the key stays usable for a corrected retry.
            tx.put_idempotency(IdempotencyRecord(scope, key, "", "abandoned", None, -1e18), create=False)
            return reply
        # The reply as JSON text, not a document: a JSONB column reorders an object's keys, a string it keeps
        # as it is, so a replay renders the bytes the first answer sent (on every store).
        stored = {"status": reply.status, "text": dumps(reply.body)}
        tx.put_idempotency(IdempotencyRecord(scope, key, body_fingerprint, "done", stored, now), create=False)
        return reply

    def _answer_from_record(
        self, existing: IdempotencyRecord | None, body_fingerprint: str, now: float
    ) -> ApiReply | None:
        """The answer a key's stored record gives at once; None when the request may run."""
        if existing is None or existing.status == "abandoned":
            return None
        if (
            existing.status == "done"
            and now - existing.created_at >= self.host.config.idempotency_retention_s
        ):
            return None  # expired: the key is free again (the order number still guards the order)
        if existing.fingerprint != body_fingerprint:
            return key_reused()
        if existing.status == "done" and existing.response is not None:
            self.host._count("idempotent_replays")
            stored = existing.response
            body = json.loads(stored["text"]) if "text" in stored else dict(stored["body"])
            return ApiReply(int(stored["status"]), body, {"Idempotent-Replayed": "true"})
        # A committed claim without a reply: written by a version that claimed in a transaction of its
        # own; it frees when its process has had time to finish (or died).
        if now - existing.created_at < self.host.config.idempotency_in_flight_s:
            return in_flight()
        return None
