"""SAP-style ERP: deep insert without duplicate check, reservations, goods issue, rejection, OData errors."""

from __future__ import annotations

import random
from typing import Any

import simpy

from retailsim.systems import LOST_REPLY, Erp, Request
from tests.unit.systems.support import answered, served

B = "/sap/opu/odata/sap/API_SALES_ORDER_SRV"
SO = f"{B}/A_SalesOrder"
PGI = "/sap/opu/odata/sap/API_OUTBOUND_DELIVERY_SRV;v=0002/PostGoodsIssue"
STOCK = "/sap/opu/odata/sap/API_MATERIAL_STOCK_SRV/A_MatlStkInAcctMod"


def erp(stock: dict[str, dict[str, int]] | None = None, **knobs: Any) -> Erp:
    return Erp(simpy.Environment(), random.Random(1), stock=stock or {"DC1": {"SKU-1": 5}}, **knobs)


def item(
    material: str = "SKU-1", quantity: int = 2, number: str = "10", net: str = "39.98"
) -> dict[str, Any]:
    return {
        "SalesOrderItem": number,
        "Material": material,
        "RequestedQuantity": str(quantity),
        "RequestedQuantityUnit": "EA",
        "ProductionPlant": "DC1",
        "NetAmount": net,
    }


def sales_order(po: str = "00001", *items: dict[str, Any]) -> dict[str, Any]:
    return {
        "SalesOrderType": "OR",
        "SalesOrganization": "1010",
        "DistributionChannel": "10",
        "OrganizationDivision": "00",
        "SoldToParty": "C1",
        "PurchaseOrderByCustomer": po,
        "RequestedDeliveryDate": "/Date(1795910400000)/",
        "TransactionCurrency": "USD",
        "to_Item": {"results": list(items) or [item()]},
    }


def create(system: Erp, po: str = "00001", *items: dict[str, Any]) -> dict[str, Any]:
    response = system.dispatch(Request("POST", SO, sales_order(po, *items)))
    assert response.status == 201, response.body
    return dict(response.body["d"])


def assert_odata_error(body: Any, code: str | None = None) -> None:
    error = body["error"]
    assert set(error) == {"code", "message", "innererror"}
    assert error["message"]["lang"] == "en" and error["message"]["value"]
    assert error["innererror"]["errordetails"][0]["severity"] == "error"
    if code is not None:
        assert error["code"] == code


def test_deep_insert_creates_a_numbered_sales_order() -> None:
    system = erp()
    order = create(system, "00001", item(quantity=2, net="39.98"), item("SKU-2", 1, "20", "10.00"))
    assert order["SalesOrder"] == "0000000001"
    assert order["PurchaseOrderByCustomer"] == "00001"
    assert order["TotalNetAmount"] == "49.98" and order["TransactionCurrency"] == "USD"
    assert order["OverallSDProcessStatus"] == "A"
    assert [i["SalesOrderItem"] for i in order["to_Item"]["results"]] == ["10", "20"]
    assert create(system, "00002")["SalesOrder"] == "0000000002"
    assert list(system.sales_orders) == ["0000000001", "0000000002"]


def test_sap_has_no_duplicate_check_on_the_purchase_order() -> None:
    system = erp()
    first, second = create(system, "00007"), create(system, "00007")
    assert first["SalesOrder"] != second["SalesOrder"]
    assert system.by_po["00007"] == [first["SalesOrder"], second["SalesOrder"]]
    found = system.dispatch(Request("GET", SO, query={"$filter": "PurchaseOrderByCustomer eq '00007'"}))
    assert found.status == 200
    assert [o["SalesOrder"] for o in found.body["d"]["results"]] == system.by_po["00007"]
    none = system.dispatch(Request("GET", SO, query={"$filter": "PurchaseOrderByCustomer eq 'X'"}))
    assert none.body == {"d": {"results": []}}


def test_reservation_confirms_only_what_the_plant_has() -> None:
    system = erp({"DC1": {"SKU-1": 3}})
    full = create(system, "A", item(quantity=2))["to_Item"]["results"][0]
    part = create(system, "B", item(quantity=2))["to_Item"]["results"][0]
    none = create(system, "C", item(quantity=2))["to_Item"]["results"][0]
    assert [i["ConfdDelivQtyInOrderQtyUnit"] for i in (full, part, none)] == ["2", "1", "0"]
    schedule = part["to_ScheduleLine"]["results"][0]
    assert schedule["ScheduleLineOrderQuantity"] == "2" and schedule["ConfdOrderQtyByMatlAvailCheck"] == "1"
    assert system.stock[("DC1", "SKU-1")] == {"on_hand": 3, "reserved": 3}
    assert system.max_reserved_over_on_hand == 0


def test_an_unknown_material_is_accepted_but_not_confirmed() -> None:
    system = erp()
    line = create(system, "A", item("GHOST", 1))["to_Item"]["results"][0]
    assert line["ConfdDelivQtyInOrderQtyUnit"] == "0"
    assert ("DC1", "GHOST") not in system.stock


