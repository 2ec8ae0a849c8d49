"""Helpers shared by the mock-system tests: run one call through the SimPy path, collect webhooks."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from retailsim.systems.base import LostReply, MockSystem, Request, Response, Webhook


def served(system: MockSystem, request: Request) -> Response | LostReply:
    """Serve one request through ``call`` (faults, limits, capacity, latency) and run the clock out."""
    result: list[Response | LostReply] = []

    def client() -> Generator[simpy.Event, Any, None]:
        result.append((yield from system.call(request)))

    system.env.process(client())
    system.env.run()
    return result[0]


def answered(system: MockSystem, request: Request) -> Response:
    """Like :func:`served` but the reply must have arrived."""
    response = served(system, request)
    assert isinstance(response, Response), "the reply was lost"
    return response


def collect(*systems: MockSystem) -> list[Webhook]:
    """Point the systems' webhook sinks at one list and return it."""
    hooks: list[Webhook] = []
    for system in systems:
        system.webhook_sink = hooks.append
    return hooks


def sales_order(po: str, quantity: int = 2) -> dict[str, Any]:
    """An SAP sales order (API_SALES_ORDER_SRV deep insert) of one line, for purchase order ``po``."""
    return {
        "SalesOrderType": "OR",
        "SalesOrganization": "1010",
        "DistributionChannel": "10",
        "OrganizationDivision": "00",
        "SoldToParty": "C1",
        "PurchaseOrderByCustomer": po,
        "to_Item": {
            "results": [
                {
                    "SalesOrderItem": "10",
                    "Material": "SKU-1",
                    "RequestedQuantity": str(quantity),
                    "RequestedQuantityUnit": "EA",
                    "ProductionPlant": "DC1",
                }
            ]
        },
    }
