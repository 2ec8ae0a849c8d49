"""The core's crash points: a process death at one loses exactly what a real death would.

What it is for: DESIGN.md, "Crash points" — a death inside a transaction, before its commit, leaves
nothing of it in the store (memory and SQLite alike); a death after the commit keeps every row and loses
only the reply, so the caller's retry with the same key gets the stored answer. A death is not an error
the core may handle: no ``except Exception`` on the way (``submit_orders`` retrying a batch one by one)
swallows it. And the names the core passes are exactly the catalogue's.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from retailsim.core import CoreConfig, IntegrationCore
from retailsim.core.crash_points import CRASH_POINTS
from retailsim.core.stores.base import Store
from retailsim.core.stores.memory import MemoryStore
from retailsim.core.stores.sqlite import SqliteStore
from tests.factories import scapi_order

CORE_SOURCES = Path(__file__).resolve().parents[3] / "retailsim" / "core"


class Died(BaseException):
    """A process death, as a host raises it from the crash hook (a BaseException, like the simulation's)."""


def dies_at(point: str) -> Callable[[str], None]:
    def hook(passed: str) -> None:
        if passed == point:
            raise Died(passed)

    return hook


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "core.db")
    yield made
    made.close()


def started(store: Store) -> IntegrationCore:
    core = IntegrationCore(store, CoreConfig())
    core.load_inventory([("SKU-00001", "DC1", 5)], 0.0)
    return core


def test_a_death_before_the_order_commits_leaves_nothing_and_the_retry_is_accepted(store: Store) -> None:
    core = started(store)
    backlog = store.backlog()
    core.crash_hook = dies_at("order_intake.before_commit")
    with pytest.raises(Died):
        core.submit_order(scapi_order(quantity=2), "key-1", 1.0)
    assert store.backlog() == backlog  # no outbox message
    reborn = IntegrationCore(store, CoreConfig())  # a new process on the same store
    assert reborn.order_record("00000001") is None
    assert reborn.available_to_promise("SKU-00001") == {"DC1": 5}  # nothing reserved
    retry = reborn.submit_order(scapi_order(quantity=2), "key-1", 2.0)
    assert retry.status == 202 and "Idempotent-Replayed" not in retry.headers  # the key was never taken


def test_a_death_after_the_order_commits_keeps_it_and_the_retry_gets_the_stored_reply(store: Store) -> None:
    core = started(store)
    backlog = store.backlog()
    core.crash_hook = dies_at("order_intake.after_commit")
    with pytest.raises(Died):
        core.submit_order(scapi_order(quantity=2), "key-1", 1.0)
    reborn = IntegrationCore(store, CoreConfig())
    record = reborn.order_record("00000001")
    assert record is not None and record.status.value == "stock_reserved"
    assert reborn.available_to_promise("SKU-00001") == {"DC1": 3}
    assert store.backlog() > backlog  # its commands are in the outbox
    retry = reborn.submit_order(scapi_order(quantity=2), "key-1", 2.0)
    assert retry.status == 202 and retry.headers.get("Idempotent-Replayed") == "true"
    assert reborn.available_to_promise("SKU-00001") == {"DC1": 3}  # reserved once


def test_a_webhook_rolled_back_is_processed_on_its_retry_and_one_committed_is_a_duplicate(
    store: Store,
) -> None:
    core = started(store)
    core.crash_hook = dies_at("webhook.before_commit")
    with pytest.raises(Died):
        core.receive_webhook("payment", "evt_1", "payment_intent.succeeded", {}, 1.0)
    core = IntegrationCore(store, CoreConfig())
    core.crash_hook = dies_at("webhook.after_commit")
    with pytest.raises(Died):  # the inbox id was not kept: this delivery is the first again
        core.receive_webhook("payment", "evt_1", "payment_intent.succeeded", {}, 2.0)
    core = IntegrationCore(store, CoreConfig())
    reply = core.receive_webhook("payment", "evt_1", "payment_intent.succeeded", {}, 3.0)
    assert reply.body["status"] == "duplicate"


def test_a_death_is_not_an_error_the_batch_retry_swallows(store: Store) -> None:
    core = started(store)
    core.crash_hook = dies_at("order_intake.before_commit")
    batch = [(scapi_order("00000001"), "k1", 1.0), (scapi_order("00000002"), "k2", 1.0)]
    with pytest.raises(Died):
        core.submit_orders(batch)
    reborn = IntegrationCore(store, CoreConfig())
    assert reborn.order_record("00000001") is None and reborn.order_record("00000002") is None


def test_a_claimed_message_dies_with_its_process_and_comes_back_on_recovery(store: Store) -> None:
    core = started(store)
    core.submit_order(scapi_order(), "key-1", 1.0)
    core.crash_hook = dies_at("delivery.claimed")
    with pytest.raises(Died):
        core.claim("payment", 1.0)
    reborn = IntegrationCore(store, CoreConfig())
    assert reborn.claim("payment", 1.0) is None  # leased to the dead process
    assert reborn.recover() == 1
    delivery = reborn.claim("payment", 1.0)
    assert delivery is not None and delivery.message.kind == "VerifyPaymentAuthorization"


def test_without_a_hook_nothing_is_called_and_every_point_is_passed_by_name(store: Store) -> None:
    core = started(store)
    passed: list[str] = []
    core.crash_hook = passed.append
    core.submit_order(scapi_order(), "key-1", 1.0)
    assert passed == ["order_intake.before_commit", "order_intake.after_commit"]
    core.crash_hook = None
    assert core.submit_order(scapi_order("00000002"), "key-2", 1.0).status == 202


def _names_in_core_source() -> set[str]:
    """Every string literal given to ``_transaction`` or ``_crash_point`` in core/, and the idempotent
    scopes' points."""
    names: set[str] = set()
    for path in sorted(CORE_SOURCES.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("_transaction", "_crash_point")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(str(node.args[0].value))
    from retailsim.core.service.intake import ONCE_POINTS

    return names | {name for pair in ONCE_POINTS.values() for name in pair}


def test_the_core_passes_exactly_the_catalogued_points() -> None:
    in_source = _names_in_core_source()
    assert in_source == set(CRASH_POINTS), (
        f"not catalogued: {sorted(in_source - set(CRASH_POINTS))}; "
        f"catalogued but never passed: {sorted(set(CRASH_POINTS) - in_source)}"
    )
    assert len(CRASH_POINTS) == len(set(CRASH_POINTS))


def test_no_store_transaction_bypasses_the_crash_points() -> None:
    for path in sorted(CORE_SOURCES.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        uses = source.count(".store.transaction()")
        allowed = 2 if path.name == "transactions.py" else 0  # inside Transactions._one itself
        assert uses == allowed, f"{path.name}: a store transaction without its crash point"
