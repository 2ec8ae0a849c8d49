"""Status pushes in bulk (core/service/dispatch.py, ``CommandSpec.batch``): pushes decided within one flush
window are due at its tick and go to Service Cloud as ONE sObject Collections request; its reply is read
record by record, each message meeting the rules its own reply would have met, all in one transaction."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from retailsim.core import CoreConfig, IntegrationCore
from retailsim.core.adapters import salesforce
from retailsim.core.adapters.http import Reply
from retailsim.core.adapters.registry import CommandRegistry
from retailsim.core.adapters.spec import Lookup
from retailsim.core.config import BulkStatusConfig
from retailsim.core.errors import CoreError
from retailsim.core.frozen import updated
from retailsim.core.reliability.breaker import BreakerState
from retailsim.core.stores.memory import MemoryStore
from tests.factories import scapi_order

COLLECTION = "/services/data/v59.0/composite/sobjects/Order/External_Id__c"
ORDERS = ["00000001", "00000002", "00000003"]


def core_with_orders(window_s: float = 2.0, max_records: int = 200, **knobs: Any) -> IntegrationCore:
    config = CoreConfig(bulk_status=BulkStatusConfig(window_s=window_s, max_records=max_records), **knobs)
    core = IntegrationCore(MemoryStore(), config)
    core.load_inventory([("SKU-00001", "DC1", 50)], 0.0)
    for i, order_no in enumerate(ORDERS):
        core.submit_order(scapi_order(order_no), f"key-{i}", 1.0 + i * 0.1)
    return core


def pushes(core: IntegrationCore) -> list[tuple[str, float, str]]:
    store = core.store
    assert isinstance(store, MemoryStore)
    return [
        (m.aggregate_id, m.available_at, m.status)
        for m in store._messages.values()
        if m.kind == "UpsertOrderStatus"
    ]


def ok(created: bool = True) -> dict[str, Any]:
    return {"id": "801000000000000001", "success": True, "errors": [], "created": created}


def failed(code: str) -> dict[str, Any]:
    return {"id": None, "success": False, "errors": [{"statusCode": code, "message": code, "fields": []}]}


def synced(core: IntegrationCore, order_no: str) -> int:
    with core.store.transaction() as tx:
        record = core._load_record(tx, order_no)
    assert record is not None
    return record.synced.get("service_cloud", 0)


def test_pushes_are_due_at_the_window_tick_and_claimed_as_one_collection() -> None:
    core = core_with_orders()
    assert pushes(core) == [(order_no, 2.0, "pending") for order_no in ORDERS]
    assert core.claim("service_cloud", 1.5) is None  # not before the tick
    delivery = core.claim("service_cloud", 2.0)
    assert delivery is not None and [m.aggregate_id for m in delivery.messages] == ORDERS
    request = delivery.request
    assert (request.method, request.path) == ("PATCH", COLLECTION)
    assert request.body["allOrNone"] is False
    records = request.body["records"]
    assert [r["External_Id__c"] for r in records] == ORDERS
    assert all(r["attributes"] == {"type": "Order"} and r["OMS_Status__c"] == "stock_reserved" for r in records)
    assert request.headers["X-Correlation-ID"] == ",".join(ORDERS)  # every message's id, in order


def test_window_zero_and_one_record_send_each_push_alone_as_before() -> None:
    core = core_with_orders(window_s=0.0, max_records=1)
    assert [at for _, at, _ in pushes(core)] == [1.0, 1.1, 1.2]  # due when decided
    delivery = core.claim("service_cloud", 1.2)
    assert delivery is not None and delivery.batch == ()
    assert delivery.request.path.endswith("/sobjects/Order/External_Id__c/00000001")
    assert delivery.request.headers["X-Correlation-ID"] == "00000001"


def test_max_records_caps_a_collection() -> None:
    core = core_with_orders(max_records=2)
    first = core.claim("service_cloud", 2.0)
    assert first is not None and [m.aggregate_id for m in first.messages] == ORDERS[:2]
    rest = core.claim("service_cloud", 2.0)
    assert rest is not None and [m.aggregate_id for m in rest.messages] == ORDERS[2:]
    assert rest.batch == ()  # a lone push goes in its single form


def test_each_record_meets_its_own_outcome_in_one_reply() -> None:
    core = core_with_orders(retry_max_attempts=3)
    delivery = core.claim("service_cloud", 2.0)
    assert delivery is not None
    reply = Reply(200, [ok(), failed("UNABLE_TO_LOCK_ROW"), failed("INVALID_FIELD")])
    assert core.on_reply(delivery, reply, 2.5) is None
    assert [r.status for r in delivery.replies] == [201, 503, 400]  # what each message met
    assert synced(core, "00000001") == 1  # delivered: the org holds its status
    assert synced(core, "00000002") == 0 and synced(core, "00000003") == 0
    states = {order_no: status for order_no, _, status in pushes(core)}
    assert states == {"00000002": "pending"}  # retried; the first delivered, the third dead
    (dead,) = core.store.dead_letters()
    assert dead.aggregate_id == "00000003" and "INVALID_FIELD" in dead.reason
    assert core.dispatch.breakers["service_cloud"].state is BreakerState.CLOSED  # the org answered


def test_a_push_superseded_before_its_send_completes_silently_and_the_others_go() -> None:
    core = core_with_orders()
    with core.store.transaction() as tx:  # Service Cloud already holds a newer status of the second order
        record = core._load_record(tx, ORDERS[1])
        assert record is not None
        core._save_record(tx, updated(record, {"synced": {"service_cloud": 9}}), 1.5)
    delivery = core.claim("service_cloud", 2.0)
    assert delivery is not None and [m.aggregate_id for m in delivery.messages] == [ORDERS[0], ORDERS[2]]
    assert [r["External_Id__c"] for r in delivery.request.body["records"]] == [ORDERS[0], ORDERS[2]]
    assert delivery.request.headers["X-Correlation-ID"] == f"{ORDERS[0]},{ORDERS[2]}"
    assert core.counters["superseded_messages"] == 1
    assert [order_no for order_no, _, _ in pushes(core)] == [ORDERS[0], ORDERS[2]]  # the second is done


@pytest.mark.parametrize("failure", [Reply(503, [{"errorCode": "SERVER_UNAVAILABLE"}]), Reply(None)])
def test_a_failed_request_retries_every_message_and_counts_once(failure: Reply) -> None:
    core = core_with_orders(breaker_failures=2)
    delivery = core.claim("service_cloud", 2.0)
    assert delivery is not None and len(delivery.messages) == 3
    core.on_reply(delivery, failure, 2.5)
    assert [status for _, _, status in pushes(core)] == ["pending"] * 3
    assert core.store.dead_letters() == []
    assert core.dispatch.breakers["service_cloud"].state is BreakerState.CLOSED  # one failure, not three


def test_a_throttled_collection_costs_no_attempt() -> None:
    core = core_with_orders(retry_max_attempts=1)
    delivery = core.claim("service_cloud", 2.0)
    assert delivery is not None
    limit = Reply(403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    core.on_reply(delivery, limit, 2.5)
    assert core.store.dead_letters() == []  # one attempt allowed, and the throttled one was free
    assert all(status == "pending" for _, _, status in pushes(core))


def test_an_unreadable_200_retries_every_record() -> None:
    core = core_with_orders()
    delivery = core.claim("service_cloud", 2.0)
    assert delivery is not None
    core.on_reply(delivery, Reply(200, [ok()]), 2.5)  # one result for three records
    assert [r.status for r in delivery.replies] == [502, 502, 502]
    assert all(status == "pending" for _, _, status in pushes(core))


def test_one_token_per_collection() -> None:
    core = core_with_orders(rate_limits={"service_cloud": 1.0})
    bucket = core.dispatch.buckets["service_cloud"]
    before = bucket.ready_at(2.0)
    delivery = core.claim("service_cloud", 2.0)
    assert delivery is not None and len(delivery.messages) == 3
    assert bucket.ready_at(2.0) > before  # the one token is spent ...
    assert core.claim("service_cloud", 2.0) is None  # ... and nothing else is due


def test_a_collection_form_with_a_look_up_is_refused_at_assembly() -> None:
    upsert = next(spec for spec in salesforce.COMMANDS if spec.batch is not None)
    look_up = Lookup(render=lambda command: salesforce.get_order(command.record.order_no), found=lambda _: [])
    with pytest.raises(CoreError, match="collection form"):
        CommandRegistry([dataclasses.replace(upsert, lookup=look_up)])
