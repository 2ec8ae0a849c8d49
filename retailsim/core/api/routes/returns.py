"""Returns: ``POST /v1/returns``, a return request from a store (POS), a service agent or the storefront.

Rules kept: the same as orders — one reading of key and body (``edge.read_keyed_json``) in front of the
core's one idempotency mechanism; 503 while the core is down. Run one per request, not serialised here:
the store's transactions make concurrent requests safe.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from retailsim.core.api.edge import Api, Endpoint, read_keyed_json, reply_response


def endpoints(api: Api) -> list[Endpoint]:
    async def request_return(request: Request) -> Response:
        key, body = await read_keyed_json(request)
        return await api.with_core(
            lambda core: reply_response(core.request_return(body, key, api.host.now()))
        )

    return [Endpoint("/v1/returns", request_return, ("POST",))]
