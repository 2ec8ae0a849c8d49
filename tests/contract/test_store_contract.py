"""One contract suite, run against every Store implementation: the rules in core/stores/base.py."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from retailsim.core.stores.base import ConcurrencyConflict, IdempotencyRecord, NewMessage, Position, Store
from retailsim.core.stores.memory import MemoryStore
from retailsim.core.stores.sqlite import SqliteStore
from retailsim.core.workflows.order_to_cash import OrderRecord, OrderStatus
from tests.contract.backends import (
    contract_schema,
    drop_postgres_schema,
    postgres_store_or_skip,
)

BACKENDS = ["memory", "sqlite-file", "postgresql"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[Store]:
    if request.param == "memory":
        made: Store = MemoryStore()
    elif request.param == "sqlite-file":
        made = SqliteStore(os.path.join(tmp_path, "core.db"))
    else:
        made = postgres_store_or_skip()
    yield made
    made.close()
    if request.param == "postgresql":
        drop_postgres_schema(contract_schema())


def message(aggregate: str, kind: str = "Cmd", destination: str = "erp", at: float = 0.0) -> NewMessage:
    return NewMessage(destination, kind, aggregate, f"corr-{aggregate}", {"kind": kind}, at)


def test_transaction_commits_all_writes_together(store: Store) -> None:
    with store.transaction() as tx:
        tx.save("order", "A", {"status": "received"}, 1.0)
        tx.put_position(Position("SKU", "DC1", 10, 2))
        tx.append(message("A"))
    with store.transaction() as tx:
        assert tx.load("order", "A") == {"status": "received"}
        position = tx.get_position("SKU", "DC1")
        assert position is not None and (position.on_hand, position.reserved) == (10, 2)
    assert store.next_due_at("erp") == 0.0


def test_transaction_that_raises_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.save("order", "A", {"status": "received"}, 1.0)
        tx.add_inbox("wms", "evt-1", 1.0)
        tx.append(message("A"))
        raise RuntimeError("crash mid-transaction")
    with store.transaction() as tx:
        assert tx.load("order", "A") is None
        assert tx.add_inbox("wms", "evt-1", 2.0) is True
    assert store.next_due_at("erp") is None
    assert store.claim_next("erp", 10.0, 60.0) is None


def test_inbox_rejects_a_seen_event_id(store: Store) -> None:
    with store.transaction() as tx:
        assert tx.add_inbox("carrier", "evt_1", 0.0) is True
        assert tx.add_inbox("carrier", "evt_1", 0.0) is False
    with store.transaction() as tx:
        assert tx.add_inbox("carrier", "evt_1", 1.0) is False
        assert tx.add_inbox("wms", "evt_1", 1.0) is True  # ids are per source


def test_idempotency_key_is_unique(store: Store) -> None:
    record = IdempotencyRecord("orders", "k1", "fp", "in_flight", None, 0.0)
    with store.transaction() as tx:
        tx.put_idempotency(record, create=True)
    with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
        tx.put_idempotency(record, create=True)
    done = IdempotencyRecord("orders", "k1", "fp", "done", {"status": 202, "body": {"a": 1}}, 1.0)
    with store.transaction() as tx:
        tx.put_idempotency(done, create=False)
    with store.transaction() as tx:
        found = tx.get_idempotency("orders", "k1")
    assert found is not None and found.status == "done" and found.response == {"status": 202, "body": {"a": 1}}
    assert (found.scope, found.key, found.fingerprint, found.created_at) == ("orders", "k1", "fp", 1.0)
    found.response["status"] = 500  # a record read is the reader's own, as a database's row
    with store.transaction() as tx:
        again = tx.get_idempotency("orders", "k1")
        assert tx.get_idempotency("returns", "k1") is None  # keys are per scope
    assert again is not None and again.response == {"status": 202, "body": {"a": 1}}


def test_an_insert_only_save_refuses_an_existing_aggregate_and_the_transaction_goes_on(store: Store) -> None:
    with store.transaction() as tx:
        tx.save("order_doc", "A", {"v": 1}, 0.0, create=True)
    with store.transaction() as tx:
        with pytest.raises(ConcurrencyConflict):
            tx.save("order_doc", "A", {"v": 2}, 1.0, create=True)
        tx.save("order", "B", {"after": "conflict"}, 1.0)  # the transaction is still usable
    with store.transaction() as tx:
        assert tx.load("order_doc", "A") == {"v": 1}
        assert tx.load("order", "B") == {"after": "conflict"}


def test_outbox_is_ordered_per_aggregate_and_destination(store: Store) -> None:
    with store.transaction() as tx:
        tx.append(message("A", "first"))
        tx.append(message("A", "second"))
        tx.append(message("B", "other"))
    first = store.claim_next("erp", 1.0, 60.0)
    other = store.claim_next("erp", 1.0, 60.0)
    assert first is not None and first.kind == "first" and first.attempts == 1
    assert other is not None and other.kind == "other"
    assert store.claim_next("erp", 1.0, 60.0) is None  # "second" waits for "first"
    with store.transaction() as tx:
        tx.complete(first.seq)
    second = store.claim_next("erp", 1.0, 60.0)
    assert second is not None and second.kind == "second"


def test_claim_batch_takes_due_lane_heads_of_its_kinds_only(store: Store) -> None:
    with store.transaction() as tx:
        tx.append(message("A", "Push", at=1.0))
        tx.append(message("A", "Push", at=1.0))  # behind A's first push: never in the same batch
        tx.append(message("B", "Other", at=1.0))  # another kind: left for claim_next
        tx.append(message("C", "Push", at=2.0))
        tx.append(message("D", "Push", at=9.0))  # not due yet
        tx.append(message("E", "Push", destination="wms", at=1.0))  # another destination
    batch = store.claim_batch("erp", frozenset({"Push"}), 5.0, 60.0, 10)
    assert [(m.aggregate_id, m.kind, m.status, m.attempts) for m in batch] == [
        ("A", "Push", "in_flight", 1),
        ("C", "Push", "in_flight", 1),
    ]
    assert store.claim_batch("erp", frozenset({"Push"}), 5.0, 60.0, 10) == []  # A's second waits
    other = store.claim_next("erp", 5.0, 60.0)
    assert other is not None and other.aggregate_id == "B"
    with store.transaction() as tx:
        tx.complete(batch[0].seq)
    later = store.claim_batch("erp", frozenset({"Push"}), 9.0, 60.0, 1)  # the limit holds
    assert [m.aggregate_id for m in later] == ["A"]
    rest = store.claim_batch("erp", frozenset({"Push"}), 9.0, 60.0, 10)
    assert [m.aggregate_id for m in rest] == ["D"]


def test_retry_later_delays_and_keeps_the_lane_blocked(store: Store) -> None:
    with store.transaction() as tx:
        tx.append(message("A", "first"))
        tx.append(message("A", "second"))
    claimed = store.claim_next("erp", 0.0, 60.0)
    assert claimed is not None
    with store.transaction() as tx:
        tx.retry_later(claimed.seq, 30.0, claimed.attempts, "HTTP 503")
    assert store.claim_next("erp", 10.0, 60.0) is None
    assert store.next_due_at("erp") == 30.0
    again = store.claim_next("erp", 30.0, 60.0)
    assert again is not None and again.kind == "first" and again.attempts == 2


def test_dead_letter_then_replay(store: Store) -> None:
    with store.transaction() as tx:
        tx.append(message("A", "poison"))
    claimed = store.claim_next("erp", 0.0, 60.0)
    assert claimed is not None
    with store.transaction() as tx:
        tx.dead_letter(claimed.seq, "HTTP 400: bad material", claimed.attempts, 5.0)
    dead = store.dead_letters()
    assert [(d.kind, d.reason, d.correlation_id, d.status) for d in dead] == [
        ("poison", "HTTP 400: bad material", "corr-A", "dead")
    ]
    assert store.claim_next("erp", 10.0, 60.0) is None
    replayed = store.replay_dead_letter(dead[0].dlq_id, 20.0)
    assert replayed is not None and replayed.kind == "poison"
    assert store.replay_dead_letter(dead[0].dlq_id, 21.0) is None  # only once
    assert store.dead_letters()[0].status == "replayed"
    assert store.claim_next("erp", 20.0, 60.0) is not None


def test_release_leases_returns_in_flight_work(store: Store) -> None:
    with store.transaction() as tx:
        tx.append(message("A"))
    assert store.claim_next("erp", 0.0, 60.0) is not None
    assert store.claim_next("erp", 0.0, 60.0) is None
    assert store.release_leases() == 1
    reclaimed = store.claim_next("erp", 0.0, 60.0)
    assert reclaimed is not None and reclaimed.attempts == 2


def test_a_claimed_message_is_a_copy(store: Store) -> None:
    """The caller's message is its own, like a database row: changing it changes nothing in the outbox."""
    with store.transaction() as tx:
        tx.append(message("A"))
    claimed = store.claim_next("erp", 0.0, 60.0)
    assert claimed is not None
    claimed.status, claimed.attempts, claimed.available_at = "pending", 0, 0.0
    assert store.claim_next("erp", 0.0, 60.0) is None  # still leased
    assert store.outbox_stats().in_flight == 1
    assert store.release_leases() == 1
    reclaimed = store.claim_next("erp", 0.0, 60.0)
    assert reclaimed is not None and reclaimed.attempts == 2


