"""Salesforce-style org: order upsert by external id (single and sObject Collections), cases, the 403 API
limit, array errors, usage header."""

from __future__ import annotations

import random
from typing import Any

import simpy

from retailsim.systems import LOST_REPLY, Request, ServiceCloud
from retailsim.systems.base import PersistentError
from tests.unit.systems.support import answered, served

API = "/services/data/v59.0/sobjects"
ORDER = f"{API}/Order/External_Id__c"


def org(**knobs: Any) -> ServiceCloud:
    return ServiceCloud(simpy.Environment(), random.Random(1), **knobs)


def status(oms_status: str, seq: int) -> dict[str, Any]:
    return {
        "Status": "Activated",
        "OMS_Status__c": oms_status,
        "OMS_Status_Seq__c": seq,
        "TotalAmount": 45.48,
    }


def assert_sf_error(body: Any, code: str) -> None:
    assert isinstance(body, list) and len(body) == 1
    assert set(body[0]) == {"message", "errorCode", "fields"} and body[0]["errorCode"] == code


def test_upsert_creates_then_updates_by_external_id() -> None:
    system = org()
    created = system.dispatch(Request("PATCH", f"{ORDER}/00001", status("posted_to_erp", 2)))
    assert created.status == 201
    assert (
        created.body["success"] is True and created.body["errors"] == [] and created.body["created"] is True
    )
    record_id = created.body["id"]
    assert record_id.startswith("801") and len(record_id) == 18
    updated = system.dispatch(Request("PATCH", f"{ORDER}/00001", status("shipped", 5)))
    assert updated.status == 204 and updated.body is None
    assert system.orders["00001"]["Id"] == record_id and system.orders["00001"]["OMS_Status_Seq__c"] == 5
    assert system.status_history["00001"] == ["posted_to_erp", "shipped"]
    assert system.current["00001"] == "shipped"
    other = system.dispatch(Request("PATCH", f"{ORDER}/00002", status("received", 1)))
    assert other.body["id"] != record_id


def test_a_status_sent_late_is_applied_and_recorded() -> None:
    system = org()
    system.dispatch(Request("PATCH", f"{ORDER}/00001", status("shipped", 5)))
    system.dispatch(Request("PATCH", f"{ORDER}/00001", status("posted_to_erp", 2)))
    assert system.status_history["00001"] == ["shipped", "posted_to_erp"]
    assert system.current["00001"] == "posted_to_erp"


def test_get_order_and_not_found() -> None:
    system = org()
    system.dispatch(Request("PATCH", f"{ORDER}/00001", status("received", 1)))
    found = system.dispatch(Request("GET", f"{ORDER}/00001"))
    assert found.status == 200 and found.body["External_Id__c"] == "00001"
    assert found.body["OMS_Status__c"] == "received"
    missing = system.dispatch(Request("GET", f"{ORDER}/09999"))
    assert missing.status == 404
    assert_sf_error(missing.body, "NOT_FOUND")


def test_a_non_object_body_is_a_json_parser_error() -> None:
    response = org().dispatch(Request("PATCH", f"{ORDER}/00001", ["not", "an", "object"]))
    assert response.status == 400
    assert_sf_error(response.body, "JSON_PARSER_ERROR")


def test_cases_are_created_numbered_and_closed() -> None:
    system = org()
    body = {
        "Subject": "Order 00001 stuck",
        "Description": "No goods issue after 24 h",
        "Status": "New",
        "Priority": "High",
        "Origin": "Web",
        "Type": "Problem",
        "Reason": "Fulfilment",
        "External_Id__c": "00001",
    }
    created = system.dispatch(Request("POST", f"{API}/Case/", body))
    assert created.status == 201 and created.body["success"] is True and created.body["errors"] == []
    case_id = created.body["id"]
    assert case_id.startswith("500") and len(case_id) == 18
    case = system.cases[case_id]
    assert case["CaseNumber"] == "00001001" and case["IsClosed"] is False and case["ClosedDate"] is None
    assert case["Priority"] == "High" and case["External_Id__c"] == "00001"
    second = system.dispatch(Request("POST", f"{API}/Case", {"Subject": "Another"})).body["id"]
    assert system.cases[second]["CaseNumber"] == "00001002"
    system.env.run(until=3600)
    closed = system.dispatch(Request("PATCH", f"{API}/Case/{case_id}", {"Status": "Closed"}))
    assert closed.status == 204 and closed.body is None
    assert system.cases[case_id]["IsClosed"] is True
    assert system.cases[case_id]["ClosedDate"] == "2026-11-27T01:00:00Z"