def test_missing_mandatory_fields_and_bad_quantities_are_400_odata_errors() -> None:
    system = erp()
    body = sales_order()
    del body["SoldToParty"]
    missing = system.dispatch(Request("POST", SO, body))
    assert missing.status == 400
    assert_odata_error(missing.body)
    assert "SoldToParty" in missing.body["error"]["message"]["value"]
    no_items = system.dispatch(Request("POST", SO, {**sales_order(), "to_Item": {"results": []}}))
    assert no_items.status == 400
    bad_qty = system.dispatch(Request("POST", SO, sales_order("A", {**item(), "RequestedQuantity": "two"})))
    assert bad_qty.status == 400
    assert_odata_error(bad_qty.body)
    assert system.sales_orders == {} and system.by_po == {}


def test_only_the_purchase_order_filter_is_supported() -> None:
    system = erp()
    response = system.dispatch(Request("GET", SO, query={"$filter": "SoldToParty eq 'C1'"}))
    assert response.status == 400
    assert_odata_error(response.body)


def test_get_by_key_and_not_found() -> None:
    system = erp()
    number = create(system)["SalesOrder"]
    found = system.dispatch(Request("GET", f"{SO}('{number}')"))
    assert found.status == 200 and found.body["d"]["SalesOrder"] == number
    missing = system.dispatch(Request("GET", f"{SO}('0000009999')"))
    assert missing.status == 404
    assert_odata_error(missing.body)


def test_goods_issue_consumes_the_reservation_completes_and_bills_once() -> None:
    system = erp({"DC1": {"SKU-1": 5}})
    order = create(system, "00001", item(quantity=2, net="39.98"))
    number = order["SalesOrder"]
    response = system.dispatch(Request("POST", PGI, query={"DeliveryDocument": f"'{number}'"}))
    assert response.status == 200 and response.body["d"]["DeliveryDocument"] == number
    assert system.stock[("DC1", "SKU-1")] == {"on_hand": 3, "reserved": 0}
    assert system.sales_orders[number]["OverallSDProcessStatus"] == "C"
    billing = system.billing_documents[number]
    assert billing == {
        "BillingDocument": "9000000001",
        "SalesOrder": number,
        "TotalNetAmount": "39.98",
        "TransactionCurrency": "USD",
    }
    assert response.body["d"]["BillingDocument"] == billing["BillingDocument"]
    assert [g["DeliveryDocument"] for g in system.goods_issues] == [number]
    twice = system.dispatch(Request("POST", PGI, query={"DeliveryDocument": f"'{number}'"}))
    assert twice.status == 400
    assert_odata_error(twice.body, "VL/058")
    assert system.stock[("DC1", "SKU-1")] == {"on_hand": 3, "reserved": 0}
    assert len(system.billing_documents) == 1 and len(system.goods_issues) == 1


def test_goods_issue_of_an_unknown_delivery_is_404() -> None:
    response = erp().dispatch(Request("POST", PGI, query={"DeliveryDocument": "'0000000042'"}))
    assert response.status == 404
    assert_odata_error(response.body)


def test_rejection_releases_the_reservation_and_blocks_goods_issue() -> None:
    system = erp({"DC1": {"SKU-1": 5}})
    number = create(system, "A", item(quantity=4))["SalesOrder"]
    response = system.dispatch(Request("PATCH", f"{SO}('{number}')", {"OverallSDDocumentRejectionSts": "C"}))
    assert response.status == 204 and response.body is None
    assert system.sales_orders[number]["OverallSDDocumentRejectionSts"] == "C"
    assert system.stock[("DC1", "SKU-1")] == {"on_hand": 5, "reserved": 0}
    [released] = system.dispatch(Request("GET", f"{SO}('{number}')")).body["d"]["to_Item"]["results"]
    assert released["ConfdDelivQtyInOrderQtyUnit"] == "0"
    assert released["to_ScheduleLine"]["results"][0]["ConfdOrderQtyByMatlAvailCheck"] == "0"
    again = system.dispatch(Request("PATCH", f"{SO}('{number}')", {"OverallSDDocumentRejectionSts": "C"}))
    assert again.status == 400 and "already" in again.body["error"]["message"]["value"]
    blocked = system.dispatch(Request("POST", PGI, query={"DeliveryDocument": f"'{number}'"}))
    assert blocked.status == 400 and system.stock[("DC1", "SKU-1")]["on_hand"] == 5


def test_a_delivered_order_cannot_be_rejected() -> None:
    system = erp()
    number = create(system)["SalesOrder"]
    system.dispatch(Request("POST", PGI, query={"DeliveryDocument": f"'{number}'"}))
    response = system.dispatch(Request("PATCH", f"{SO}('{number}')", {"OverallSDDocumentRejectionSts": "C"}))
    assert response.status == 400
    assert_odata_error(response.body)
    assert system.sales_orders[number]["OverallSDDocumentRejectionSts"] != "C"