def status(aggregate: str, seq: int, destination: str = "storefront") -> NewMessage:
    """A status push: latest wins (the newest state supersedes pending older ones of its lane and kind)."""
    return NewMessage(
        destination, "UpdateOrderStatus", aggregate, f"corr-{aggregate}", {"seq": seq}, 0.0, True
    )


def claimed_payloads(store: Store, destination: str = "storefront") -> list[object]:
    """Claim and complete every due message of a destination, in order; their payloads."""
    payloads: list[object] = []
    while (claimed := store.claim_next(destination, 0.0, 60.0)) is not None:
        payloads.append(claimed.payload.get("seq", claimed.kind))
        with store.transaction() as tx:
            tx.complete(claimed.seq)
    return payloads


def test_a_status_push_supersedes_the_pending_ones_of_its_lane_and_kind(store: Store) -> None:
    with store.transaction() as tx:
        tx.append(status("A", 1))
        tx.append(status("B", 1))
    with store.transaction() as tx:
        tx.append(status("A", 2))
    with store.transaction() as tx:
        tx.append(status("A", 3))
        tx.append(status("A", 1, destination="service_cloud"))  # another lane: untouched
    assert store.backlog("storefront") == 2
    assert claimed_payloads(store) == [1, 3]  # B's 1, then A's newest; A's 1 and 2 were never sent
    assert claimed_payloads(store, "service_cloud") == [1]
    assert store.backlog() == 0 and store.outbox_stats().pending == 0


