"""OCAPI batch requests: the storefront mock serves each subrequest by its single request's handler (same
faults, same ledgers) and answers one subresponse per ``x-dw-content-id``; the core's batch form
(core/adapters/sfcc.py) renders the multipart request and reads every record's reply back by content id."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import simpy

from retailsim.core.adapters import sfcc
from retailsim.core.adapters.http import OutboundRequest, Reply
from retailsim.systems import LOST_REPLY, Request, Storefront
from retailsim.systems.base import PersistentError
from tests.unit.systems.support import answered, served

BATCH = "/s/-/dw/batch"
MULTIPART = {"Content-Type": "multipart/mixed; boundary=b1", "x-dw-http-method": "PATCH"}
DATA = "/s/-/dw/data/v24_5/"


def storefront() -> Storefront:
    system = Storefront(simpy.Environment(), random.Random(1))
    for order_no in ("00001", "00002", "00003"):
        order = system.build_order(
            order_no,
            {"customerId": "c1", "customerNo": "000001", "email": "ada@example.com"},
            [("SKU-1", "Widget", 1, 10.0)],
            {"firstName": "A", "lastName": "L", "address1": "1 Main St", "city": "X", "postalCode": "1",
             "countryCode": "US"},
            None,
            "confirmed",
        )  # fmt: skip
        system.record_placed(order)
    return system


def part(content_id: str, extension: str, body: Any, **headers: str) -> dict[str, Any]:
    return {"headers": {"x-dw-content-id": content_id, "x-dw-resource-path-extension": extension, **headers},
            "body": body}  # fmt: skip


def batch(*parts: dict[str, Any], correlation: str | None = None) -> Request:
    headers = {**MULTIPART, "x-dw-resource-path": DATA}
    if correlation is not None:
        headers["X-Correlation-ID"] = correlation
    return Request("POST", BATCH, list(parts), headers)


def status(name: str, seq: int) -> dict[str, Any]:
    return {"c_omsStatus": name, "c_omsStatusSeq": seq}


def by_content_id(response: Any) -> dict[str, tuple[int, Any]]:
    return {
        p["headers"]["x-dw-content-id"]: (int(p["headers"]["x-dw-status-code"]), p["body"]) for p in response.body
    }


def test_a_batch_of_mixed_results_answers_200_with_each_subrequests_own_status() -> None:
    system = storefront()
    response = answered(
        system,
        batch(
            part("a", "sites/RefArch/orders/00001", status("shipped", 3)),
            part("b", "sites/RefArch/orders/99999", status("shipped", 3)),  # no such order
            part("c", "inventory_lists/main/product_inventory_records/SKU-1", {"allocation": {"amount": -1}}),
            part("d", "inventory_lists/main/product_inventory_records/SKU-2", {"allocation": {"amount": 7}}),
        ),
    )
    assert response.status == 200 and response.headers["Content-Type"].startswith("multipart/mixed")
    answers = by_content_id(response)
    assert {cid: code for cid, (code, _) in answers.items()} == {"a": 200, "b": 404, "c": 400, "d": 200}
    assert answers["a"][1]["c_omsStatus"] == "shipped"  # the single PATCH's body: the order document
    assert answers["b"][1]["title"] == "order-not-found"  # the single request's problem+json
    assert system.status_history == {"00001": ["shipped"]}  # the same ledgers as single requests
    assert system.availability == {"SKU-2": 7} and system.inventory_updates == 1
    assert system.calls == 1  # one HTTP request


def test_subrequests_inherit_the_main_method_and_path_and_may_override_them() -> None:
    system = storefront()
    response = answered(
        system,
        batch(
            part("patch", "sites/RefArch/orders/00001", status("shipped", 3)),
            part("get", "sites/RefArch/orders/00002", None, **{"x-dw-http-method": "GET"}),
            part("elsewhere", "orders/00003", None, **{"x-dw-http-method": "GET",
                 "x-dw-resource-path": "/s/-/dw/data/v24_5/sites/RefArch/"}),
        ),
    )  # fmt: skip
    answers = by_content_id(response)
    assert [code for code, _ in answers.values()] == [200, 200, 200]
    assert answers["get"][1]["orderNo"] == "00002" and "c_omsStatus" not in answers["get"][1]
    assert answers["elsewhere"][1]["orderNo"] == "00003"
    assert system.current == {"00001": "shipped"}


def test_more_than_50_subrequests_are_refused_whole_as_ocapi_does() -> None:
    system = storefront()
    many = [part(f"req{n}", "sites/RefArch/orders/00001", status("shipped", n)) for n in range(51)]
    refused = answered(system, batch(*many))
    assert refused.status == 400
    assert refused.body["fault"]["type"] == "QuotaExceededException" and "_v" in refused.body
    assert system.status_history == {}  # nothing of it was served
    fifty = answered(system, batch(*many[:50]))
    assert fifty.status == 200 and len(fifty.body) == 50
    assert len(system.status_history["00001"]) == 50


def test_a_malformed_batch_is_refused_whole() -> None:
    system = storefront()
    good = part("a", "sites/RefArch/orders/00001", status("shipped", 3))
    not_multipart = Request("POST", BATCH, [good], {"Content-Type": "application/json", "x-dw-resource-path": DATA})
    no_method = Request("POST", BATCH, [good], {"Content-Type": "multipart/mixed; boundary=b", "x-dw-resource-path": DATA})
    no_path = Request("POST", BATCH, [good], dict(MULTIPART))
    several = batch(part("a", "sites/RefArch/orders/(00001,00002)", status("shipped", 3)))
    for request, fault in (
        (not_multipart, "IllegalContentTypeException"),
        (no_method, "MissingHttpMethodException"),
        (no_path, "MissingResourcePathException"),
        (several, "ResourcePathNotAllowedException"),
    ):
        refused = system.dispatch(request)
        assert (refused.status, refused.body["fault"]["type"]) == (400, fault)
    assert system.status_history == {}  # fmt: skip


def test_content_faults_strike_each_subrequest_alone() -> None:
    system = storefront()
    fault = PersistentError(0.5, salt=5)
    numbers = ["00001", "00002", "00003"]
    hit = {n for n in numbers if fault.outcome(n) is not None}
    assert hit and hit != set(numbers), "pick a salt that hits some, not all"
    system.faults.persistent_error = fault
    parts = [part(n, f"sites/RefArch/orders/{n}", status("shipped", 3)) for n in numbers]
    response = answered(system, batch(*parts, correlation=",".join(numbers)))
    assert response.status == 200
    failed = {cid for cid, (code, _) in by_content_id(response).items() if code == 500}
    assert failed == hit and set(system.current) == set(numbers) - hit
    system.faults.persistent_error = None
    system.faults.poison_rate = 1.0  # every write refused as a poison payload: each one, inside a 200
    poisoned = answered(system, batch(*parts))
    assert poisoned.status == 200 and {code for code, _ in by_content_id(poisoned).values()} == {400}


def test_a_subrequest_that_would_hang_fails_inside_the_batch_and_transport_faults_strike_it_whole() -> None:
    system = storefront()
    system.faults.persistent_error = PersistentError(1.0, salt=1, timeout_share=1.0)
    hung = answered(system, batch(part("a", "sites/RefArch/orders/00001", status("shipped", 3)), correlation="x"))
    assert [code for code, _ in by_content_id(hung).values()] == [500]
    system.faults.persistent_error = None
    system.faults.lost_reply_rate = 1.0
    lost = served(system, batch(part("a", "sites/RefArch/orders/00001", status("shipped", 3))))
    assert lost is LOST_REPLY and system.current == {"00001": "shipped"}  # served, its reply lost


# ---- the core's batch form (core/adapters/sfcc.py) -------------------------------------------------------


def test_the_core_renders_single_pushes_as_one_batch_and_reads_each_reply_back() -> None:
    system = storefront()
    singles = [
        OutboundRequest("PATCH", *sfcc.status_update("RefArch", "00001", "shipped", 3)),
        OutboundRequest("PATCH", *sfcc.status_update("RefArch", "99999", "shipped", 3)),
        OutboundRequest("PATCH", *sfcc.inventory_update("inventory_main", "SKU-1", 4)),
    ]
    request = sfcc.ocapi_batch(singles)
    assert (request.method, request.path) == ("POST", sfcc.BATCH_PATH)
    assert [p["headers"]["x-dw-content-id"] for p in request.body] == ["req1", "req2", "req3"]
    sent = Request(request.method, request.path, request.body, dict(request.headers))
    reply = system.dispatch(sent)
    replies = sfcc.subresponses(Reply(reply.status, reply.body, reply.headers), len(singles))
    alone = [storefront().dispatch(Request(s.method, s.path, s.body)) for s in singles]
    assert replies is not None
    assert [r.status for r in replies] == [a.status for a in alone] == [200, 404, 200]
    assert system.current == {"00001": "shipped"} and system.availability["SKU-1"] == 4


def test_subresponses_are_mapped_by_content_id_not_by_position() -> None:
    def sub(cid: str, code: int | str) -> dict[str, Any]:
        return {"headers": {"x-dw-content-id": cid, "x-dw-status-code": str(code)}, "body": {"n": cid}}

    shuffled = Reply(200, [sub("req3", 404), sub("req1", 200), sub("req2", 500)])
    replies = sfcc.subresponses(shuffled, 3)
    assert replies is not None
    assert [(r.status, r.body) for r in replies] == [(200, {"n": "req1"}), (500, {"n": "req2"}), (404, {"n": "req3"})]
    missing = sfcc.subresponses(Reply(200, [sub("req1", 200), sub("req2", "oops")]), 3)
    assert missing is not None and [r.status for r in missing] == [200, 502, 502]  # unanswered: retried
    assert sfcc.subresponses(Reply(200, {"not": "parts"}), 1) is None


def test_the_batch_form_is_capped_at_ocapis_50() -> None:
    specs = {spec.kind: spec for spec in sfcc.COMMANDS}
    for kind in ("UpdateOrderStatus", "PublishAvailability"):
        form = specs[kind].batch
        assert form is not None and form.max_records == 50
    assert specs["UpdateReturnStatus"].batch is None and specs["InventoryFeed"].batch is None


def test_the_live_journal_keeps_a_batchs_served_parts_as_single_requests(tmp_path: Path) -> None:
    from retailsim.sim.live import LedgerJournal, _journaled

    journal = LedgerJournal.sqlite(tmp_path / "ledgers")
    system = storefront()
    system.dispatch = _journaled(system, journal)  # type: ignore[method-assign]  # as LiveRuntime does
    system.faults.persistent_error = PersistentError(0.5, salt=1)  # hits 00003, not 00001
    parts = [part("a", "sites/RefArch/orders/00001", status("shipped", 3)),
             part("b", "sites/RefArch/orders/00003", status("shipped", 3))]  # fmt: skip
    response = answered(system, batch(*parts, correlation="00001,00003"))
    assert [code for code, _ in by_content_id(response).values()] == [200, 500]
    entries = list(journal.entries())
    # the served part as its single request; neither the refused part nor the batch itself
    assert [(name, kind, entry["method"], entry["path"]) for name, kind, entry in entries] == [
        ("storefront", "dispatch", "PATCH", f"{DATA}sites/RefArch/orders/00001"),
    ]
    fresh = storefront()  # a restarted process replays the journal into fresh mocks
    for _, _, entry in entries:
        fresh.dispatch(Request(entry["method"], entry["path"], entry["body"], entry["headers"], entry["query"]))
    assert fresh.current == system.current == {"00001": "shipped"}
    journal.close()
