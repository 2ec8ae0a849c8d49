"""The D365 mock beyond creating documents: packing slip, cancel, moving a line, a return's receipt, the
adjustment journal, the on-hand entity, and the ledger words the harness reads.

(Creating, looking up, throttling and the error body are the ERP contract suite's; the number sequence and
cross-company reads are in test_erp_dialects.py.)
"""

from __future__ import annotations

import random
from typing import Any

import simpy

from retailsim.systems import Dynamics365, Request, Response

STOCK = {"DC1": {"SKU-1": 5}, "DC2": {"SKU-1": 4}}
ACTION = "Microsoft.Dynamics.DataEntities"


def d365() -> Dynamics365:
    return Dynamics365(simpy.Environment(), random.Random(1), stock=STOCK)


def call(system: Dynamics365, method: str, path: str, body: Any = None, **query: str) -> Response:
    return system.dispatch(Request(method, f"/data/{path}", body, query=query))


def inner(response: Response) -> str:
    return str(response.body["error"]["innererror"]["message"])


def order(system: Dynamics365, quantity: int = 2, **header: str) -> str:
    """A sales order of one SKU-1 line from DC1; its number."""
    created = call(
        system,
        "POST",
        "SalesOrderHeadersV2",
        {
            "dataAreaId": "usmf",
            "OrderingCustomerAccountNumber": "C1",
            "CustomersOrderReference": "SHOP-1",
            **header,
        },
    )
    number = str(created.body["SalesOrderNumber"])
    line = {"dataAreaId": "usmf", "SalesOrderNumber": number, "LineCreationSequenceNumber": "1",
            "ItemNumber": "SKU-1", "OrderedSalesQuantity": quantity, "SalesPrice": 9.99, "ShippingWarehouseId": "DC1"}  # fmt: skip
    assert call(system, "POST", "SalesOrderLines", line).status == 201
    return number


def key(number: str) -> str:
    return f"SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='{number}')"


def test_a_repeated_line_is_refused_by_its_key_and_reserves_once() -> None:
    system = d365()
    number = order(system)
    again = {"dataAreaId": "usmf", "SalesOrderNumber": number, "LineCreationSequenceNumber": "1",
             "ItemNumber": "SKU-1", "OrderedSalesQuantity": 2, "ShippingWarehouseId": "DC1"}  # fmt: skip
    refused = call(system, "POST", "SalesOrderLines", again)
    assert refused.status == 400 and "already exists" in inner(refused)
    assert system.stock[("DC1", "SKU-1")]["reserved"] == 2


def test_the_packing_slip_issues_what_the_lines_reserved_once() -> None:
    system = d365()
    number = order(system)
    slip = call(system, "POST", f"{key(number)}/{ACTION}.PostPackingSlip", {})
    assert slip.status == 200 and slip.body["PackingSlipId"]
    assert system.stock[("DC1", "SKU-1")] == {"on_hand": 3, "reserved": 0}
    assert system.issued == {("DC1", "SKU-1"): 2} and system.order_state(number) == "completed"
    again = call(system, "POST", f"{key(number)}/{ACTION}.PostPackingSlip", {})
    assert again.status == 400 and "already" in inner(again)
    assert system.issued == {("DC1", "SKU-1"): 2}
    late_line = {
        "dataAreaId": "usmf",
        "SalesOrderNumber": number,
        "ItemNumber": "SKU-1",
        "OrderedSalesQuantity": 1,
    }
    assert call(system, "POST", "SalesOrderLines", late_line).status == 400  # a delivered order is closed


def test_cancel_releases_the_reservations_once_and_a_cancelled_order_never_ships() -> None:
    system = d365()
    number = order(system)
    assert call(system, "POST", f"{key(number)}/{ACTION}.Cancel", {}).status == 204
    assert system.stock[("DC1", "SKU-1")] == {"on_hand": 5, "reserved": 0}
    assert system.order_state(number) == "cancelled"
    again = call(system, "POST", f"{key(number)}/{ACTION}.Cancel", {})
    assert again.status == 400 and "already canceled" in inner(again)
    ship = call(system, "POST", f"{key(number)}/{ACTION}.PostPackingSlip", {})
    assert ship.status == 400 and "already" not in inner(ship) and system.issued == {}