def test_a_status_push_in_flight_is_not_superseded_and_the_newer_one_waits_for_it(store: Store) -> None:
    with store.transaction() as tx:
        tx.append(status("A", 1))
    in_flight = store.claim_next("storefront", 0.0, 60.0)
    assert in_flight is not None
    with store.transaction() as tx:
        tx.append(status("A", 2))
    assert store.claim_next("storefront", 0.0, 60.0) is None  # the lane waits for the one in flight
    with store.transaction() as tx:
        tx.retry_later(in_flight.seq, 0.0, in_flight.attempts, "HTTP 503")
    with store.transaction() as tx:
        tx.append(status("A", 3))  # the retried 1 is pending again: superseded now, as the 2 is
    assert claimed_payloads(store) == [3]


def test_only_a_message_that_asks_supersedes_and_only_its_own_kind(store: Store) -> None:
    with store.transaction() as tx:
        tx.append(message("A", "Other", destination="storefront"))
        tx.append(status("A", 1))
        tx.append(NewMessage("storefront", "UpdateOrderStatus", "A", "corr-A", {"seq": 2}, 0.0))
    with store.transaction() as tx:
        tx.append(status("A", 3))
    assert claimed_payloads(store) == ["Other", 3]


def test_superseding_rolls_back_with_its_transaction(store: Store) -> None:
    with store.transaction() as tx:
        tx.append(status("A", 1))
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.append(status("A", 2))
        raise RuntimeError("crash before the commit")
    assert claimed_payloads(store) == [1]


def test_future_messages_are_not_due(store: Store) -> None:
    with store.transaction() as tx:
        tx.append(message("A", at=100.0))
    assert store.claim_next("erp", 50.0, 60.0) is None
    assert store.next_due_at("erp") == 100.0
    assert store.claim_next("erp", 100.0, 60.0) is not None


def test_aggregates_are_listed_in_id_order(store: Store) -> None:
    with store.transaction() as tx:
        for key in ("b", "a", "c"):
            tx.save("order", key, {"id": key}, 0.0)
        tx.save("other", "z", {}, 0.0)
    assert [k for k, _ in store.aggregates("order")] == ["a", "b", "c"]
    stats = store.outbox_stats()
    assert stats.pending == 0 and stats.in_flight == 0


