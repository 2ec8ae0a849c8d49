"""The ERP dialect registry and what each non-SAP dialect does that the contract suite does not cover."""

from __future__ import annotations

import random
from collections.abc import Generator
from typing import Any

import pytest
import simpy

from retailsim.systems import (
    ERP_DIALECTS,
    Dynamics365,
    Erp,
    Latency,
    NetSuite,
    OracleFusion,
    Request,
    Response,
    SapEcc,
    erp_class,
)
from retailsim.systems.base import LostReply
from tests.unit.systems.support import answered

STOCK = {"DC1": {"SKU-1": 5}}
NS = "/services/rest/record/v1"
HUB = "/fscmRestApi/resources/11.13.18.05/salesOrdersForOrderHub"


def test_the_registry_names_every_dialect_once() -> None:
    assert {
        "sap": Erp,
        "netsuite": NetSuite,
        "d365": Dynamics365,
        "oracle_fusion": OracleFusion,
        "sap_ecc": SapEcc,
    } == ERP_DIALECTS
    assert erp_class("d365") is Dynamics365
    with pytest.raises(ValueError, match="unknown ERP dialect 'navision'; known dialects: sap, netsuite"):
        erp_class("navision")


@pytest.mark.parametrize("dialect", sorted(ERP_DIALECTS))
def test_every_dialect_is_built_with_the_same_keywords(dialect: str) -> None:
    system = erp_class(dialect)(
        simpy.Environment(),
        random.Random(1),
        stock=STOCK,
        concurrency=2,
        latency=Latency(0.1, 0.1),
        rate_limit_per_s=5,
        retry_after=True,
    )
    assert system.name == "erp" and system.dialect == dialect and system.retry_after
    assert system.snapshot_stock() == {("DC1", "SKU-1"): {"on_hand": 5, "reserved": 0}}


# ---- NetSuite ------------------------------------------------------------------------------------


def netsuite(**knobs: Any) -> NetSuite:
    return NetSuite(simpy.Environment(), random.Random(1), stock=STOCK, latency=Latency(0.5, 0.5), **knobs)


def ns_order(external_id: str = "SHOP-1", item: str = "SKU-1") -> dict[str, Any]:
    line = {"item": {"id": item}, "quantity": 2, "rate": 9.99, "location": {"id": "DC1"}}
    return {"externalId": external_id, "entity": {"id": "107"}, "item": {"items": [line]}}


def side_by_side(system: NetSuite, *requests: Request) -> list[Response | LostReply]:
    """Start the requests at the same simulated instant and collect the replies in request order."""
    replies: dict[int, Response | LostReply] = {}

    def client(index: int, request: Request) -> Generator[simpy.Event, Any, None]:
        replies[index] = yield from system.call(request)

    for index, request in enumerate(requests):
        system.env.process(client(index, request))
    system.env.run()
    return [replies[index] for index in range(len(requests))]


def test_netsuite_refuses_beyond_its_concurrency_limit_instead_of_queueing() -> None:
    first, second = side_by_side(
        netsuite(concurrency=1),
        Request("POST", f"{NS}/salesOrder", ns_order("A")),
        Request("GET", f"{NS}/salesOrder/eid:A"),
    )
    assert isinstance(first, Response) and first.status == 204
    assert isinstance(second, Response) and second.status == 429
    assert second.body["o:errorDetails"][0]["o:errorCode"] == "CONCURRENCY_LIMIT_EXCEEDED"
    queued = side_by_side(
        netsuite(concurrency=1, governance=False),
        Request("POST", f"{NS}/salesOrder", ns_order("A")),
        Request("GET", f"{NS}/salesOrder/eid:A"),
    )
    assert [reply.status for reply in queued if isinstance(reply, Response)] == [204, 200]


def test_netsuite_creates_with_204_and_location_and_reads_by_external_id() -> None:
    system = netsuite()
    created = system.dispatch(Request("POST", f"{NS}/salesOrder", ns_order("SHOP-9")))
    assert created.status == 204 and created.body is None
    internal_id = created.headers["Location"].rsplit("/", 1)[-1]
    by_eid = system.dispatch(Request("GET", f"{NS}/salesOrder/eid:SHOP-9"))
    assert by_eid.status == 200 and by_eid.body["id"] == internal_id
    missing = system.dispatch(Request("GET", f"{NS}/salesOrder/eid:SHOP-0"))
    assert missing.status == 404 and missing.body["o:errorDetails"][0]["o:errorCode"] == "NONEXISTENT_ID"


def test_netsuite_async_job_with_a_repeated_idempotency_key_is_a_conflict() -> None:
    system = netsuite()
    headers = {"Prefer": "respond-async", "X-NetSuite-Idempotency-Key": "k-1"}
    accepted = system.dispatch(Request("POST", f"{NS}/salesOrder", ns_order("SHOP-2"), headers=dict(headers)))
    assert accepted.status == 202 and accepted.headers["Location"].startswith("/services/rest/async/v1/job/")
    repeated = system.dispatch(Request("POST", f"{NS}/salesOrder", ns_order("SHOP-2"), headers=dict(headers)))
    assert repeated.status == 400 and repeated.body["title"] == "Conflict"
    assert repeated.body["o:errorDetails"][0]["o:errorCode"] == "IDEMPOTENCY_ERROR"
    assert repeated.headers["Location"] == accepted.headers["Location"]
    assert len(system.orders_by_reference["SHOP-2"]) == len(system.sales_orders) == 1