def test_material_stock_lists_on_hand_sorted_by_plant_and_material() -> None:
    system = erp({"DC2": {"B": 1}, "DC1": {"Z": 2, "A": 3}})
    rows = system.dispatch(Request("GET", STOCK)).body["d"]["results"]
    assert [(r["Plant"], r["Material"], r["MatlWrhsStkQtyInMatlBaseUnit"]) for r in rows] == [
        ("DC1", "A", "3"),
        ("DC1", "Z", "2"),
        ("DC2", "B", "1"),
    ]


def test_snapshot_stock_is_a_copy() -> None:
    system = erp()
    snapshot = system.snapshot_stock()
    create(system)
    assert snapshot[("DC1", "SKU-1")] == {"on_hand": 5, "reserved": 0}
    assert system.stock[("DC1", "SKU-1")]["reserved"] == 2


def test_the_gateway_throttles_with_429_and_retry_after() -> None:
    system = erp(rate_limit_per_s=1)
    assert answered(system, Request("POST", SO, sales_order("A"))).status == 201
    refused = answered(system, Request("POST", SO, sales_order("B")))
    assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.body["error"]["code"] == "429"
    assert refused.body["error"]["message"]["value"].startswith("Rate limit quota violation")
    assert "B" not in system.by_po


def test_outage_and_server_errors_are_odata_shaped() -> None:
    system = erp()
    system.faults.outage = True
    down = answered(system, Request("GET", STOCK))
    assert down.status == 503
    assert_odata_error(down.body)
    system.faults.outage = False
    system.faults.error_rate = 1.0
    broken = answered(system, Request("POST", SO, sales_order()))
    assert broken.status == 500
    assert_odata_error(broken.body)
    assert "/" in broken.body["error"]["code"] and system.sales_orders == {}


def test_a_lost_reply_still_created_the_sales_order() -> None:
    system = erp()
    system.faults.lost_reply_rate = 1.0
    assert served(system, Request("POST", SO, sales_order("00009"))) is LOST_REPLY
    assert len(system.by_po["00009"]) == 1
    assert system.stock[("DC1", "SKU-1")]["reserved"] == 2


def test_an_item_moved_to_another_plant_gives_up_its_confirmation_and_is_confirmed_there() -> None:
    system = erp({"DC1": {"SKU-1": 5}, "DC2": {"SKU-1": 1}})
    number = create(system, "00001", item(quantity=2))["SalesOrder"]
    path = f"{B}/A_SalesOrderItem(SalesOrder='{number}',SalesOrderItem='10')"
    assert system.dispatch(Request("PATCH", path, {"ProductionPlant": "DC2"})).status == 204
    moved = system.sales_orders[number]["to_Item"][0]  # kept as a plain list; the wire wraps it
    assert moved["ProductionPlant"] == "DC2" and moved["ConfdDelivQtyInOrderQtyUnit"] == "1"
    [read] = system.dispatch(Request("GET", f"{SO}('{number}')")).body["d"]["to_Item"]["results"]
    assert read["to_ScheduleLine"]["results"] == [
        {
            "SalesOrder": number,
            "SalesOrderItem": "10",
            "ScheduleLine": "1",
            "ScheduleLineOrderQuantity": "2",
            "ConfdOrderQtyByMatlAvailCheck": "1",
            "OrderQuantityUnit": "EA",
        }
    ]
    assert system.stock[("DC1", "SKU-1")]["reserved"] == 0 and system.stock[("DC2", "SKU-1")]["reserved"] == 1
    assert system.dispatch(Request("PATCH", path, {"ProductionPlant": "DC2"})).status == 204  # no-op
    assert system.stock[("DC2", "SKU-1")]["reserved"] == 1
    missing = system.dispatch(Request("PATCH", path.replace("'10'", "'90'"), {"ProductionPlant": "DC1"}))
    assert missing.status == 404
    system.dispatch(Request("POST", PGI, query={"DeliveryDocument": f"'{number}'"}))
    closed = system.dispatch(Request("PATCH", path, {"ProductionPlant": "DC1"}))
    assert closed.status == 400
    assert_odata_error(closed.body, "V1/045")


def test_a_free_of_charge_delivery_keeps_the_document_it_refers_to() -> None:
    system = erp()
    body = {**sales_order("00001-R1"), "SalesOrderType": "SDF", "ReferenceSDDocument": "0000000001"}
    created = system.dispatch(Request("POST", SO, body)).body["d"]
    assert created["SalesOrderType"] == "SDF" and created["ReferenceSDDocument"] == "0000000001"


def test_kept_items_share_their_texts_across_orders() -> None:
    system = erp(stock={"DC1": {"SKU-1": 9}})
    # Texts built at run time (as an adapter's requests are), equal but not the same objects.
    create(system, "00001", item(quantity=1, number="".join(["1", "0"])))
    create(system, "00002", item(quantity=1, number="".join(["1", "0"])))
    first, second = (order["to_Item"][0] for order in system.sales_orders.values())
    for key in ("SalesOrderItem", "Material", "RequestedQuantity", "ConfdDelivQtyInOrderQtyUnit"):
        assert first[key] == second[key] and first[key] is second[key], key
    assert "to_ScheduleLine" not in first and first["ConfdDelivQtyInOrderQtyUnit"] == "1"