def order_record(order_no: str = "A") -> OrderRecord:
    return OrderRecord(
        order_no=order_no,
        correlation_id=order_no,
        status=OrderStatus.SHIPPED,
        lines=[("SKU-1", 2)],
        synced={"storefront": 3},
        history=[(0.0, "received", "OrderReceived"), (5.5, "shipped", "OrderShipped")],
    )


def test_a_model_saved_reads_back_as_the_model_and_as_its_document(store: Store) -> None:
    record = order_record()
    with store.transaction() as tx:
        tx.save_model("order", "A", record, 1.0)
        assert tx.load_model("order", "A", OrderRecord) == record  # read your own write
    with store.transaction() as tx:
        assert tx.load_model("order", "A", OrderRecord) == record
        document = tx.load("order", "A")
        assert document == record.model_dump(mode="json")
        document["status"] = "cancelled"  # the reader's copy: the stored aggregate does not change
        assert tx.load_model("order", "A", OrderRecord) == record
        assert tx.load_model("order", "B", OrderRecord) is None
    assert list(store.aggregates("order")) == [("A", record.model_dump(mode="json"))]


def test_a_model_saved_insert_only_reads_back_the_same_and_is_not_saved_twice(store: Store) -> None:
    """Insert-only (``create=True``) is how the order as the storefront sent it is kept: it reads back
    equal, as the model and as its document, in its own transaction and after (the memory store keeps it
    as its JSON text); a second insert-only save is refused."""
    record = order_record()
    with store.transaction() as tx:
        tx.save_model("order_doc", "A", record, 1.0, create=True)
        assert tx.load_model("order_doc", "A", OrderRecord) == record  # read your own write
    with store.transaction() as tx:
        loaded = tx.load_model("order_doc", "A", OrderRecord)
        assert loaded == record and loaded.status is OrderStatus.SHIPPED
        assert tx.load("order_doc", "A") == record.model_dump(mode="json")
        with pytest.raises(ConcurrencyConflict):
            tx.save_model("order_doc", "A", record, 2.0, create=True)
    assert list(store.aggregates("order_doc")) == [("A", record.model_dump(mode="json"))]


def test_a_document_saved_reads_back_as_a_model(store: Store) -> None:
    record = order_record()
    with store.transaction() as tx:
        tx.save("order", "A", record.model_dump(mode="json"), 1.0)
    with store.transaction() as tx:
        loaded = tx.load_model("order", "A", OrderRecord)
    assert loaded == record and loaded.status is OrderStatus.SHIPPED


def test_a_document_read_is_the_readers_own(store: Store) -> None:
    """Setting a field of the document saved, or of one read, changes nothing kept (as with a database)."""
    saved = {"order_no": "A", "units": {"SKU-1": 2}}
    with store.transaction() as tx:
        tx.save("tracking", "EZ1", saved, 1.0)
    saved["order_no"] = "changed after the save"
    with store.transaction() as tx:
        read = tx.load("tracking", "EZ1")
        assert read == {"order_no": "A", "units": {"SKU-1": 2}}
        read["order_no"] = "changed by a reader"
    with store.transaction() as tx:
        assert tx.load("tracking", "EZ1") == {"order_no": "A", "units": {"SKU-1": 2}}
    assert list(store.aggregates("tracking")) == [("EZ1", {"order_no": "A", "units": {"SKU-1": 2}})]


def test_a_model_saved_in_a_transaction_that_raises_is_not_kept(store: Store) -> None:
    with store.transaction() as tx:
        tx.save_model("order", "A", order_record(), 1.0)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.save_model("order", "A", order_record().model_copy(update={"status": OrderStatus.DELIVERED}), 2.0)
        raise RuntimeError("crash mid-transaction")
    with store.transaction() as tx:
        loaded = tx.load_model("order", "A", OrderRecord)
    assert loaded is not None and loaded.status is OrderStatus.SHIPPED


class Mutable(BaseModel):
    value: int = 0


def test_only_frozen_models_are_saved(store: Store) -> None:
    with pytest.raises(TypeError, match="frozen"), store.transaction() as tx:
        tx.save_model("thing", "A", Mutable(), 1.0)
    with store.transaction() as tx:
        assert tx.load("thing", "A") is None