def test_netsuite_names_the_invalid_field_and_wants_a_transient_suiteql() -> None:
    system = netsuite()
    refused = system.dispatch(Request("POST", f"{NS}/salesOrder", ns_order(item="9999")))
    detail = refused.body["o:errorDetails"][0]
    assert refused.status == 400 and detail["o:errorCode"] == "INVALID_CONTENT"
    assert detail["o:errorPath"] == "item.items[0].item" and "Invalid Field Value 9999" in detail["detail"]
    query = {"q": "SELECT itemid, quantityonhand FROM item"}
    assert system.dispatch(Request("POST", "/services/rest/query/v1/suiteql", query)).status == 400
    rows = system.dispatch(
        Request("POST", "/services/rest/query/v1/suiteql", query, headers={"Prefer": "transient"})
    ).body["items"]
    assert rows == [{"links": [], "itemid": "SKU-1", "quantityonhand": "5"}]


# ---- Dynamics 365 --------------------------------------------------------------------------------


def d365() -> Dynamics365:
    return Dynamics365(simpy.Environment(), random.Random(1), stock=STOCK)


def header(**fields: str) -> dict[str, Any]:
    return {
        "dataAreaId": "usmf",
        "OrderingCustomerAccountNumber": "US-001",
        "CustomersOrderReference": "SHOP-1",
        **fields,
    }


def test_d365_number_sequence_headers_duplicate_and_reserve_nothing_until_lines() -> None:
    system = d365()
    first = system.dispatch(Request("POST", "/data/SalesOrderHeadersV2", header()))
    second = system.dispatch(Request("POST", "/data/SalesOrderHeadersV2", header()))
    assert first.status == second.status == 201
    assert system.orders_by_reference["SHOP-1"] == [
        first.body["SalesOrderNumber"],
        second.body["SalesOrderNumber"],
    ]
    assert system.stock[("DC1", "SKU-1")]["reserved"] == 0  # a header alone holds nothing
    line = {"dataAreaId": "usmf", "SalesOrderNumber": first.body["SalesOrderNumber"], "ItemNumber": "SKU-1"}
    added = system.dispatch(
        Request(
            "POST", "/data/SalesOrderLines", {**line, "OrderedSalesQuantity": 3, "ShippingWarehouseId": "DC1"}
        )
    )
    assert added.status == 201 and added.body["ReservedQuantity"] == 3
    orphan = system.dispatch(
        Request("POST", "/data/SalesOrderLines", {**line, "SalesOrderNumber": "SO-999999"})
    )
    assert orphan.status == 400 and "does not exist" in orphan.body["error"]["innererror"]["message"]


def test_d365_reads_other_companies_only_cross_company() -> None:
    system = d365()
    system.dispatch(Request("POST", "/data/SalesOrderHeadersV2", header(dataAreaId="demf")))
    query = {"$filter": "CustomersOrderReference eq 'SHOP-1'"}
    assert system.dispatch(Request("GET", "/data/SalesOrderHeadersV2", query=query)).body["value"] == []
    across = system.dispatch(
        Request("GET", "/data/SalesOrderHeadersV2", query={**query, "cross-company": "true"})
    )
    assert [row["dataAreaId"] for row in across.body["value"]] == ["demf"]


def test_d365_throttles_with_429_and_retry_after_seconds() -> None:
    system = d365()
    system.faults.rate_limit_per_s = 1
    answered(system, Request("GET", "/data/WarehousesOnHandV2", query={"$filter": "ItemNumber eq 'SKU-1'"}))
    throttled = answered(system, Request("POST", "/data/SalesOrderHeadersV2", header()))
    assert throttled.status == 429 and throttled.headers["Retry-After"] == "1"
    assert "Too many requests" in throttled.body["error"]["message"]


# ---- Oracle Fusion -------------------------------------------------------------------------------


def fusion() -> OracleFusion:
    return OracleFusion(simpy.Environment(), random.Random(1), stock=STOCK)


def hub_order(quantity: int) -> dict[str, Any]:
    line = {
        "ProductNumber": "SKU-1",
        "OrderedQuantity": quantity,
        "RequestedFulfillmentOrganizationCode": "DC1",
    }
    return {
        "SourceTransactionNumber": "SHOP-1",
        "SourceTransactionSystem": "OPS",
        "SourceTransactionId": "SHOP-1",
        "BusinessUnitName": "BU1",
        "BuyingPartyNumber": "1006",
        "TransactionalCurrencyCode": "USD",
        "lines": [line],
    }


def test_fusion_upsert_mode_revises_the_same_order_and_its_reservation() -> None:
    system = fusion()
    created = system.dispatch(Request("POST", HUB, hub_order(2)))
    revised = system.dispatch(Request("POST", HUB, hub_order(3), headers={"Upsert-Mode": "true"}))
    assert created.status == 201 and revised.status == 200
    assert (
        revised.body["HeaderId"] == created.body["HeaderId"]
        and revised.body["SourceTransactionRevisionNumber"] == 2
    )
    assert system.orders_by_reference == {"SHOP-1": ["OPS:SHOP-1"]}  # the ledger keeps the OrderKey
    assert system.stock[("DC1", "SKU-1")]["reserved"] == 3
    assert system.dispatch(Request("GET", f"{HUB}/OPS:SHOP-1")).body["HeaderId"] == created.body["HeaderId"]


def test_fusion_answers_plain_text_unless_the_client_asks_for_adf_errors() -> None:
    system = fusion()
    system.dispatch(Request("POST", HUB, hub_order(2)))
    plain = system.dispatch(Request("POST", HUB, hub_order(2)))
    assert plain.status == 400 and isinstance(plain.body, str) and "already exists" in plain.body
    adf = system.dispatch(
        Request("POST", HUB, hub_order(2), headers={"Accept": "application/vnd.oracle.adf.error+json"})
    )
    assert adf.body["o:errorDetails"][0]["o:errorCode"] == "DOO_DUPLICATE_SOURCE_ORDER"
