"""The PostgreSQL store under real concurrency: several stores (own pools, own connections) on one schema.

What the single-threaded contract suite cannot show: claimers racing on one outbox never hold the same
message, never hold two messages of one lane, deliver each lane in order and lose nothing; uniqueness
(idempotency keys, inbox ids) holds when the duplicates arrive at the same moment; appends announce
themselves to a listener in another connection at commit, never for a rollback. Skipped, like the
contract suite, only where no PostgreSQL is reachable; a failure under RETAILSIM_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from retailsim.core.stores import open_store
from retailsim.core.stores.base import ConcurrencyConflict, IdempotencyRecord, NewMessage, Position
from retailsim.core.stores.postgres import PostgresStore
from tests.contract.backends import POSTGRES_URL, drop_postgres_schema, services_required

pytestmark = pytest.mark.services

SCHEMA = f"concurrency_{os.getpid()}"
WORKERS = 6


@pytest.fixture
def first() -> Iterator[PostgresStore]:
    """A fresh schema; other stores on it are opened with ``fresh=False``, as other processes would."""
    try:
        store = PostgresStore(POSTGRES_URL, schema=SCHEMA, fresh=True)
    except Exception as exc:
        if services_required():
            pytest.fail(f"PostgreSQL required (RETAILSIM_REQUIRE_SERVICES=1) but unreachable: {exc}")
        pytest.skip(f"no PostgreSQL reachable at {POSTGRES_URL}: {exc}")
    yield store
    store.close()
    drop_postgres_schema(SCHEMA)


def run_together(count: int, work: Callable[[int, threading.Barrier], Any]) -> list[Any]:
    """Run ``work(i, barrier)`` on ``count`` threads; re-raise the first error; results in thread order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            results[i] = work(i, barrier)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    if errors:
        raise errors[0]
    return results


@pytest.mark.parametrize("batch", [1, 4], ids=["claim_next", "claim_batch"])
def test_concurrent_claimers_keep_lanes_exclusive_and_ordered(first: PostgresStore, batch: int) -> None:
    lanes, per_lane = 12, 15
    order = [(f"order-{lane:02d}", n) for n in range(per_lane) for lane in range(lanes)]
    random.Random(7).shuffle(order)
    with first.transaction() as tx:
        next_n = dict.fromkeys((lane for lane, _ in order), 0)
        for lane, _ in order:  # interleaved lanes, each lane's own messages in order
            n = next_n[lane]
            next_n[lane] += 1
            tx.append(NewMessage("erp", "Cmd", lane, f"corr-{lane}", {"n": n}, 0.0))

    guard = threading.Lock()
    holding: dict[int, int] = {}  # seq -> worker holding it now
    busy_lanes: dict[str, int] = {}  # lane -> worker holding its message now
    delivered: dict[str, list[int]] = {}
    violations: list[str] = []

    def claimer(worker: int, barrier: threading.Barrier) -> int:
        store = PostgresStore(POSTGRES_URL, schema=SCHEMA)  # its own pool, as another process would have
        rng = random.Random(worker)
        done = 0
        try:
            barrier.wait()
            while True:
                if batch == 1:
                    one = store.claim_next("erp", 1.0, 600.0)
                    messages = [one] if one is not None else []
                else:  # a collection: several lane heads at once (core/service/dispatch.py)
                    messages = store.claim_batch("erp", frozenset({"Cmd"}), 1.0, 600.0, batch)
                if not messages:
                    if store.backlog("erp") == 0:
                        return done
                    time.sleep(0.001)  # every open lane is held by another worker
                    continue
                with guard:
                    for message in messages:
                        if message.seq in holding:
                            violations.append(
                                f"seq {message.seq} claimed by {worker} and {holding[message.seq]}"
                            )
                        if message.aggregate_id in busy_lanes:
                            violations.append(f"lane {message.aggregate_id} held twice")
                        holding[message.seq] = worker
                        busy_lanes[message.aggregate_id] = worker
                        delivered.setdefault(message.aggregate_id, []).append(int(message.payload["n"]))
                time.sleep(rng.random() * 0.002)  # "delivering"
                with store.transaction() as tx:
                    for message in messages:
                        tx.complete(message.seq)
                    with guard:  # released before commit: a later claim can only start after it
                        for message in messages:
                            del holding[message.seq]
                            del busy_lanes[message.aggregate_id]
                done += len(messages)
        finally:
            store.close()

    counts = run_together(WORKERS, claimer)

    assert violations == []
    assert sum(counts) == lanes * per_lane
    assert sum(1 for c in counts if c > 0) > 1, "only one worker ever claimed: no concurrency was tested"
    assert delivered == {f"order-{lane:02d}": list(range(per_lane)) for lane in range(lanes)}
    assert first.backlog() == 0 and first.outbox_stats().in_flight == 0


