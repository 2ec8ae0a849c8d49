"""The Oracle Fusion OM mock's documents beyond create and look-up, and how the Fusion adapter reads them.

Revisions (never a second order, never booked twice), cancel, ship confirmation, RMA receipt and staged
inventory transactions, each done once and refused "already ..." the second time — the refusals the
adapter takes as benign (and the ones it must not); the ledgers in the harness's words.
"""

from __future__ import annotations

import random
from typing import Any

import simpy

from retailsim.core.adapters import oracle_fusion as adapter
from retailsim.core.adapters.http import Reply, Verdict, judge
from retailsim.systems.base import Request, Response
from retailsim.systems.oracle_fusion import (
    ADF_ERROR,
    ORDER_HUB,
    RECEIPTS,
    SHIPMENTS,
    STAGED,
    OracleFusion,
)

STOCK = {"DC1": {"SKU-1": 5}, "DC2": {"SKU-1": 4}}
ADF = {"Accept": ADF_ERROR}
KEY = "OPS:SHOP-1"


def fusion() -> OracleFusion:
    return OracleFusion(simpy.Environment(), random.Random(1), stock=STOCK)


def order(quantity: int = 2, organisation: str = "DC1", **header: Any) -> dict[str, Any]:
    line = {
        "ProductNumber": "SKU-1",
        "OrderedQuantity": quantity,
        "RequestedFulfillmentOrganizationCode": organisation,
    }
    return {
        "SourceTransactionNumber": "SHOP-1",
        "SourceTransactionSystem": "OPS",
        "SourceTransactionId": "SHOP-1",
        "BusinessUnitName": "BU1",
        "BuyingPartyNumber": "1006",
        "TransactionalCurrencyCode": "USD",
        "lines": [line],
        **header,
    }


def rma(number: str = "RET-1") -> dict[str, Any]:
    body = order(1, SourceTransactionNumber=number, SourceTransactionId=number)
    body["lines"][0].update(
        TransactionCategoryCode="RETURN",
        DocumentReference=[
            {
                "DocumentReferenceType": "ORIGINAL_SALES_ORDER",
                "DocumentAdditionalIdentifier": "OPS",
                "DocumentIdentifier": "SHOP-1",
            }
        ],
    )
    return body


def send(system: OracleFusion, method: str, path: str, body: Any = None) -> Response:
    return system.dispatch(Request(method, path, body, headers=dict(ADF)))


def ship(system: OracleFusion, key: str = KEY) -> Response:
    shipment = {"Shipment": "S1", "OrganizationCode": "DC1", "unpackedLines": [{"SourceOrder": key}]}
    return send(system, "POST", SHIPMENTS, {"shipments": [shipment]})


def as_reply(response: Response) -> Reply:
    return Reply(response.status, response.body, dict(response.headers))


def test_a_higher_revision_number_revises_the_order_and_a_plain_repeat_changes_nothing() -> None:
    system = fusion()
    send(system, "POST", ORDER_HUB, order(2))
    repeat = send(system, "POST", ORDER_HUB, order(3))
    assert repeat.status == 400 and adapter.already_exists(as_reply(repeat))
    assert system.stock[("DC1", "SKU-1")]["reserved"] == 2 and system.revisions == 0
    revised = send(system, "POST", ORDER_HUB, order(3, "DC2", SourceTransactionRevisionNumber=2))
    assert revised.status == 200 and revised.body["SourceTransactionRevisionNumber"] == 2
    assert system.stock[("DC1", "SKU-1")]["reserved"] == 0 and system.stock[("DC2", "SKU-1")]["reserved"] == 3
    assert system.orders_by_reference == {"SHOP-1": [KEY]} and system.revisions == 1


def test_ship_confirmation_issues_the_reservation_once_and_closes_the_order() -> None:
    system = fusion()
    send(system, "POST", ORDER_HUB, order(2))
    assert ship(system).status == 201
    assert system.issued == {("DC1", "SKU-1"): 2} and system.stock[("DC1", "SKU-1")] == {
        "on_hand": 3,
        "reserved": 0,
    }
    again = ship(system)
    assert again.status == 400 and adapter.already_done(as_reply(again))
    assert system.issued == {("DC1", "SKU-1"): 2} and system.order_state(KEY) == "completed"
    revision = send(system, "POST", ORDER_HUB, order(1, SourceTransactionRevisionNumber=2))
    assert revision.status == 400 and system.issued == {("DC1", "SKU-1"): 2}  # a closed order is not revised


