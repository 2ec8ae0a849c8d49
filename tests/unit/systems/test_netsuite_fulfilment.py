"""NetSuite's fulfilment, close, return receipt and inventory adjustment (the mock), and the adapter's
reading of its refusals: what the shipped scenarios need of the ``netsuite`` dialect beyond create."""

from __future__ import annotations

from retailsim.core.adapters import netsuite as adapter
from retailsim.core.adapters.http import Reply, Verdict, judge
from retailsim.systems import NetSuite, Request, Response
from tests.unit.systems.test_erp_dialects import NS, netsuite, ns_order


def placed(system: NetSuite, external_id: str = "SHOP-1") -> str:
    created = system.dispatch(Request("PUT", f"{NS}/salesOrder/eid:{external_id}", ns_order(external_id)))
    assert created.status == 204
    return str(created.headers["Location"].rsplit("/", 1)[-1])


def as_reply(response: Response) -> Reply:
    return Reply(response.status, response.body, dict(response.headers))


def test_fulfilment_issues_the_committed_units_once_and_a_second_is_already_done() -> None:
    system = netsuite()
    order = placed(system)
    first = system.dispatch(Request("POST", f"{NS}/salesOrder/{order}/!transform/itemFulfillment", {}))
    assert first.status == 204 and "/itemFulfillment/" in first.headers["Location"]
    assert system.stock[("DC1", "SKU-1")] == {"on_hand": 3, "reserved": 0}
    assert system.issued == {("DC1", "SKU-1"): 2} and system.order_state(order) == "completed"
    again = system.dispatch(Request("POST", f"{NS}/salesOrder/{order}/!transform/itemFulfillment", {}))
    assert again.status == 400 and adapter.already_done(as_reply(again))
    assert system.issued == {("DC1", "SKU-1"): 2}


def test_closing_every_line_cancels_the_order_and_releases_its_commitment() -> None:
    system = netsuite()
    order = placed(system)
    close = {"item": {"items": [{"line": 1, "isClosed": True}]}}
    assert system.dispatch(Request("PATCH", f"{NS}/salesOrder/{order}", close)).status == 204
    assert system.order_state(order) == "cancelled" and system.stock[("DC1", "SKU-1")]["reserved"] == 0
    assert system.dispatch(Request("PATCH", f"{NS}/salesOrder/{order}", close)).status == 204  # no-op
    refused = system.dispatch(Request("POST", f"{NS}/salesOrder/{order}/!transform/itemFulfillment", {}))
    assert refused.status == 400 and not adapter.already_done(as_reply(refused))  # closed, not shipped


def test_a_line_moved_to_another_location_is_committed_there() -> None:
    system = netsuite()
    system.stock[("ST1", "SKU-1")] = {"on_hand": 4, "reserved": 0}
    order = placed(system)
    move = {"item": {"items": [{"line": 1, "location": {"id": "ST1"}}]}}
    assert system.dispatch(Request("PATCH", f"{NS}/salesOrder/{order}", move)).status == 204
    assert system.stock[("DC1", "SKU-1")]["reserved"] == 0 and system.stock[("ST1", "SKU-1")]["reserved"] == 2


def test_an_upsert_of_a_fulfilled_order_commits_nothing_again() -> None:
    system = netsuite()
    order = placed(system)
    system.dispatch(Request("POST", f"{NS}/salesOrder/{order}/!transform/itemFulfillment", {}))
    assert placed(system) == order
    assert system.stock[("DC1", "SKU-1")] == {"on_hand": 3, "reserved": 0}


def test_return_receipt_restocks_once() -> None:
    system = netsuite()
    order = placed(system)
    ra = system.dispatch(
        Request("POST", f"{NS}/salesOrder/{order}/!transform/returnAuthorization", {"externalId": "RET-1"})
    )
    authorisation = ra.headers["Location"].rsplit("/", 1)[-1]
    assert authorisation != order  # one id sequence for every transaction type
    assert system.returns_of_order(order) == ["RET-1"]
    receipt = {"item": {"items": [{"item": {"id": "SKU-1"}, "quantity": 1, "location": {"id": "DC1"}}]}}
    path = f"{NS}/returnAuthorization/{authorisation}/!transform/itemReceipt"
    assert system.dispatch(Request("POST", path, receipt)).status == 204
    again = system.dispatch(Request("POST", path, receipt))
    assert again.status == 400 and adapter.already_done(as_reply(again))
    assert system.restocked == {("DC1", "SKU-1"): 1} and system.stock[("DC1", "SKU-1")]["on_hand"] == 6


def test_inventory_adjustment_upsert_moves_stock_by_the_difference_only() -> None:
    system = netsuite()

    def adjust(by: int) -> Response:
        line = {"item": {"id": "SKU-1"}, "location": {"id": "DC1"}, "adjustQtyBy": by}
        body = {"adjLocation": {"id": "DC1"}, "inventory": {"items": [line]}}
        return system.dispatch(Request("PUT", f"{NS}/inventoryAdjustment/eid:ADJ-1", body))

    first, retry = adjust(-2), adjust(-2)
    assert first.status == retry.status == 204 and first.headers["Location"] == retry.headers["Location"]
    assert system.stock[("DC1", "SKU-1")]["on_hand"] == 3 and system.moved == {("DC1", "SKU-1"): -2}
    adjust(1)
    assert system.stock[("DC1", "SKU-1")]["on_hand"] == 6 and system.moved == {("DC1", "SKU-1"): 1}


def test_the_stock_snapshot_reads_on_hand_per_location() -> None:
    system = netsuite()
    request = adapter.stock_snapshot()
    reply = system.dispatch(Request(request.method, request.path, request.body, dict(request.headers)))
    assert adapter.parse_stock(as_reply(reply)) == [("SKU-1", "DC1", 5)]


def test_netsuite_concurrency_refusals_are_retried_and_other_400s_are_not() -> None:
    limit = {"o:errorDetails": [{"detail": "limit", "o:errorCode": "SSS_REQUEST_LIMIT_EXCEEDED"}]}
    invalid = {"o:errorDetails": [{"detail": "bad", "o:errorCode": "INVALID_CONTENT"}]}
    assert judge(Reply(400, limit)) is Verdict.RETRY
    assert judge(Reply(400, invalid)) is Verdict.PERMANENT
