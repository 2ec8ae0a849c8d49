"""Stock and catalog: ``GET /v1/inventory/{sku}`` (available-to-promise by location, from the core) and
``GET /v1/catalog`` (what the host sells). Open routes: a storefront reads them."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from retailsim.core.api.edge import Api, Endpoint, Refused
from retailsim.core.service import IntegrationCore


def endpoints(api: Api) -> list[Endpoint]:
    async def inventory(request: Request) -> Response:
        sku = request.path_params["sku"]

        def answer(core: IntegrationCore) -> Response:
            positions = core.available_to_promise(sku)
            if not positions:
                raise Refused(404, "sku_not_found", f"no stock position for {sku!r}")
            return JSONResponse({"sku": sku, "available_to_promise": positions})

        return await api.with_core(answer)

    async def catalog(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(api.host.catalog))

    return [
        Endpoint("/v1/catalog", catalog, ("GET",)),
        Endpoint("/v1/inventory/{sku}", inventory, ("GET",)),
    ]