def test_a_line_moves_to_another_warehouse_with_its_reservation() -> None:
    system = d365()
    number = order(system)
    line = f"SalesOrderLines(dataAreaId='usmf',SalesOrderNumber='{number}',LineCreationSequenceNumber=1)"
    assert call(system, "PATCH", line, {"ShippingWarehouseId": "DC2"}).status == 204
    assert call(system, "PATCH", line, {"ShippingWarehouseId": "DC2"}).status == 204  # the same: no-op
    assert system.stock[("DC1", "SKU-1")]["reserved"] == 0 and system.stock[("DC2", "SKU-1")]["reserved"] == 2
    missing = line.replace("=1)", "=9)")
    assert call(system, "PATCH", missing, {"ShippingWarehouseId": "DC2"}).status == 404


def test_a_return_order_is_received_into_stock_once_and_named_by_its_order() -> None:
    system = d365()
    number = order(system)
    created = call(system, "POST", "ReturnOrderHeaders",
                   {"dataAreaId": "usmf", "CustomerAccountNumber": "C1", "CustomersOrderReference": "RET-1",
                    "OriginalSalesOrderNumber": number})  # fmt: skip
    rma = created.body["ReturnOrderNumber"]
    path = f"ReturnOrderHeaders(dataAreaId='usmf',ReturnOrderNumber='{rma}')/{ACTION}.PostPackingSlip"
    lines = {"Lines": [{"ItemNumber": "SKU-1", "ReceivedQuantity": 1, "InventoryWarehouseId": "DC1"}]}
    assert call(system, "POST", path, {"Lines": []}).status == 400
    assert call(system, "POST", path, lines).status == 200
    again = call(system, "POST", path, lines)
    assert again.status == 400 and "already" in inner(again)
    assert system.restocked == {("DC1", "SKU-1"): 1} and system.stock[("DC1", "SKU-1")]["on_hand"] == 6
    assert system.returns_of_order(number) == ["RET-1"] and system.returns_of_order("SO-404") == []


def test_an_adjustment_journal_line_has_no_duplicate_check_but_is_found_by_its_text() -> None:
    system = d365()
    line = {"dataAreaId": "usmf", "ItemNumber": "SKU-1", "InventoryWarehouseId": "DC1",
            "InventoryQuantity": -2, "Text": "ADJ-7"}  # fmt: skip
    first, second = (call(system, "POST", "InventoryAdjustmentJournalEntries", line) for _ in range(2))
    assert (
        first.status == second.status == 201 and first.body["JournalNumber"] != second.body["JournalNumber"]
    )
    assert system.moved == {("DC1", "SKU-1"): -4} and system.stock[("DC1", "SKU-1")]["on_hand"] == 1
    found = call(system, "GET", "InventoryAdjustmentJournalEntries", **{"$filter": "Text eq 'ADJ-7'"})
    assert [row["JournalNumber"] for row in found.body["value"]] == [first.body["JournalNumber"],
                                                                      second.body["JournalNumber"]]  # fmt: skip
    assert (
        call(system, "POST", "InventoryAdjustmentJournalEntries", {**line, "InventoryQuantity": 0}).status
        == 400
    )


def test_on_hand_lists_every_item_and_warehouse_or_one_item() -> None:
    system = d365()
    order(system)
    rows = call(system, "GET", "WarehousesOnHandV2").body["value"]
    assert [(r["InventoryWarehouseId"], r["OnHandQuantity"], r["AvailableOnHandQuantity"]) for r in rows] == [
        ("DC1", 5, 3),
        ("DC2", 4, 4),
    ]
    assert call(system, "GET", "WarehousesOnHandV2", **{"$filter": "Warehouse eq 'DC1'"}).status == 400


def test_a_replacement_order_names_the_document_it_makes_good() -> None:
    system = d365()
    original = order(system)
    replacement = order(system, CustomerRequisitionNumber=original)
    assert system.replaced_document(replacement) == original and system.replaced_document(original) is None
    assert system.order_state(replacement) == "open"