def test_cancel_releases_the_reservation_once_and_a_canceled_order_is_not_shipped() -> None:
    system = fusion()
    send(system, "POST", ORDER_HUB, order(2))
    assert send(system, "PATCH", f"{ORDER_HUB}/{KEY}", {"CanceledFlag": True}).status == 200
    assert system.stock[("DC1", "SKU-1")]["reserved"] == 0 and system.order_state(KEY) == "cancelled"
    again = send(system, "PATCH", f"{ORDER_HUB}/{KEY}", {"CanceledFlag": True})
    assert again.status == 400 and adapter.already_done(as_reply(again))
    refused = ship(system)
    assert refused.status == 400 and not adapter.already_done(as_reply(refused))  # not "done": a real fault
    assert system.issued == {}


def test_cancel_after_shipping_is_refused_as_already_closed() -> None:
    system = fusion()
    send(system, "POST", ORDER_HUB, order(2))
    ship(system)
    late = send(system, "PATCH", f"{ORDER_HUB}/{KEY}", {"CanceledFlag": True})
    assert (
        late.status == 400 and adapter.already_done(as_reply(late)) and system.order_state(KEY) == "completed"
    )


def test_an_rma_reserves_nothing_is_received_once_and_belongs_to_its_order() -> None:
    system = fusion()
    send(system, "POST", ORDER_HUB, order(2))
    created = send(system, "POST", ORDER_HUB, rma())
    assert created.status == 201 and system.returns_by_reference == {"RET-1": ["OPS:RET-1"]}
    assert system.stock[("DC1", "SKU-1")]["reserved"] == 2 and len(system.sales_orders) == 1
    line = {"RMANumber": "OPS:RET-1", "OrganizationCode": "DC1", "ItemNumber": "SKU-1", "Quantity": 1}
    receipt = {"ReceiptSourceCode": "CUSTOMER", "lines": [line]}
    assert send(system, "POST", RECEIPTS, receipt).status == 201
    again = send(system, "POST", RECEIPTS, receipt)
    assert again.status == 400 and adapter.already_done(as_reply(again))
    assert system.restocked == {("DC1", "SKU-1"): 1} and system.returns_of_order(KEY) == ["RET-1"]


def test_staged_transactions_move_stock_by_their_signed_quantity_and_are_found_by_reference() -> None:
    system = fusion()
    for quantity in (3, -1):
        body = {"OrganizationCode": "DC1", "ItemNumber": "SKU-1", "TransactionQuantity": quantity,
                "TransactionReference": f"ADJ-{quantity}"}  # fmt: skip
        assert send(system, "POST", STAGED, body).status == 201
    assert system.moved == {("DC1", "SKU-1"): 2} and system.stock[("DC1", "SKU-1")]["on_hand"] == 7
    found = system.dispatch(Request("GET", STAGED, query={"q": "TransactionReference='ADJ-3'"}))
    assert adapter.found_field(as_reply(found), "TransactionInterfaceId") == ["800001"]


def test_a_replacement_names_the_order_it_makes_good() -> None:
    system = fusion()
    send(system, "POST", ORDER_HUB, order(1))
    replacement = order(
        1, SourceTransactionNumber="SHOP-1-R", SourceTransactionId="SHOP-1-R", ReplacesOrderKey=KEY
    )
    send(system, "POST", ORDER_HUB, replacement)
    assert system.replaced_document("OPS:SHOP-1-R") == KEY and system.replaced_document(KEY) is None


def test_the_adapter_reads_refusals_in_adf_json_and_in_plain_text_and_retries_a_bare_429() -> None:
    system = fusion()
    send(system, "POST", ORDER_HUB, order(2))
    plain = system.dispatch(Request("POST", ORDER_HUB, order(2)))  # no ADF Accept: plain text
    assert isinstance(plain.body, str) and adapter.already_exists(as_reply(plain))
    throttled = as_reply(system.rate_limited(2.0))
    assert "Retry-After" not in throttled.headers and judge(throttled) is Verdict.RETRY
    assert not adapter.already_exists(throttled) and adapter.error_text(throttled) == "Too Many Requests"
    malformed = send(system, "POST", ORDER_HUB, order(2, BuyingPartyNumber=""))
    assert judge(as_reply(malformed)) is Verdict.PERMANENT and not adapter.already_exists(as_reply(malformed))


def test_the_stock_snapshot_reads_every_item_and_organisation() -> None:
    system = fusion()
    request = adapter.stock_snapshot()
    reply = system.dispatch(Request(request.method, request.path, headers=dict(request.headers)))
    assert adapter.parse_stock(as_reply(reply)) == [("SKU-1", "DC1", 5), ("SKU-1", "DC2", 4)]