def test_case_errors_required_field_and_not_found() -> None:
    system = org()
    missing = system.dispatch(Request("POST", f"{API}/Case/", {"Description": "no subject"}))
    assert missing.status == 400 and missing.body[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert missing.body[0]["fields"] == ["Subject"] and system.cases == {}
    unknown = system.dispatch(Request("PATCH", f"{API}/Case/500000000000000999", {"Status": "Closed"}))
    assert unknown.status == 404
    assert_sf_error(unknown.body, "NOT_FOUND")


def test_every_response_carries_the_api_usage_header() -> None:
    system = org(daily_limit=1000, rate_limit_per_s=1)
    first = answered(system, Request("PATCH", f"{ORDER}/00001", status("received", 1)))
    refused = answered(system, Request("PATCH", f"{ORDER}/00001", status("shipped", 2)))
    assert first.headers["Sforce-Limit-Info"] == "api-usage=1/1000"
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=2/1000"
    system.faults.outage = True
    down = answered(system, Request("GET", f"{ORDER}/00001"))
    assert down.headers["Sforce-Limit-Info"] == "api-usage=3/1000"
    assert system.api_usage == 3


def test_the_org_api_limit_is_403_request_limit_exceeded_without_retry_after() -> None:
    system = org(api_limit_per_s=1)
    assert answered(system, Request("PATCH", f"{ORDER}/00001", status("received", 1))).status == 201
    refused = answered(system, Request("PATCH", f"{ORDER}/00001", status("shipped", 2)))
    assert refused.status == 403
    assert_sf_error(refused.body, "REQUEST_LIMIT_EXCEEDED")
    assert "Retry-After" not in refused.headers
    assert system.status_history["00001"] == ["received"]


def test_outage_and_server_errors_are_salesforce_arrays() -> None:
    system = org()
    system.faults.outage = True
    down = answered(system, Request("GET", f"{ORDER}/00001"))
    assert down.status == 503
    assert_sf_error(down.body, "SERVER_UNAVAILABLE")
    system.faults.outage = False
    system.faults.error_rate = 1.0
    broken = answered(system, Request("PATCH", f"{ORDER}/00001", status("received", 1)))
    assert broken.status == 500
    assert_sf_error(broken.body, "UNKNOWN_EXCEPTION")
    assert system.orders == {}


def test_a_lost_reply_still_upserted_the_order() -> None:
    system = org()
    system.faults.lost_reply_rate = 1.0
    assert served(system, Request("PATCH", f"{ORDER}/00001", status("received", 1))) is LOST_REPLY
    assert system.current["00001"] == "received"


# ---- sObject Collections: the status upserts in bulk -----------------------------------------------------

COLLECTION = "/services/data/v59.0/composite/sobjects/Order/External_Id__c"


def collection(*records: tuple[str, dict[str, Any]], all_or_none: bool = False) -> dict[str, Any]:
    return {
        "allOrNone": all_or_none,
        "records": [
            {"attributes": {"type": "Order"}, "External_Id__c": number, **fields} for number, fields in records
        ],
    }


def test_a_collection_upserts_each_record_in_order_and_answers_one_result_each() -> None:
    system = org()
    system.dispatch(Request("PATCH", f"{ORDER}/00002", status("received", 1)))
    body = collection(("00001", status("posted_to_erp", 2)), ("00002", status("shipped", 5)))
    response = answered(system, Request("PATCH", COLLECTION, body, {"X-Correlation-ID": "00001,00002"}))
    assert response.status == 200 and isinstance(response.body, list) and len(response.body) == 2
    first, second = response.body
    assert set(first) == {"id", "success", "errors", "created"}
    assert (first["success"], first["created"], first["errors"]) == (True, True, [])
    assert (second["success"], second["created"]) == (True, False)
    assert second["id"] == system.orders["00002"]["Id"]
    assert system.status_history == {"00002": ["received", "shipped"], "00001": ["posted_to_erp"]}
    assert "attributes" not in system.orders["00001"]  # the record's fields, not the envelope
    assert system.api_usage == 2  # the single upsert, and the collection counted once


def test_a_collection_fails_records_alone_and_upserts_the_others() -> None:
    system = org()
    hit_all = PersistentError(1.0, salt=1)
    broken = [("00009", status("shipped", 5))]
    body = collection(("00001", status("received", 1)), ("", status("received", 1)))
    response = answered(system, Request("PATCH", COLLECTION, body))
    assert response.status == 200
    good, missing = response.body
    assert good["success"] is True
    assert missing["success"] is False and missing["id"] is None
    assert [e["statusCode"] for e in missing["errors"]] == ["MISSING_ARGUMENT"]
    assert set(missing["errors"][0]) == {"statusCode", "message", "fields"}
    system.faults.persistent_error = hit_all
    locked = answered(system, Request("PATCH", COLLECTION, collection(*broken), {"X-Correlation-ID": "00009"}))
    assert locked.status == 200  # the request went through; its record did not
    assert locked.body[0]["success"] is False
    assert locked.body[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert "00009" not in system.orders


def test_a_persistent_error_hits_only_its_records_of_a_collection() -> None:
    system = org()
    fault = PersistentError(0.5, salt=7)
    numbers = [f"{n:05d}" for n in range(1, 21)]
    hit = {number for number in numbers if fault.outcome(number) is not None}
    assert hit and hit != set(numbers)
    system.faults.persistent_error = fault
    body = collection(*((number, status("received", 1)) for number in numbers))
    response = answered(system, Request("PATCH", COLLECTION, body, {"X-Correlation-ID": ",".join(numbers)}))
    assert response.status == 200
    failed = {number for number, result in zip(numbers, response.body, strict=True) if not result["success"]}
    assert failed == hit and set(system.orders) == set(numbers) - hit


def test_more_than_200_records_are_refused_whole_and_count_one_call() -> None:
    system = org()
    body = collection(*((f"{n:05d}", status("received", 1)) for n in range(201)))
    refused = answered(system, Request("PATCH", COLLECTION, body))
    assert refused.status == 400
    assert_sf_error(refused.body, "EXCEEDED_ID_LIMIT")
    assert system.orders == {} and system.api_usage == 1
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=1/5000000"
    exactly = collection(*((f"{n:05d}", status("received", 1)) for n in range(200)))
    assert answered(system, Request("PATCH", COLLECTION, exactly)).status == 200
    assert len(system.orders) == 200 and system.api_usage == 2


def test_all_or_none_and_a_body_without_records_are_refused() -> None:
    system = org()
    whole = collection(("00001", status("received", 1)), all_or_none=True)
    assert system.dispatch(Request("PATCH", COLLECTION, whole)).status == 400
    no_records = system.dispatch(Request("PATCH", COLLECTION, {"allOrNone": False}))
    assert no_records.status == 400
    assert_sf_error(no_records.body, "JSON_PARSER_ERROR")
    assert system.orders == {}
