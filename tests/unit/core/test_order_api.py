"""The core's order API on a real store: idempotency, validation, stock checks, the outbox it fills."""

from __future__ import annotations

import pytest

from retailsim.core import CoreConfig, IntegrationCore
from retailsim.core.adapters.http import Reply
from retailsim.core.stores.base import Transaction
from retailsim.core.stores.memory import MemoryStore
from retailsim.core.workflows.order_to_cash import OrderRecord
from tests.factories import scapi_order


@pytest.fixture
def core() -> IntegrationCore:
    made = IntegrationCore(MemoryStore(), CoreConfig())
    made.load_inventory([("SKU-00001", "DC1", 5)], 0.0)
    return made


def test_accepts_reserves_and_queues_payment_verification(core: IntegrationCore) -> None:
    reply = core.submit_order(scapi_order(quantity=2), "key-1", 1.0)
    assert reply.status == 202 and reply.body["correlation_id"] == "00000001"
    assert core.available_to_promise("SKU-00001") == {"DC1": 3}
    delivery = core.claim("payment", 1.0)
    assert delivery is not None and delivery.message.kind == "VerifyPaymentAuthorization"
    assert delivery.request.path == "/v1/payment_intents/pi_0000001"
    assert delivery.request.headers["X-Correlation-ID"] == "00000001"


def test_same_key_same_body_replays_the_stored_reply(core: IntegrationCore) -> None:
    first = core.submit_order(scapi_order(), "key-1", 1.0)
    again = core.submit_order(scapi_order(), "key-1", 2.0)
    assert again.status == first.status and again.body == first.body
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert core.available_to_promise("SKU-00001") == {"DC1": 4}  # reserved once


def test_same_key_other_body_is_422_and_changes_nothing(core: IntegrationCore) -> None:
    core.submit_order(scapi_order(), "key-1", 1.0)
    reply = core.submit_order(scapi_order(quantity=3), "key-1", 2.0)
    assert reply.status == 422
    assert core.available_to_promise("SKU-00001") == {"DC1": 4}


def test_missing_key_is_400(core: IntegrationCore) -> None:
    assert core.submit_order(scapi_order(), None, 1.0).status == 400


def test_invalid_body_is_422_with_field_paths_and_no_state(core: IntegrationCore) -> None:
    body = scapi_order()
    body["productItems"][0]["quantity"] = 0
    del body["customerInfo"]["email"]
    reply = core.submit_order(body, "key-bad", 1.0)
    assert reply.status == 422
    locations = {tuple(e["loc"]) for e in reply.body["errors"]}
    assert ("productItems", "0", "quantity") in locations and ("customerInfo", "email") in locations
    assert core.order_record("00000001") is None
    assert core.store.backlog("payment") == 0
    # the key is free again: a corrected retry succeeds
    assert core.submit_order(scapi_order(), "key-bad", 2.0).status == 202


def test_a_checkout_that_asks_is_refused_without_stock(core: IntegrationCore) -> None:
    reply = core.submit_order(scapi_order(quantity=6), "key-1", 1.0)
    assert reply.status == 200 and reply.body["status"] == "rejected"
    assert core.available_to_promise("SKU-00001") == {"DC1": 5}
    delivery = core.claim("payment", 1.0)
    assert delivery is not None and delivery.message.kind == "VoidPaymentAuthorization"


def test_a_confirmed_order_without_stock_is_accepted_short(core: IntegrationCore) -> None:
    reply = core.submit_order(scapi_order(quantity=6, confirmed=True), "key-1", 1.0)
    assert reply.status == 202
    record = core.order_record("00000001")
    assert record is not None and record.short and not record.reserved


def test_the_same_order_under_another_key_has_no_second_effect(core: IntegrationCore) -> None:
    core.submit_order(scapi_order(), "key-1", 1.0)
    reply = core.submit_order(scapi_order(), "key-2", 2.0)
    assert reply.status == 200 and reply.body["duplicate"] is True
    assert core.available_to_promise("SKU-00001") == {"DC1": 4}


def test_the_order_number_is_taken_once_even_when_the_look_up_races() -> None:
    core = IntegrationCore(MemoryStore(), CoreConfig())
    core.load_inventory([("SKU-00001", "DC1", 5)], 0.0)
    core.submit_order(scapi_order(), "key-1", 1.0)
    missed: list[str] = []
    original = core.already_accepted

    def racing_look_up(tx: Transaction, order_no: str) -> OrderRecord | None:
        if not missed:  # the first look-up of the second request sees the number as free
            missed.append(order_no)
            return None
        return original(tx, order_no)

    core.already_accepted = racing_look_up  # type: ignore[method-assign]
    reply = core.submit_order(scapi_order(), "key-2", 2.0)
    assert missed == ["00000001"]
    assert reply.status == 200 and reply.body["duplicate"] is True
    assert core.available_to_promise("SKU-00001") == {"DC1": 4}  # reserved once
    assert core.store.backlog("payment") == 1  # one verification, not two


def test_an_intent_the_gateway_never_had_cancels_the_order_and_leaves_no_dead_letter(
    core: IntegrationCore,
) -> None:
    missing = Reply(404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}})
    core.submit_order(scapi_order(intent="pi_9999999"), "key-1", 1.0)
    verify = core.claim("payment", 1.0)
    assert verify is not None and verify.message.kind == "VerifyPaymentAuthorization"
    core.on_reply(verify, missing, 2.0)
    record = core.order_record("00000001")
    assert record is not None and record.status.value == "cancelled"
    assert core.available_to_promise("SKU-00001") == {"DC1": 5}  # the reservation is released
    void = core.claim("payment", 2.0)
    assert void is not None and void.message.kind == "VoidPaymentAuthorization"
    core.on_reply(void, missing, 3.0)  # nothing to void: no hold is left on the card
    assert core.store.backlog("payment") == 0
    assert core.ops_summary()["dlq"]["size"] == 0


def test_a_payment_intent_id_that_is_not_an_intent_id_is_422() -> None:
    core = IntegrationCore(MemoryStore(), CoreConfig())
    reply = core.submit_order(scapi_order(intent="\x17"), "key-1", 1.0)
    assert reply.status == 422
    assert ("paymentInstruments", "0", "c_paymentIntentId") in {tuple(e["loc"]) for e in reply.body["errors"]}


def test_a_backorders_sales_order_is_booked_without_a_plant_so_the_erp_reserves_nothing(
    core: IntegrationCore,
) -> None:
    # The ERP's availability check would confirm (and reserve) what it has on hand at the plant —
    # units the core has promised to orders accepted earlier but not posted yet.
    core.submit_order(scapi_order(quantity=6, confirmed=True), "key-1", 1.0)
    verify = core.claim("payment", 1.0)
    assert verify is not None
    core.on_reply(verify, Reply(200, {"id": "pi_0000001", "status": "requires_capture"}), 2.0)
    post = core.claim("erp", 2.0)
    assert post is not None and post.message.kind == "PostSalesOrder"
    items = post.request.body["to_Item"]["results"]
    assert [item["ProductionPlant"] for item in items] == [""]