def test_a_lane_is_open_while_a_message_is_pending_in_flight_or_parked(store: Store) -> None:
    """``has_open_message``: pending, in flight and put back (a retry or a parked reply) are unfinished;
    delivered and dead-lettered are finished; another destination's or aggregate's lane is not asked."""

    def is_open(aggregate: str = "A", destination: str = "erp") -> bool:
        with store.transaction() as tx:
            return tx.has_open_message(destination, aggregate)

    assert not is_open()
    with store.transaction() as tx:
        tx.append(message("A", "first"))
        assert tx.has_open_message("erp", "A")  # the transaction's own append counts
    assert is_open() and not is_open("B") and not is_open(destination="erp_cloud")
    claimed = store.claim_next("erp", 0.0, 60.0)
    assert claimed is not None and is_open()  # in flight
    with store.transaction() as tx:
        tx.retry_later(claimed.seq, 30.0, claimed.attempts, "parked: awaiting acknowledgement")
    assert is_open()  # parked
    again = store.claim_next("erp", 30.0, 60.0)
    assert again is not None
    with store.transaction() as tx:
        tx.complete(again.seq)
        assert not tx.has_open_message("erp", "A")  # the transaction's own completion counts
    assert not is_open()
    with store.transaction() as tx:
        tx.append(message("A", "poison"))
    poison = store.claim_next("erp", 40.0, 60.0)
    assert poison is not None
    with store.transaction() as tx:
        tx.dead_letter(poison.seq, "HTTP 400", poison.attempts, 41.0)
    assert not is_open()


def test_a_finished_message_is_gone_for_every_reader_and_an_unfinished_one_never_is(store: Store) -> None:
    """Delivered and superseded messages leave every reader of the outbox (stats, backlog, lanes, claims);
    pending, in-flight and dead-lettered ones are never dropped. The memory store keeps no record of a
    finished message at all (a simulation's memory is its scarce resource); the SQL stores keep the row,
    marked, on disk, where it costs no memory."""
    with store.transaction() as tx:
        tx.append(message("A", "delivered"))
        tx.append(NewMessage("storefront", "Status", "S", "corr-S", {"status": "shipped"}, 0.0, True))
        tx.append(message("B", "in-flight"))
        tx.append(message("C", "poison"))
        tx.append(message("D", "pending", at=30.0))
    with store.transaction() as tx:  # supersedes the first status push
        tx.append(NewMessage("storefront", "Status", "S", "corr-S", {"status": "delivered"}, 0.0, True))
    delivered, in_flight, poison = (store.claim_next("erp", 1.0, 60.0) for _ in range(3))
    assert delivered is not None and in_flight is not None and poison is not None
    assert (delivered.kind, in_flight.kind, poison.kind) == ("delivered", "in-flight", "poison")
    with store.transaction() as tx:
        tx.complete(delivered.seq)
        tx.dead_letter(poison.seq, "HTTP 400: bad material", poison.attempts, 2.0)
    stats = store.outbox_stats()
    assert (stats.pending, stats.in_flight, stats.by_destination) == (2, 1, {"erp": 2, "storefront": 1})
    assert (store.backlog(), store.backlog("erp"), store.backlog("storefront")) == (3, 2, 1)
    with store.transaction() as tx:
        assert not tx.has_open_message("erp", "A") and not tx.has_open_message("erp", "C")
        assert tx.has_open_message("erp", "B") and tx.has_open_message("erp", "D")
    [dead] = store.dead_letters()
    assert (dead.kind, dead.payload, dead.status) == ("poison", {"kind": "poison"}, "dead")
    status = store.claim_next("storefront", 1.0, 60.0)
    assert status is not None and status.payload == {"status": "delivered"}  # the newest, once
    assert store.claim_next("storefront", 1.0, 60.0) is None
    assert store.release_leases() == 2  # the in-flight message and the status push come back
    assert store.next_due_at("erp") == 0.0
    again = store.claim_next("erp", 1.0, 60.0)
    assert again is not None and again.kind == "in-flight"
    late = store.claim_next("erp", 30.0, 60.0)
    assert late is not None and late.kind == "pending"
    replayed = store.replay_dead_letter(dead.dlq_id, 3.0)
    assert replayed is not None and replayed.payload == {"kind": "poison"}
    if isinstance(store, MemoryStore):  # no record kept of what finished: only the unfinished
        kept = sorted(m.kind for m in store._messages.values())
        assert kept == ["Status", "in-flight", "pending", "poison"]
