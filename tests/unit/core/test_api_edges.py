"""Issue 13's pure edges of the live API: signature parsing that cannot raise, the text check, an order
total that must add up, and idempotency keys that expire after their retention (core time)."""

from __future__ import annotations

import pytest

from retailsim.core import CoreConfig, IntegrationCore
from retailsim.core.api.signing import sign, verify
from retailsim.core.api.validation import body_errors, identifier_errors
from retailsim.core.stores.memory import MemoryStore
from tests.factories import scapi_order

SECRET = "whsec_unit"
NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    "header",
    [
        "t=" + "9" * 400 + ",v1=" + "0" * 64,  # overflowed a float before any MAC check
        "t=-5,v1=" + "0" * 64,
        "t=١٢٣,v1=" + "0" * 64,  # Unicode digits int() would take
        f"t={int(NOW)},v1=" + "é" * 64,  # compare_digest raises on non-ASCII text
        "t=,v1=",
        ",,,=",
    ],
)
def test_signature_parsing_refuses_without_raising(header: str) -> None:
    assert verify(SECRET, header, b"{}", NOW) is not None


def test_an_id_sent_in_a_header_is_covered_by_the_signature() -> None:
    body = b'{"topic": "order.shipped"}'
    header = sign(SECRET, body, int(NOW), "sb-1")
    assert verify(SECRET, header, body, NOW, event_id="sb-1") is None
    assert verify(SECRET, header, body, NOW, event_id="sb-2") is not None  # replayed under a new id
    assert verify(SECRET, header, body, NOW) is not None  # nor is it a signature of the body alone
    plain = sign(SECRET, body, int(NOW))
    assert verify(SECRET, plain, body, NOW) is None
    assert verify(SECRET, plain, body, NOW, event_id="sb-3") is not None  # an id added on the way


def test_the_text_check_names_every_forbidden_character_with_its_path() -> None:
    body = {"a": ["ok", "nul\x00"], "b": {"c\ud800": "x", "d": "tab\tand\nnewline are text"}, "e": "\x7f"}
    found = {tuple(e["loc"]): e["msg"] for e in body_errors(body)}
    assert found == {
        ("body", "a", 1): "control character U+0000 is not allowed",
        ("body", "b", "c\\ud800"): "lone surrogate U+D800 is not allowed (in the key)",
        ("body", "e"): "control character U+007F is not allowed",
    }
    assert identifier_errors("tab\tkey", ["header", "Idempotency-Key"])
    assert not identifier_errors("key-1", ["header", "Idempotency-Key"])
    deep: object = "fine"
    for _ in range(5000):  # iterative: a deep body cannot exhaust the stack
        deep = [deep]
    assert body_errors(deep) == []


@pytest.fixture
def core() -> IntegrationCore:
    made = IntegrationCore(MemoryStore(), CoreConfig(idempotency_retention_s=3600.0))
    made.load_inventory([("SKU-00001", "DC1", 5)], 0.0)
    return made


def test_an_order_whose_total_does_not_add_up_is_422_and_changes_nothing(core: IntegrationCore) -> None:
    cheap = scapi_order(quantity=2)
    cheap["orderTotal"] = 1.0  # below the sum of its lines
    reply = core.submit_order(cheap, "key-1", 1.0)
    assert reply.status == 422, reply.body
    assert {tuple(e["loc"]) for e in reply.body["errors"]} >= {("orderTotal",)}
    underpaid = scapi_order(quantity=2)
    underpaid["paymentInstruments"][0]["amount"] = 1.0
    reply = core.submit_order(underpaid, "key-2", 1.0)
    assert reply.status == 422 and reply.body["errors"][0]["loc"] == ["paymentInstruments", 0, "amount"]
    assert core.available_to_promise("SKU-00001") == {"DC1": 5}
    assert core.order_record("00000001") is None
    shipped = scapi_order(quantity=2)
    shipped["shippingTotal"], shipped["orderTotal"] = 4.99, shipped["orderTotal"] + 4.99
    shipped["paymentInstruments"][0]["amount"] = shipped["orderTotal"]
    assert core.submit_order(shipped, "key-3", 1.0).status == 202  # lines + shipping + tax = total


def test_an_idempotency_key_expires_after_its_retention(core: IntegrationCore) -> None:
    first = core.submit_order(scapi_order(), "key-1", 1.0)
    assert first.status == 202
    other = scapi_order(quantity=2)
    assert core.submit_order(other, "key-1", 3600.0).status == 422  # still held: another body is refused
    again = core.submit_order(other, "key-1", 3601.0)  # expired: the key is free (the order no. still holds)
    assert again.status == 200 and again.body["duplicate"] is True
    assert core.available_to_promise("SKU-00001") == {"DC1": 4}


def test_the_stored_reply_is_kept_as_the_text_that_was_answered(core: IntegrationCore) -> None:
    first = core.submit_order(scapi_order(), "key-1", 1.0)
    with core.store.transaction() as tx:
        record = tx.get_idempotency("orders", "key-1")
    assert record is not None and record.response is not None
    assert isinstance(record.response["text"], str)  # a JSONB column keeps a string as it is
    again = core.submit_order(scapi_order(), "key-1", 2.0)
    assert list(again.body.items()) == list(first.body.items())  # same keys, same order