def test_expired_leases_are_reclaimed_once_under_contention(first: PostgresStore) -> None:
    with first.transaction() as tx:
        for lane in range(20):
            tx.append(NewMessage("erp", "Cmd", f"o{lane}", f"c{lane}", {}, 0.0))
    for _ in range(20):
        assert first.claim_next("erp", 0.0, 10.0) is not None  # a holder that then "dies"

    def reclaim(worker: int, barrier: threading.Barrier) -> list[int]:
        store = PostgresStore(POSTGRES_URL, schema=SCHEMA)
        try:
            barrier.wait()
            got = []
            while (message := store.claim_next("erp", 100.0, 600.0)) is not None:
                got.append(message.seq)
            return got
        finally:
            store.close()

    claimed = [seq for seqs in run_together(WORKERS, reclaim) for seq in seqs]
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 20


def test_one_of_many_concurrent_creators_of_an_idempotency_key_wins(first: PostgresStore) -> None:
    def create(worker: int, barrier: threading.Barrier) -> str:
        store = PostgresStore(POSTGRES_URL, schema=SCHEMA)
        try:
            barrier.wait()
            with store.transaction() as tx:
                tx.put_idempotency(
                    IdempotencyRecord("orders", "k1", f"fp{worker}", "in_flight", None, 0.0), create=True
                )
                time.sleep(0.05)  # hold the uncommitted row while the others try
            return "won"
        except ConcurrencyConflict:
            return "conflict"
        finally:
            store.close()

    outcomes = run_together(WORKERS, create)
    assert sorted(outcomes) == ["conflict"] * (WORKERS - 1) + ["won"]
    with first.transaction() as tx:
        record = tx.get_idempotency("orders", "k1")
    assert record is not None and record.fingerprint == f"fp{outcomes.index('won')}"


def test_one_of_many_concurrent_creators_of_an_aggregate_wins(first: PostgresStore) -> None:
    """Two workers that both found an order number free (no row to lock): the insert-only save decides."""

    def create(worker: int, barrier: threading.Barrier) -> str:
        store = PostgresStore(POSTGRES_URL, schema=SCHEMA)
        try:
            barrier.wait()
            with store.transaction() as tx:
                assert tx.load("order_doc", "00000001") is None
                tx.save("order_doc", "00000001", {"by": worker}, 0.0, create=True)
                time.sleep(0.05)  # hold the uncommitted row while the others try
            return "won"
        except ConcurrencyConflict:
            return "conflict"
        finally:
            store.close()

    outcomes = run_together(WORKERS, create)
    assert sorted(outcomes) == ["conflict"] * (WORKERS - 1) + ["won"]
    with first.transaction() as tx:
        assert tx.load("order_doc", "00000001") == {"by": outcomes.index("won")}


def test_one_of_many_concurrent_receivers_of_an_event_id_records_it(first: PostgresStore) -> None:
    def receive(worker: int, barrier: threading.Barrier) -> bool:
        store = PostgresStore(POSTGRES_URL, schema=SCHEMA)
        try:
            barrier.wait()
            with store.transaction() as tx:
                fresh = tx.add_inbox("carrier", "evt_1", 0.0)
                time.sleep(0.05)
            return fresh
        finally:
            store.close()

    assert sorted(run_together(WORKERS, receive)) == [False] * (WORKERS - 1) + [True]


