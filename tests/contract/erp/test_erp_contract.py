"""The ERP contract suite, mock side: every dialect in the registry answers the cases of issue 14.

Create, duplicate create (each product's own behaviour), look-up by the storefront order number, lost
reply then retry, 429 with and without Retry-After, malformed order (the product's error body), return
authorisation, credit memo and stock query. The wire traffic comes from ``drivers.py`` (one driver per
dialect); what each product is expected to do differently is in the tables below, and the ledgers the
harness's invariants read (``ErpSystem``) are checked the same way for all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from retailsim.core.adapters.registry import ERP_DIALECTS as CORE_ERP_DIALECTS
from retailsim.systems import ERP_DIALECTS, ErpSystem, Response
from tests.contract.erp.conftest import drivers_of, make_erp
from tests.contract.erp.drivers import ErpDriver, Exchange, Line, Order, Return
from tests.unit.systems.support import answered, served

T = TypeVar("T")
ORDER = Order("SHOP-1001")


def run(
    system: ErpSystem, exchange: Exchange[T], *, lose_first_write: bool = False, lose_write: int = 0
) -> T:
    """Drive one exchange through ``system.call``; optionally a write commits but its reply is lost: the
    first (``lose_first_write``) or the ``lose_write``-th (1-based; beyond the last write, none is lost)."""
    lose_write = 1 if lose_first_write else lose_write
    writes = 0
    try:
        request = next(exchange)
        while True:
            writes += request.method != "GET"
            lose = request.method != "GET" and writes == lose_write
            system.faults.lost_reply_rate = 1.0 if lose else 0.0
            reply = served(system, request)
            system.faults.lost_reply_rate = 0.0
            request = exchange.send(reply)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def _sap_error(body: Any) -> str:
    return str(body["error"]["innererror"]["errordetails"][0]["code"] and body["error"]["message"]["value"])


def _netsuite_error(body: Any) -> str:
    assert isinstance(body["status"], int) and body["title"]
    return str(body["o:errorDetails"][0]["o:errorCode"] and body["o:errorDetails"][0]["detail"])


def _d365_error(body: Any) -> str:
    assert body["error"]["message"] == "An error has occurred."
    return str(body["error"]["innererror"]["message"])


def _fusion_error(body: Any) -> str:
    assert body["status"].isdigit() and body["title"]
    return str(body["o:errorDetails"][0]["o:errorCode"] and body["o:errorDetails"][0]["detail"])


def _ecc_error(body: Any) -> str:
    """An IDoc's status-51 record (an order refused at posting), or the S/4 error shape of the rest."""
    return str(body["STACOD"] and body["STATXT"]) if "STATXT" in body else _sap_error(body)


# What each product does differently; every dialect in the registry must have an entry.
ERROR_TEXT: dict[str, Callable[[Any], str]] = {
    "sap": _sap_error,
    "netsuite": _netsuite_error,
    "d365": _d365_error,
    "oracle_fusion": _fusion_error,
    "sap_ecc": _ecc_error,
}
REPEATED_CREATE = {  # status of the second identical create, sales orders then held for the number
    "sap": (201, 2),  # no duplicate check: a second sales order
    "netsuite": (400, 1),  # externalId already in use
    "d365": (201, 2),  # the number sequence draws a new SalesOrderNumber: a second sales order
    "oracle_fusion": (400, 1),  # the source-order key already exists
    "sap_ecc": (202, 2),  # the file port takes any IDoc, and no duplicate check when it posts
}
SENDS_RETRY_AFTER = {"sap": True, "netsuite": False, "d365": True, "oracle_fusion": False, "sap_ecc": True}


def test_every_dialect_has_expectations() -> None:
    assert sorted(ERROR_TEXT) == sorted(REPEATED_CREATE) == sorted(SENDS_RETRY_AFTER) == sorted(ERP_DIALECTS)


def test_every_dialect_has_hand_written_drivers_and_every_core_adapter_its_rendered_ones() -> None:
    """Cases are generated only for the pairs that exist, so none is skipped: this keeps them complete —
    every mock dialect is driven by hand, and every dialect the core has an adapter for through it."""
    assert sorted(drivers_of("tests.contract.erp.drivers")) == sorted(ERP_DIALECTS)
    assert sorted(drivers_of("tests.contract.erp.adapter_drivers")) == sorted(CORE_ERP_DIALECTS)


def test_create_books_one_sales_order_and_reserves_stock(erp: ErpSystem, driver: ErpDriver) -> None:
    reply = run(erp, driver.submit_order(ORDER))
    assert isinstance(reply, Response) and reply.ok, reply
    assert len(erp.orders_by_reference[ORDER.number]) == 1
    assert erp.stock[("DC1", "SKU-1")] == {"on_hand": 5, "reserved": 2}


def test_duplicate_create_does_what_the_product_does(dialect: str, erp: ErpSystem, driver: ErpDriver) -> None:
    run(erp, driver.submit_order(ORDER))
    second = run(erp, driver.submit_order(ORDER))
    status, orders = REPEATED_CREATE[dialect]
    assert isinstance(second, Response) and second.status == status
    if not second.ok:
        assert "already exists" in ERROR_TEXT[dialect](second.body)
    assert len(erp.orders_by_reference[ORDER.number]) == orders
    assert erp.stock[("DC1", "SKU-1")]["reserved"] == 2 * orders


