"""Salesforce platform (Service Cloud)-style org: orders upserted by external id, cases, API limits.

Errors are JSON arrays of ``{message, errorCode, fields}``; the org's API limit answers **403
REQUEST_LIMIT_EXCEEDED** (not 429) and sends no Retry-After; every response carries
``Sforce-Limit-Info`` (``api-usage=N/daily_limit``, N counting every API request, refused ones too).
Upsert by external id creates (201) or updates (204) — idempotent by design. Its collection form
(sObject Collections: ``PATCH .../composite/sobjects/Order/External_Id__c``, ``allOrNone`` false) upserts
up to 200 records in order and answers 200 with one UpsertResult (``id``, ``success``, ``errors``,
``created``) per record; it is ONE API call however many records it carries; more than 200 records are
refused whole (400 ``EXCEEDED_ID_LIMIT`` — the code is our reading, unconfirmed in Salesforce's docs),
``allOrNone: true`` is not served (400). Per record: an entity ``persistent_error`` hits fails alone
with ``UNABLE_TO_LOCK_ROW`` (a row another transaction holds: the record's failure, not the request's),
a record without its external id with ``MISSING_ARGUMENT``; record errors are
``{statusCode, message, fields}``. A record's entity is its correlation id, from the request's
``X-Correlation-ID`` list (comma-separated, in the records' order), else its external id.

Rules kept: imports SimPy, the standard library and ``retailsim.systems`` only; record ids and case
numbers are counters; times come from the simulated clock (``clock.py``).
"""

from __future__ import annotations

import random
from collections.abc import Generator
from typing import Any

import simpy

from retailsim.systems.base import Latency, LostReply, MockSystem, Request, Response
from retailsim.systems.clock import iso_time

API = r"/services/data/v59\.0"
COLLECTION_PATH = "/composite/sobjects/"
COLLECTION_LIMIT = 200  # records per sObject Collections request


