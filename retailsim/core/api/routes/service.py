"""The service itself: ``GET /healthz`` (names the process that answered, ``pid``, so a client can tell
the workers behind one port apart) and ``GET /openapi.json`` (the document built from the request and
response models, ``schemas``). Both open."""

from __future__ import annotations

import os
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from retailsim.core.api.edge import Endpoint


def endpoints(openapi_document: dict[str, Any]) -> list[Endpoint]:
    pid = os.getpid()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "pid": pid})

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document)

    return [
        Endpoint("/healthz", healthz, ("GET",)),
        Endpoint("/openapi.json", openapi, ("GET",)),
    ]
