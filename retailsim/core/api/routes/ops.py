"""Operations, behind the bearer token: ``GET /v1/ops/summary``, ``GET /v1/ops/live``, ``GET /v1/ops/dlq``,
``POST /v1/ops/dlq/{dlq_id}/replay``, ``GET /v1/reconciliation`` and ``GET /metrics`` (Prometheus text).

Rules kept: the summary answers even while the core is down (``core_up: false``, empty sections), as
``/metrics`` does — an operator must see a dead core; the others answer 503 then. A dead letter's id is an
integer from 0 to 2**63-1 (store ids are 64-bit), anything else → 404. A replay drives the host's runtime,
so it runs under the host's lock. The live view is the host's (latency per system, buckets, business
counts, fault windows: see :class:`LiveViewHost`); it too answers while the core is down, and a host
that has none answers 404 ``no_live_view``.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from retailsim.core.api.edge import Api, Endpoint, Refused
from retailsim.core.api.host import LiveViewHost
from retailsim.core.api.metrics import ApiMetrics
from retailsim.core.service import IntegrationCore

MAX_ID = 2**63 - 1  # store ids are 64-bit integers


def endpoints(api: Api, metrics: ApiMetrics) -> list[Endpoint]:
    host = api.host

    async def ops_summary(request: Request) -> Response:
        summary = await run_in_threadpool(api.core_state)
        if summary is None:
            return JSONResponse({"core_up": False, "outbox": {}, "dlq": {}, "breakers": {}, "counters": {}})
        return JSONResponse({"core_up": True, **summary})

    async def ops_live(request: Request) -> Response:
        if not isinstance(host, LiveViewHost):
            raise Refused(404, "no_live_view", "this host does not see the world around the core")
        return JSONResponse(await run_in_threadpool(host.ops_live))

    async def dead_letters(request: Request) -> Response:
        def answer(core: IntegrationCore) -> Response:
            return JSONResponse(
                {
                    "dead_letters": [
                        {
                            "dlq_id": d.dlq_id,
                            "destination": d.destination,
                            "kind": d.kind,
                            "aggregate_id": d.aggregate_id,
                            "correlation_id": d.correlation_id,
                            "reason": d.reason,
                            "attempts": d.attempts,
                            "status": d.status,
                        }
                        for d in core.store.dead_letters()
                    ]
                }
            )

        return await api.with_core(answer)

    async def replay_dead_letter(request: Request) -> Response:
        try:
            dlq_id = int(request.path_params["dlq_id"])
        except ValueError:
            dlq_id = -1
        if not 0 <= dlq_id <= MAX_ID:
            raise Refused(404, "dead_letter_not_found", "dead letter ids are integers from 0 to 2**63-1")
        replayed = await api.with_core(lambda core: core.replay_dead_letter(dlq_id, host.now()), locked=True)
        if not replayed:
            raise Refused(404, "dead_letter_not_found", f"no dead letter {dlq_id} waiting for replay")
        return JSONResponse({"dlq_id": dlq_id, "replayed": True})

    async def reconciliation(request: Request) -> Response:
        return await api.with_core(lambda core: JSONResponse(host.reconciliation()))

    async def prometheus(request: Request) -> Response:
        payload = await run_in_threadpool(generate_latest, metrics.registry)
        return Response(payload, media_type=CONTENT_TYPE_LATEST)

    return [
        Endpoint("/metrics", prometheus, ("GET",), operations=True),
        Endpoint("/v1/ops/summary", ops_summary, ("GET",), operations=True),
        Endpoint("/v1/ops/live", ops_live, ("GET",), operations=True),
        Endpoint("/v1/ops/dlq", dead_letters, ("GET",), operations=True),
        Endpoint("/v1/ops/dlq/{dlq_id}/replay", replay_dead_letter, ("POST",), operations=True),
        Endpoint("/v1/reconciliation", reconciliation, ("GET",), operations=True),
    ]
