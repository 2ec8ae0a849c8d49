"""The legacy ECC's batch protocol, through its mock and the core adapter's reading of it.

What the shared contract suite cannot say about a batch ERP: an IDoc is received at once and posted only
when its window's run comes; the acknowledgement is in a status file pulled later (reading it twice loses
nothing); one bad IDoc rejects its whole window (its own text for it, "batch aborted" for the rest), and
the adapter reads that as dead letter vs. resend; a resubmitted IDoc posts again (no duplicate check), so
only the look-up keeps one order one sales order.
"""

from __future__ import annotations

import random

import simpy

from retailsim.core.adapters import sap_ecc as adapter
from retailsim.core.adapters.deferred import AckOutcome
from retailsim.core.adapters.http import Reply as CoreReply
from retailsim.systems.base import Request, Response
from retailsim.systems.sap_ecc import SapEcc
from tests.contract.erp.drivers import Order, SapEccDriver
from tests.unit.systems.support import answered

DRIVER = SapEccDriver()


def ecc(window_s: float = 300.0) -> SapEcc:
    return SapEcc(
        simpy.Environment(), random.Random(7), stock={"DC1": {"SKU-1": 50}}, batch_window_s=window_s
    )


def receive(erp: SapEcc, order_no: str, *, sold_to: str | None = "C1") -> str:
    """Hand one IDoc to the port without running the clock; its DOCNUM."""
    reply = erp.dispatch(Request("POST", adapter.IDOC_INBOUND, DRIVER._idoc(Order(order_no), sold_to)))
    assert reply.status == 202 and reply.body["STATUS"] == "64"
    return str(reply.body["DOCNUM"])


def files(erp: SapEcc, after: str = "0") -> CoreReply:
    reply = erp.dispatch(Request("GET", adapter.STATUS_FILES, query={"after": after}))
    return CoreReply(reply.status, reply.body)


def test_an_idoc_is_received_at_once_and_posted_when_its_window_runs() -> None:
    erp = ecc()
    erp.env.run(until=100)
    receive(erp, "SHOP-1")
    assert erp.sales_orders == {} and files(erp).body == {"FILES": []}
    erp.env.run(until=299.9)
    assert erp.sales_orders == {}  # the run is at the next multiple of the window
    erp.env.run()
    assert erp.env.now == 300 and len(erp.orders_by_reference["SHOP-1"]) == 1
    [ack] = adapter.acknowledgements(files(erp))
    assert ack.outcome is AckOutcome.DONE and ack.reference == "SHOP-1"
    assert ack.body["VBELN"] == erp.orders_by_reference["SHOP-1"][0]


def test_status_files_are_pulled_after_a_cursor_and_reading_changes_nothing() -> None:
    erp = ecc()
    receive(erp, "SHOP-1")
    erp.env.run()
    receive(erp, "SHOP-2")
    erp.env.run()
    first = files(erp)
    assert files(erp) == first and adapter.last_file(first) == "2"
    assert [ack.reference for ack in adapter.acknowledgements(files(erp, "1"))] == ["SHOP-2"]
    assert files(erp, "2").body == {"FILES": []} and adapter.last_file(files(erp, "2")) is None


def test_one_bad_idoc_rejects_its_whole_window_and_the_adapter_tells_which_to_resend() -> None:
    erp = ecc()
    receive(erp, "SHOP-1")
    receive(erp, "SHOP-BAD", sold_to=None)
    receive(erp, "SHOP-3")
    erp.env.run()
    assert erp.sales_orders == {} and erp.batches[-1]["posted"] is False
    outcomes = {ack.reference: ack for ack in adapter.acknowledgements(files(erp))}
    assert outcomes["SHOP-BAD"].outcome is AckOutcome.REFUSED
    assert "SoldToParty" in outcomes["SHOP-BAD"].text
    for good in ("SHOP-1", "SHOP-3"):
        assert outcomes[good].outcome is AckOutcome.RESEND and "Batch aborted" in outcomes[good].text
    assert erp.stock[("DC1", "SKU-1")]["reserved"] == 0  # nothing of the window was booked
    receive(erp, "SHOP-1")  # resubmitted: posts in the next window
    erp.env.run()
    assert list(erp.orders_by_reference) == ["SHOP-1"]


def test_unknown_master_data_fails_at_posting_not_at_the_port() -> None:
    erp = ecc()
    erp.faults.poison_rate = 1.0
    reply = answered(erp, Request("POST", adapter.IDOC_INBOUND, DRIVER._idoc(Order("SHOP-1"), "C1")))
    assert reply.status == 202  # the file port takes it...
    [ack] = adapter.acknowledgements(files(erp))  # ...the run refuses it, with its own words
    assert ack.outcome is AckOutcome.REFUSED and "not defined" in ack.text


def test_no_duplicate_check_so_the_look_up_reads_the_idoc_monitor() -> None:
    erp = ecc()
    receive(erp, "SHOP-1")
    monitor = erp.dispatch(Request("GET", adapter.IDOC_INBOUND, query={"BELNR": "SHOP-1"}))
    waiting = CoreReply(monitor.status, monitor.body)
    assert adapter.posted_sales_orders(waiting) == [] and adapter.waiting_idoc(waiting) is not None
    receive(erp, "SHOP-1")  # a resend without looking: a second IDoc...
    erp.env.run()
    assert len(erp.orders_by_reference["SHOP-1"]) == 2  # ...posts a second sales order
    monitor = erp.dispatch(Request("GET", adapter.IDOC_INBOUND, query={"BELNR": "SHOP-1"}))
    posted = CoreReply(monitor.status, monitor.body)
    assert adapter.posted_sales_orders(posted) == sorted(erp.orders_by_reference["SHOP-1"])
    assert adapter.waiting_idoc(posted) is None


def test_a_non_idoc_file_is_refused_at_the_port() -> None:
    erp = ecc()
    reply = erp.dispatch(Request("POST", adapter.IDOC_INBOUND, {"E1EDK01": {"BELNR": "SHOP-1"}}))
    assert isinstance(reply, Response) and reply.status == 400 and erp.idocs == {}
