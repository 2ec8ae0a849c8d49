"""Orders that arrive together share one transaction, and each is answered as if it had come alone.

What the API's batching relies on (``IntegrationCore.submit_orders``): one commit for the lot; a key twice
in one lot, or held by a request still running in another thread, is in flight (409, or 422 for another
body); a bad order fails alone — the others are committed, its key is free again, and a transaction that
rolled back counted and announced nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from retailsim.core import CoreConfig, IntegrationCore
from retailsim.core.stores.base import Transaction
from retailsim.core.stores.memory import MemoryStore
from retailsim.core.workflows.order_to_cash import OrderRecord
from tests.factories import scapi_order


class CountingStore(MemoryStore):
    """A memory store that counts the transactions it opens."""

    def __init__(self) -> None:
        super().__init__()
        self.transactions = 0

    def transaction(self) -> AbstractContextManager[Transaction]:
        self.transactions += 1
        return super().transaction()


class FailingCore(IntegrationCore):
    """Raises inside the transaction of one order number (as a bug or a lost connection would)."""

    failing = "00000002"

    def already_accepted(self, tx: Transaction, order_no: str) -> OrderRecord | None:
        if order_no == self.failing:
            raise RuntimeError(f"cannot look up {order_no}")
        return super().already_accepted(tx, order_no)


def _core(store: MemoryStore, kind: type[IntegrationCore] = IntegrationCore) -> IntegrationCore:
    made = kind(store, CoreConfig())
    made.load_inventory([("SKU-00001", "DC1", 10)], 0.0)
    return made


def test_orders_together_are_one_commit_and_answered_as_alone() -> None:
    store = CountingStore()
    core = _core(store)
    invalid = scapi_order("00000004")
    invalid["productItems"][0]["quantity"] = 0
    before = store.transactions
    outcomes = core.submit_orders(
        [
            (scapi_order("00000001", quantity=2), "k1", 1.0),
            (scapi_order("00000002"), "k2", 1.0),
            (scapi_order("00000002"), "k2", 1.0),  # the same key again while the first is in flight
            (scapi_order("00000003"), None, 1.0),
            (invalid, "k4", 1.0),
            (scapi_order("00000005", quantity=9), "k5", 1.0),  # sees what the earlier ones reserved
        ]
    )
    assert store.transactions == before + 1
    statuses = [o.status if not isinstance(o, Exception) else o for o in outcomes]
    assert statuses == [202, 202, 409, 400, 422, 200]
    assert not isinstance(outcomes[5], Exception) and outcomes[5].body["status"] == "rejected"
    assert core.available_to_promise("SKU-00001") == {"DC1": 7}
    assert core.counters["accepted"] == 2 and core.counters["rejected"] == 1
    again = core.submit_order(scapi_order("00000002"), "k2", 2.0)
    assert again.status == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert core.submit_order(scapi_order("00000004"), "k4", 2.0).status == 202  # refused: key still free


def test_a_failing_order_fails_alone_and_counts_nothing() -> None:
    core = _core(CountingStore(), FailingCore)
    announced: list[str] = []
    core.on_status = lambda order_no, status, now: announced.append(order_no)
    outcomes = core.submit_orders(
        [
            (scapi_order("00000001"), "k1", 1.0),
            (scapi_order("00000002"), "k2", 1.0),
            (scapi_order("00000003"), "k3", 1.0),
        ]
    )
    assert isinstance(outcomes[1], RuntimeError)
    assert [o.status for o in (outcomes[0], outcomes[2]) if not isinstance(o, Exception)] == [202, 202]
    assert core.order_record("00000001") is not None and core.order_record("00000003") is not None
    assert core.order_record("00000002") is None
    assert core.counters["accepted"] == 2  # the rolled-back attempt of the whole lot counted nothing
    assert core.store.backlog("payment") == 2
    assert core.available_to_promise("SKU-00001") == {"DC1": 8}
    assert announced == ["00000001", "00000003"]  # status changes of committed orders only, once each
    # Its key was not left claimed: the retry runs again (and fails again), it is not "in flight".
    with pytest.raises(RuntimeError):
        core.submit_order(scapi_order("00000002"), "k2", 2.0)
    assert announced == ["00000001", "00000003"]


class HeldCore(IntegrationCore):
    """Holds the transaction of one order open until told to go on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.inside = threading.Event()
        self.go_on = threading.Event()

    def already_accepted(self, tx: Transaction, order_no: str) -> OrderRecord | None:
        self.inside.set()
        assert self.go_on.wait(timeout=10)
        return super().already_accepted(tx, order_no)


@contextmanager
def _running(core: HeldCore, body: dict[str, Any], key: str) -> Iterator[list[Any]]:
    answers: list[Any] = []
    thread = threading.Thread(target=lambda: answers.append(core.submit_order(body, key, 1.0)))
    thread.start()
    try:
        assert core.inside.wait(timeout=10)
        yield answers
    finally:
        core.go_on.set()
        thread.join(timeout=10)


def test_a_key_running_in_another_thread_is_409_or_422_for_another_body() -> None:
    core = _core(MemoryStore(), HeldCore)
    assert isinstance(core, HeldCore)
    with _running(core, scapi_order(), "k1") as first:
        retry = core.submit_order(scapi_order(), "k1", 1.5)
        assert retry.status == 409 and retry.body["error"] == "request_in_flight"
        other = core.submit_order(scapi_order(quantity=2), "k1", 1.5)
        assert other.status == 422 and other.body["error"] == "idempotency_key_reused"
    assert [a.status for a in first] == [202]
    replayed = core.submit_order(scapi_order(), "k1", 2.0)
    assert replayed.status == 202 and replayed.body == first[0].body
    assert core.available_to_promise("SKU-00001") == {"DC1": 9}