class ServiceCloud(MockSystem):
    name = "service_cloud"
    routes = (
        ("PATCH", rf"{API}/sobjects/Order/External_Id__c/([\w\-]+)", "upsert_order"),
        ("PATCH", rf"{API}/composite/sobjects/Order/External_Id__c", "upsert_orders"),
        ("GET", rf"{API}/sobjects/Order/External_Id__c/([\w\-]+)", "get_order"),
        ("POST", rf"{API}/sobjects/Case/?", "create_case"),
        ("PATCH", rf"{API}/sobjects/Case/(500\w+)", "update_case"),
        ("GET", rf"{API}/sobjects/Case/(500\w+)", "get_case"),
    )

    def __init__(
        self,
        env: simpy.Environment,
        rng: random.Random,
        *,
        concurrency: int = 25,
        latency: Latency = Latency(0.12, 0.6),
        rate_limit_per_s: float | None = None,
        api_limit_per_s: float | None = None,
        daily_limit: int = 5_000_000,
    ) -> None:
        super().__init__(
            env,
            rng,
            concurrency=concurrency,
            latency=latency,
            rate_limit_per_s=rate_limit_per_s if rate_limit_per_s is not None else api_limit_per_s,
        )
        self.daily_limit = daily_limit
        self.api_usage = 0
        self.orders: dict[str, dict[str, Any]] = {}
        self.status_history: dict[str, list[str]] = {}
        self.current: dict[str, str] = {}
        self.cases: dict[str, dict[str, Any]] = {}
        self._ids = {"order": 0, "case": 0}

    def _sf_error(self, status: int, code: str, message: str) -> Response:
        return Response(status, [{"message": message, "errorCode": code, "fields": []}])

    def _metered(self, response: Response) -> Response:
        self.api_usage += 1
        response.headers["Sforce-Limit-Info"] = f"api-usage={self.api_usage}/{self.daily_limit}"
        return response

    def error(self, status: int, code: str, message: str) -> Response:
        sf_code = {500: "UNKNOWN_EXCEPTION", 404: "NOT_FOUND", 400: "JSON_PARSER_ERROR"}.get(status, code)
        return self._sf_error(status, sf_code, message)

    def rate_limited(self, retry_after_s: float) -> Response:
        """The org's API limit: 403 REQUEST_LIMIT_EXCEEDED and, as Salesforce does, no Retry-After."""
        return self._sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")

    def unavailable(self) -> Response:
        return self._sf_error(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable")

    def call(self, request: Request) -> Generator[simpy.Event, Any, Response | LostReply]:
        """The base call path; answers that never reached a handler (limit, outage, 500) are metered too."""
        response = yield from super().call(request)
        if isinstance(response, Response) and "Sforce-Limit-Info" not in response.headers:
            self._metered(response)
        return response

    def dispatch(self, request: Request) -> Response:
        return self._metered(super().dispatch(request))

    def _new_id(self, prefix: str, kind: str) -> str:
        self._ids[kind] += 1
        return f"{prefix}{self._ids[kind]:015d}"

    def entity_of(self, request: Request) -> str | None:  # type: ignore[override]
        """A collection is about each of its records: the handler judges them one by one."""
        if COLLECTION_PATH in request.path:
            return None
        return MockSystem.entity_of(request)

    def upsert_order(self, request: Request, external_id: str) -> Response:
        body = request.body if isinstance(request.body, dict) else None
        if body is None:
            return self._sf_error(400, "JSON_PARSER_ERROR", "Request body must be a JSON object")
        created, record = self._upsert(external_id, body)
        if created:
            return Response(201, {"id": record["Id"], "success": True, "errors": [], "created": True})
        return Response(204, None)

    def upsert_orders(self, request: Request) -> Response:
        """sObject Collections upsert by external id, ``allOrNone`` false: each record on its own."""
        body = request.body if isinstance(request.body, dict) else None
        records = body.get("records") if body is not None else None
        if body is None or not isinstance(records, list):
            return self._sf_error(400, "JSON_PARSER_ERROR", "Request body must have a records array")
        if body.get("allOrNone"):
            return self._sf_error(400, "INVALID_INPUT", "allOrNone true is not served by this org")
        if len(records) > COLLECTION_LIMIT:
            return self._sf_error(
                400,
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {COLLECTION_LIMIT} records into this call",
            )
        sent = request.headers.get("X-Correlation-ID")
        correlation = sent.split(",") if sent else []
        results: list[dict[str, Any]] = []
        for index, record in enumerate(records):
            fields = {k: v for k, v in record.items() if k != "attributes"} if isinstance(record, dict) else {}
            external_id = str(fields.pop("External_Id__c", "") or "")
            if not external_id:
                results.append(self._record_error("MISSING_ARGUMENT", "External_Id__c not specified"))
                continue
            entity = correlation[index] if index < len(correlation) else external_id
            hit = self.faults.persistent_error
            if hit is not None and hit.outcome(entity) is not None:
                results.append(
                    self._record_error("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
                )
                continue
            created, stored = self._upsert(external_id, fields)
            results.append({"id": stored["Id"], "success": True, "errors": [], "created": created})
        return Response(200, results)

    @staticmethod
    def _record_error(code: str, message: str) -> dict[str, Any]:
        return {"id": None, "success": False, "errors": [{"statusCode": code, "message": message, "fields": []}]}

    def _upsert(self, external_id: str, body: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Create or update the order with this external id (its status history follows)."""
        record = self.orders.get(external_id)
        created = record is None
        if record is None:
            record = {
                "Id": self._new_id("801", "order"),
                "External_Id__c": external_id,
                "EffectiveDate": iso_time(self.env.now)[:10],
            }
            self.orders[external_id] = record
        record.update(body)
        status = body.get("OMS_Status__c")
        if status is not None:
            self.status_history.setdefault(external_id, []).append(str(status))
            self.current[external_id] = str(status)
        return created, record

    def get_order(self, request: Request, external_id: str) -> Response:
        record = self.orders.get(external_id)
        if record is None:
            return self._sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        return Response(200, {"attributes": {"type": "Order"}, **record})

    def create_case(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        if not body.get("Subject"):
            return Response(
                400,
                [
                    {
                        "message": "Required fields are missing: [Subject]",
                        "errorCode": "REQUIRED_FIELD_MISSING",
                        "fields": ["Subject"],
                    }
                ],
            )
        case_id = self._new_id("500", "case")
        case = {
            "Id": case_id,
            "CaseNumber": f"{1000 + self._ids['case']:08d}",
            "Status": "New",
            "Priority": "Medium",
            "Origin": "Web",
            "IsClosed": False,
            "ClosedDate": None,
            "CreatedDate": iso_time(self.env.now),
            **body,
        }
        self.cases[case_id] = case
        return Response(201, {"id": case_id, "success": True, "errors": []})

    def update_case(self, request: Request, case_id: str) -> Response:
        case = self.cases.get(case_id)
        if case is None:
            return self._sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        case.update(request.body or {})
        if case.get("Status") == "Closed" and not case["IsClosed"]:
            case.update(IsClosed=True, ClosedDate=iso_time(self.env.now))
        return Response(204, None)

    def get_case(self, request: Request, case_id: str) -> Response:
        case = self.cases.get(case_id)
        if case is None:
            return self._sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        return Response(200, {"attributes": {"type": "Case"}, **case})
