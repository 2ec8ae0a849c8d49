"""The rules every route of the HTTP API shares, written once: refusals, reading a request, the core's
availability, and the per-route guard.

What it is for: the routers (``api/routes``) hold only what is theirs; whatever two of them would repeat
lives here.

* ``Refused``: a request refused at the edge, raised anywhere in a handler (or in the thread pool) and
  answered by the app's one handler as this API's error body ``{"error", "detail", ...}``.
* ``Api.with_core``: the "core is down" rule — a call that needs the running core gets it here, in the
  thread pool (core calls never run on the event loop), or is answered 503 ``core_unavailable`` with
  Retry-After while the core's process is down (``CoreDown``).
* Reading: not JSON → 415; a body over 1 MiB → 413, refused before it is buffered; strict JSON (no NaN,
  no number that overflows a float); a keyed POST's Idempotency-Key (400 without one or over 255
  characters, scoped per ``X-Client-Id``) and the text check (``validation``) → 422 before any store.
* ``guarded``: operations routes behind a bearer token compared in constant time (401 otherwise), and
  every path parameter through the text check.

Rules kept: this is the edge, so it may read the clock; the core's time comes from ``host.now()``.
"""

from __future__ import annotations

import hmac
import json
import math
import re
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from retailsim.core.api.host import CoreHost, HostUnavailable
from retailsim.core.api.validation import body_errors, identifier_errors
from retailsim.core.service import ApiReply, IntegrationCore

MAX_BODY_BYTES = 1024 * 1024
MAX_IDEMPOTENCY_KEY = 255  # Stripe's limit, and the IETF Idempotency-Key draft's advice
CLIENT_ID_HEADER = "X-Client-Id"
CLIENT_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")
# Keys of different clients never meet: a client's key is stored as "<client id>\x1f<key>", and neither a
# client id nor a key can hold the unit separator (control characters are refused in identifiers).
CLIENT_KEY_SEPARATOR = "\x1f"
CORE_RETRY_AFTER_S = "5"
T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]


def error_response(status: int, error: str, detail: str, **extra: Any) -> JSONResponse:
    """This API's error body."""
    return JSONResponse({"error": error, "detail": detail, **extra}, status_code=status)


def reply_response(reply: ApiReply) -> JSONResponse:
    """The core's answer as it gave it: status, body and headers."""
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers or None)


class Refused(Exception):
    """A request refused at the edge; the app answers it with :meth:`response`."""

    def __init__(
        self, status: int, error: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status, self.error, self.detail = status, error, detail
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> Response:
        response = error_response(self.status, self.error, self.detail, **self.extra)
        response.headers.update(self.headers)
        return response


class CoreDown(Refused):
    """The core's process is down (a crash fault) or the host cannot reach it: 503, retry later."""

    def __init__(self, detail: str = "the core process is restarting; retry with the same key") -> None:
        super().__init__(503, "core_unavailable", detail, headers={"Retry-After": CORE_RETRY_AFTER_S})


def invalid_text(errors: list[dict[str, Any]]) -> Refused:
    return Refused(
        422, "invalid_text", "lone surrogates and control characters are not allowed", errors=errors
    )


def is_json(request: Request) -> bool:
    """The body is declared JSON (``application/json`` or an ``application/*+json`` type)."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_json_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body of a request that must be JSON: 415 when it is declared otherwise, 413 when larger
    than ``limit`` (refused before it is buffered)."""
    if not is_json(request):
        raise Refused(415, "unsupported_media_type", "send the body as Content-Type: application/json")
    too_large = Refused(413, "body_too_large", f"request bodies are limited to {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _finite_float(text: str) -> float | int:
    """A JSON number with a fraction or exponent: finite, and an integer when it is one (``2.0`` → 2), as
    JSON Schema reads it — JSON has one number type, and strict validation must not refuse ``2.0`` for an
    integer field (floats fields take integers)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:40]}")
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> Any:
    """Strict JSON: no NaN/Infinity, no number that overflows a float. Raises ValueError."""
    try:
        return json.loads(raw, parse_float=_finite_float, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


async def read_keyed_json(request: Request) -> tuple[str, Any]:
    """Idempotency-Key (scoped to the client, when one says who it is) and JSON body of a keyed POST, or
    ``Refused``: 415 not JSON, 413, 400 without a key or with one over 255 characters, 422."""
    raw = await read_json_body(request)
    key = request.headers.get("idempotency-key")
    if not key:
        raise Refused(400, "missing_idempotency_key", "Idempotency-Key header is required")
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise Refused(
            400,
            "idempotency_key_too_long",
            f"Idempotency-Key is limited to {MAX_IDEMPOTENCY_KEY} characters (got {len(key)})",
        )
    errors = identifier_errors(key, ["header", "Idempotency-Key"])
    client = request.headers.get(CLIENT_ID_HEADER)
    if client is not None and not CLIENT_ID.fullmatch(client):
        errors.append(
            {
                "loc": ["header", CLIENT_ID_HEADER],
                "msg": "1 to 64 characters from A-Z a-z 0-9 . _ -",
                "type": "string_pattern_mismatch",
            }
        )
    if errors:
        raise invalid_text(errors)
    try:
        body = parse_json(raw)
    except ValueError as exc:
        raise Refused(
            422, "invalid_json", str(exc), errors=[{"loc": ["body"], "msg": str(exc), "type": "json_invalid"}]
        ) from exc
    errors = body_errors(body)
    if errors:
        raise invalid_text(errors)
    return (key if client is None else f"{client}{CLIENT_KEY_SEPARATOR}{key}"), body


def bearer_token_matches(request: Request, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time (as bytes: any header text is safe)."""
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode("latin-1", "replace"), token.encode("utf-8"))


def guarded(handler: Handler, *, ops_token: str | None) -> Handler:
    """``handler`` behind the bearer token (``ops_token``; None: an open route), its path parameters
    through the text check."""

    async def run(request: Request) -> Response:
        if ops_token is not None and not bearer_token_matches(request, ops_token):
            raise Refused(
                401,
                "unauthorized",
                "operations endpoints need Authorization: Bearer <ops token>",
                headers={"WWW-Authenticate": 'Bearer realm="retailsim-ops"'},
            )
        errors = [
            error
            for name, value in request.path_params.items()
            for error in identifier_errors(str(value), ["path", name])
        ]
        if errors:
            raise invalid_text(errors)
        return await handler(request)

    return run


@dataclass(frozen=True, slots=True)
class Api:
    """What every router of one app shares: its host and the rule for reaching the core."""

    host: CoreHost

    def running_core(self) -> IntegrationCore:
        """The running core, or ``CoreDown`` while its process is down."""
        core = self.host.core()
        if core is None:
            raise CoreDown
        return core

    async def with_core(self, use: Callable[[IntegrationCore], T], *, locked: bool = False) -> T:
        """``use(core)`` in the thread pool, with the running core (``CoreDown`` while it is down);
        ``locked``: under the host's lock, for calls that drive the host's runtime."""

        def run() -> T:
            with self.host.lock if locked else nullcontext():
                return use(self.running_core())

        return await run_in_threadpool(run)

    def core_state(self) -> dict[str, Any] | None:
        """The core's backlog, DLQ, breakers and counters; None while it is down or out of reach."""
        try:
            return self.host.ops_summary()
        except HostUnavailable:
            return None


class Endpoint(NamedTuple):
    """One route as a router declares it; ``operations``: behind the bearer token."""

    path: str
    handler: Handler
    methods: tuple[str, ...]
    operations: bool = False
