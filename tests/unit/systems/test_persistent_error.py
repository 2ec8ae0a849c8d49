"""``persistent_error``: a system that cannot process some entities fails every call about them.

What it is for: the fault that makes messages spend their whole retry budget (sim/faults.py). The hit
entities are a stable function of the fault's salt and the entity (never Python's ``hash()``); a hit
entity answers a retriable 500 in the product's own error shape, or — for ``timeout_share`` of them —
never answers and commits nothing; every other entity goes through.
"""

from __future__ import annotations

import random

import simpy

from retailsim.systems import LOST_REPLY, Erp, Request, Response, ServiceCloud
from retailsim.systems.base import PersistentError
from tests.unit.systems.support import sales_order, served

SO = "/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder"


def about(order_no: str, request: Request) -> Request:
    request.headers["X-Correlation-ID"] = order_no
    return request


def test_the_hit_entities_are_a_stable_share_chosen_by_the_salt() -> None:
    entities = [f"{n:08d}" for n in range(4000)]
    fault = PersistentError(0.1, salt=7)
    hit = [e for e in entities if fault.outcome(e) is not None]
    assert 300 < len(hit) < 500  # about a tenth
    assert hit == [e for e in entities if PersistentError(0.1, salt=7).outcome(e) is not None]
    assert hit != [e for e in entities if PersistentError(0.1, salt=8).outcome(e) is not None]
    timeouts = PersistentError(0.1, salt=7, timeout_share=0.5)
    kinds = [timeouts.outcome(e) for e in hit]
    assert {"timeout", "error"} == set(kinds)
    assert [e for e in entities if timeouts.outcome(e) is not None] == hit  # the same entities are hit


def test_every_call_about_a_hit_order_fails_with_a_retriable_odata_500_and_others_post() -> None:
    erp = Erp(simpy.Environment(), random.Random(1), stock={"DC1": {"SKU-1": 50}})
    fault = PersistentError(0.5, salt=3)
    erp.faults.persistent_error = fault
    orders = [f"{n:08d}" for n in range(20)]
    hit = [o for o in orders if fault.outcome(o) == "error"]
    fine = [o for o in orders if fault.outcome(o) is None]
    assert hit and fine
    for _ in range(3):  # for as long as the fault lasts, not once
        refused = served(erp, about(hit[0], Request("POST", SO, sales_order(hit[0]))))
        assert isinstance(refused, Response) and refused.status == 500
        assert refused.body["error"]["code"].startswith("/IWFND/") and "innererror" in refused.body["error"]
        looked_up = served(erp, about(hit[0], Request("GET", SO)))
        assert isinstance(looked_up, Response) and looked_up.status == 500
    assert hit[0] not in erp.by_po
    posted = served(erp, about(fine[0], Request("POST", SO, sales_order(fine[0]))))
    assert isinstance(posted, Response) and posted.status == 201
    erp.faults.persistent_error = None
    after = served(erp, about(hit[0], Request("POST", SO, sales_order(hit[0]))))
    assert isinstance(after, Response) and after.status == 201


def test_a_hanging_entity_gets_no_reply_and_nothing_is_committed() -> None:
    erp = Erp(simpy.Environment(), random.Random(1), stock={"DC1": {"SKU-1": 50}})
    erp.faults.persistent_error = PersistentError(1.0, salt=1, timeout_share=1.0)
    assert served(erp, about("00000001", Request("POST", SO, sales_order("00000001")))) is LOST_REPLY
    assert "00000001" not in erp.by_po


def test_salesforce_answers_its_json_array_with_unknown_exception() -> None:
    org = ServiceCloud(simpy.Environment(), random.Random(1))
    org.faults.persistent_error = PersistentError(1.0, salt=1)
    path = "/services/data/v59.0/sobjects/Order/External_Id__c/0001"
    refused = served(org, about("0001", Request("PATCH", path, {"OMS_Status__c": "posted_to_erp"})))
    assert isinstance(refused, Response) and refused.status == 500
    assert refused.body[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    assert "0001" not in org.status_history