def test_look_up_by_the_storefront_order_number(erp: ErpSystem, driver: ErpDriver) -> None:
    placed = run(erp, driver.place_order(ORDER))
    assert placed is not None
    assert run(erp, driver.find_orders(ORDER.number)) == [placed]
    assert run(erp, driver.find_orders("SHOP-404")) == []


def test_lost_reply_then_retry_leaves_one_complete_order(erp: ErpSystem, driver: ErpDriver) -> None:
    assert run(erp, driver.place_order(ORDER), lose_first_write=True) is None  # the worker gives up...
    assert len(erp.orders_by_reference[ORDER.number]) == 1  # ...though the ERP committed the write
    placed = run(erp, driver.place_order(ORDER))
    assert erp.orders_by_reference[ORDER.number] == [placed]
    assert erp.stock[("DC1", "SKU-1")]["reserved"] == 2  # every line there, none twice


TWO_LINES = Order("SHOP-1002", lines=(Line(), Line("SKU-2", 1)))


@pytest.mark.parametrize("lost", [1, 2, 3], ids=["first-write", "second-write", "third-write"])
def test_a_reply_lost_at_any_step_then_retry_leaves_one_complete_order(
    erp: ErpSystem, driver: ErpDriver, lost: int
) -> None:
    """A document of several requests (D365: header, then each line) may lose the reply of any of them: the
    retry completes what is missing and doubles nothing."""
    run(erp, driver.place_order(TWO_LINES), lose_write=lost)
    placed = run(erp, driver.place_order(TWO_LINES))
    assert placed is not None and erp.orders_by_reference[TWO_LINES.number] == [placed]
    assert erp.stock[("DC1", "SKU-1")]["reserved"] == 2 and erp.stock[("DC1", "SKU-2")]["reserved"] == 1


@pytest.mark.parametrize("retry_after", [True, False], ids=["with-retry-after", "without-retry-after"])
def test_throttled_create_answers_429_and_books_nothing(
    dialect: str, driver: ErpDriver, retry_after: bool
) -> None:
    erp = make_erp(dialect, retry_after=retry_after)
    erp.faults.rate_limit_per_s = 1
    run(erp, driver.find_orders(ORDER.number))  # takes the one call of this second
    throttled = answered(erp, next(driver.submit_order(ORDER)))
    assert throttled.status == 429
    assert ("Retry-After" in throttled.headers) is retry_after
    if retry_after:
        assert int(throttled.headers["Retry-After"]) >= 1
    assert erp.orders_by_reference == {} and erp.throttled == 1


def test_each_dialect_sends_retry_after_as_its_product_does(dialect: str, erp: ErpSystem) -> None:
    assert erp.retry_after is SENDS_RETRY_AFTER[dialect]


def test_malformed_order_is_refused_in_the_product_error_body(
    dialect: str, erp: ErpSystem, driver: ErpDriver
) -> None:
    reply = run(erp, driver.submit_malformed_order(ORDER))
    assert isinstance(reply, Response) and reply.status == 400
    assert ERROR_TEXT[dialect](reply.body)
    assert erp.orders_by_reference == {} and erp.stock[("DC1", "SKU-1")]["reserved"] == 0


def test_return_authorisation_and_credit_memo_are_booked_under_the_return_number(
    erp: ErpSystem, driver: ErpDriver
) -> None:
    ret = Return("RET-7", ORDER)
    order_id = run(erp, driver.place_order(ORDER))
    assert order_id is not None
    return_id = run(erp, driver.authorise_return(ret, order_id))
    assert return_id is not None and erp.returns_by_reference == {ret.number: [return_id]}
    credit_id = run(erp, driver.credit_return(ret, return_id))
    assert credit_id is not None and erp.credit_memos_by_reference == {ret.number: [credit_id]}
    assert len(erp.orders_by_reference) == 1  # a return is not a second sales order


def test_stock_query_reports_units_on_hand(erp: ErpSystem, driver: ErpDriver) -> None:
    assert run(erp, driver.stock_on_hand("SKU-1")) == 5
    run(erp, driver.place_order(ORDER))
    assert run(erp, driver.stock_on_hand("SKU-1")) == 5  # reserved, still on hand
    assert run(erp, driver.stock_on_hand("SKU-2")) == 3


def test_a_lost_reply_is_only_a_lost_reply(erp: ErpSystem, driver: ErpDriver) -> None:
    """The runner's fault really loses the reply of a committed write (so the retry case can fail)."""
    erp.faults.lost_reply_rate = 1.0
    request = next(driver.submit_order(ORDER))
    assert not isinstance(served(erp, request), Response)
    assert len(erp.orders_by_reference[ORDER.number]) == 1


@pytest.mark.parametrize("fault", ["outage", "error_rate"])
def test_a_faulty_erp_answers_in_its_own_shape_and_books_nothing(
    dialect: str, erp: ErpSystem, driver: ErpDriver, fault: str
) -> None:
    if fault == "outage":
        erp.faults.outage = True
    else:
        erp.faults.error_rate = 1.0
    reply = answered(erp, next(driver.submit_order(ORDER)))
    assert reply.status == (503 if fault == "outage" else 500)
    assert erp.orders_by_reference == {} and erp.refusals == 1
    if dialect == "oracle_fusion":  # its faults come from in front of the application: plain text
        assert isinstance(reply.body, str) and reply.body
    else:
        assert ERROR_TEXT[dialect](reply.body)
