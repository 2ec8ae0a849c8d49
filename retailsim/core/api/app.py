"""The core's HTTP API (live mode): ``create_app`` assembles Starlette over a host that runs an
``IntegrationCore``.

Where things are (each promise tested over real HTTP in tests/live):

* ``routes/`` — one router per resource: ``orders`` (orders, the agent's timeline and actions),
  ``returns``, ``webhooks``, ``inventory`` (stock, catalog), ``payments`` (the sandbox), ``ops``
  (summary, dead letters and replay, reconciliation, metrics), ``ops_page`` (the operations pages,
  ``/ops``), ``service`` (health, OpenAPI). Each
  module's docstring states its routes' rules.
* ``edge`` — what every route shares, written once: the error body, the "core is down" rule (503
  ``core_unavailable`` with Retry-After, ``Api.with_core``), 415/413/strict JSON, the Idempotency-Key
  rules, the bearer token of the operations routes and the text check of path parameters (``guarded``).
* ``host`` — the ``CoreHost`` protocol the API runs over; ``batches`` — orders sharing one commit.

Rules kept: this is the edge, so it may read the clock — the core's time comes from ``host.now()`` and is
passed into the core, which stays pure. Core calls run in the thread pool, never on the event loop. Calls
that read or drive the host's runtime take ``host.lock``. Nothing here imports the simulation: the host is
a Protocol. A host that cannot serve a call right now (``serve --workers``: the process owning the mocks
is away) raises ``HostUnavailable``, answered 503 with Retry-After, as a core that is down is. Every
refusal is raised as ``edge.Refused`` and answered by the one handler here.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Lifespan

from retailsim.core.api.batches import Batches
from retailsim.core.api.edge import MAX_BODY_BYTES, Api, CoreDown, Endpoint, Refused, error_response, guarded
from retailsim.core.api.host import CoreHost, HostUnavailable
from retailsim.core.api.metrics import ApiMetrics, MetricsMiddleware
from retailsim.core.api.routes import inventory, ops, ops_page, orders, payments, returns, service, webhooks
from retailsim.core.api.schemas import openapi_document
from retailsim.core.stores.base import StoreUnavailable

# Re-exported: what callers and tests import from here.
__all__ = ["MAX_BODY_BYTES", "Batches", "CoreHost", "HostUnavailable", "create_app", "endpoints"]


def endpoints(api: Api, metrics: ApiMetrics, title: str) -> list[Endpoint]:
    """Every route of the API, router by router."""
    return [
        *service.endpoints(openapi_document(title, api.host.webhook_sources())),
        *orders.endpoints(api),
        *returns.endpoints(api),
        *webhooks.endpoints(api),
        *inventory.endpoints(api),
        *payments.endpoints(api),
        *ops.endpoints(api, metrics),
        *ops_page.endpoints(api),
    ]


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return exc.response()


async def _host_unavailable(request: Request, exc: Exception) -> Response:
    return CoreDown(f"{exc}; retry (orders: with the same key)").response()


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    return Refused(
        503, "store_unavailable", f"{exc}; retry (orders: with the same key)", headers={"Retry-After": "1"}
    ).response()


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    response = error_response(status, "http_error", str(detail))
    if isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)
    return response


def create_app(
    host: CoreHost,
    *,
    ops_token: str,
    title: str = "retailsim integration core",
    lifespan: Lifespan[Starlette] | None = None,
) -> Starlette:
    """The Starlette app for ``host``; each app has its own Prometheus registry. ``ops_token``: the bearer
    token of the operations endpoints (``Endpoint.operations``). ``lifespan``: the host's start-up and
    shut-down (e.g. flushing what it still owes another process), run by the ASGI server."""
    if not ops_token:
        raise ValueError("the operations endpoints need a token")
    api = Api(host)
    metrics = ApiMetrics(api.core_state)
    table = endpoints(api, metrics, title)
    app = Starlette(
        routes=[
            Route(
                e.path,
                guarded(e.handler, ops_token=ops_token if e.operations else None),
                methods=list(e.methods),
            )
            for e in table
        ],
        exception_handlers={
            HTTPException: _http_error,
            HostUnavailable: _host_unavailable,
            StoreUnavailable: _store_unavailable,
            Refused: _refused,
        },
        lifespan=lifespan,
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.state.metrics = metrics
    return app
