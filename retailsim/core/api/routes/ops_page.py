"""The operations pages: ``GET /ops`` (live backlog with the fault windows on its timeline, business counts,
throughput per workflow, latency and error classes per system, breakers and token buckets, DLQ with replay,
reconciliation; the host's part from ``GET /v1/ops/live``)
and ``GET /ops/orders/{order_id}`` (one order's message flow, timeline and dead letters), their assets under
``/ops/assets/``, and ``GET /v1/ops/orders/{order_id}/flow`` (the order's message-flow picture, SVG).

Rules kept:
- the pages and assets are static files shipped in the package (``core/api/static``): no build step, no
  CDN, no data in them. Everything they show they fetch from the operations API with the bearer token,
  so they are exactly as protected as that API; the flow picture is an operations route itself;
- only the named assets are served (no path from the request reaches the file system);
- the flow picture comes from the host when it keeps a message trace (an optional ``order_flow_svg``
  method, see :class:`FlowHost`); a host without one answers 404 ``no_trace`` and the page says so;
- pages are sent with a strict Content-Security-Policy: scripts and styles from this app only.
"""

from __future__ import annotations

from importlib import resources
from typing import Final, Protocol, runtime_checkable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from retailsim.core.api.edge import Api, Endpoint, Refused

#: Asset name → media type; nothing else under /ops/assets/ exists.
ASSETS: Final = {
    "ops.js": "text/javascript; charset=utf-8",
    "ops.css": "text/css; charset=utf-8",
}
PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
}


@runtime_checkable
class FlowHost(Protocol):
    """A host that keeps its message trace can draw one order's flow (an SVG document; None: unknown)."""

    def order_flow_svg(self, order_id: str) -> str | None: ...


def static_text(name: str) -> str:
    """A file shipped in ``retailsim/core/api/static``."""
    return resources.files("retailsim.core.api").joinpath("static", name).read_text(encoding="utf-8")


def endpoints(api: Api) -> list[Endpoint]:
    host = api.host
    ops_page = static_text("ops.html")
    order_page = static_text("order.html")
    assets = {name: static_text(name) for name in ASSETS}

    async def dashboard(request: Request) -> Response:
        return Response(ops_page, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    async def order(request: Request) -> Response:
        return Response(order_page, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets:
            raise Refused(404, "not_found", f"no asset {name!r}")
        return Response(assets[name], media_type=ASSETS[name], headers=PAGE_HEADERS)

    async def order_flow(request: Request) -> Response:
        order_id = request.path_params["order_id"]
        if not isinstance(host, FlowHost):
            raise Refused(404, "no_trace", "this host keeps no message trace")
        svg = await run_in_threadpool(host.order_flow_svg, order_id)
        if svg is None:
            raise Refused(404, "order_not_found", f"no messages about order {order_id!r} in the trace")
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    return [
        Endpoint("/ops", dashboard, ("GET",)),
        Endpoint("/ops/orders/{order_id}", order, ("GET",)),
        Endpoint("/ops/assets/{name}", asset, ("GET",)),
        Endpoint("/v1/ops/orders/{order_id}/flow", order_flow, ("GET",), operations=True),
    ]