def test_a_conflict_caught_inside_a_transaction_leaves_it_usable(first: PostgresStore) -> None:
    record = IdempotencyRecord("orders", "k1", "fp", "in_flight", None, 0.0)
    with first.transaction() as tx:
        tx.put_idempotency(record, create=True)
    with first.transaction() as tx:
        with pytest.raises(ConcurrencyConflict):
            tx.put_idempotency(record, create=True)
        tx.save("order", "A", {"status": "answered 409"}, 1.0)  # the service goes on after a conflict
    with first.transaction() as tx:
        assert tx.load("order", "A") == {"status": "answered 409"}


def test_a_write_that_fails_in_a_pipelined_transaction_commits_nothing(first: PostgresStore) -> None:
    # Writes are pipelined (sent without waiting for their results), so the failure surfaces after later
    # statements were sent: the transaction must still raise and leave nothing behind.
    with pytest.raises(Exception, match="on_hand"), first.transaction() as tx:
        tx.save("order", "A", {"n": 1}, 0.0)
        tx.put_position(Position("SKU-1", "DC1", None, 0, 0))  # type: ignore[arg-type]  # NOT NULL
        tx.append(NewMessage("erp", "PostSalesOrder", "A", "A", {}, 0.0))
    assert list(first.aggregates("order")) == [] and first.backlog() == 0
    with first.transaction() as tx:  # the pool's connection is usable (or was replaced)
        tx.save("order", "B", {"n": 2}, 0.0)
    assert list(first.aggregates("order")) == [("B", {"n": 2})]


def test_schema_is_migrated_once_and_reopened_without_loss(first: PostgresStore) -> None:
    with first.transaction() as tx:
        tx.save("order", "A", {"n": 1}, 0.0)
    reopened = run_together(WORKERS, lambda i, b: (b.wait(), PostgresStore(POSTGRES_URL, schema=SCHEMA))[1])
    try:
        assert {store.schema_version() for store in reopened} == {1}
        assert list(reopened[0].aggregates("order")) == [("A", {"n": 1})]
    finally:
        for store in reopened:
            store.close()


def test_open_store_takes_the_schema_from_the_url(first: PostgresStore) -> None:
    """Only ever a schema of the test's own: the default ``retailsim`` may hold someone's live data (that
    a URL without ``?schema=`` means it is a unit test of ``split_schema``)."""
    store = open_store(f"{POSTGRES_URL}?schema={SCHEMA}")
    try:
        assert isinstance(store, PostgresStore) and store.schema == SCHEMA and store.url == POSTGRES_URL
        with first.transaction() as tx:
            tx.save("order", "A", {"n": 1}, 0.0)
        assert list(store.aggregates("order")) == [("A", {"n": 1})]
    finally:
        store.close()


def test_appends_from_another_process_are_announced_at_commit_and_rolled_back_ones_never(
    first: PostgresStore,
) -> None:
    heard: queue.Queue[str | None] = queue.Queue()
    stop = threading.Event()
    watcher = threading.Thread(target=first.watch_appends, args=(heard.put, stop, 0.1), daemon=True)
    watcher.start()
    other = PostgresStore(POSTGRES_URL, schema=SCHEMA)  # its own connections, as another process has
    try:
        assert heard.get(timeout=10) is None  # listening: "look at every destination"
        with pytest.raises(RuntimeError), other.transaction() as tx:
            tx.append(NewMessage("wms", "Cmd", "o1", "c1", {}, 0.0))
            raise RuntimeError("rolled back")
        with other.transaction() as tx:
            tx.append(NewMessage("erp", "Cmd", "o1", "c1", {}, 0.0))
            tx.append(NewMessage("erp", "Cmd", "o2", "c2", {}, 0.0))
            assert heard.empty(), "announced before the commit"
        assert heard.get(timeout=10) == "erp"
        message = other.claim_next("erp", 0.0, 60.0)
        assert message is not None
        with other.transaction() as tx:
            tx.dead_letter(message.seq, "poison", 1, 0.0)
        assert other.replay_dead_letter(other.dead_letters()[0].dlq_id, 1.0) is not None
        assert heard.get(timeout=10) == "erp"
        time.sleep(0.3)
        assert heard.empty()  # nothing for the rolled-back wms append; two erp appends, one notice
    finally:
        stop.set()
        watcher.join(timeout=5)
        other.close()
    assert not watcher.is_alive()
