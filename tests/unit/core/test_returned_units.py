"""Returns checked in at a store unit by unit (``return.unit_received``, an additive fact): each resellable
unit is restocked at once with a key of its own, the return is received when every unit has come in (and
restocks nothing more), a duplicate unit event is answered "duplicate" and restocks nothing; a core that
checks its inbox after the effect restocks the duplicate too.
"""

from __future__ import annotations

from typing import Any

from retailsim.core.service import CoreConfig, IntegrationCore
from retailsim.core.stores.memory import MemoryStore
from retailsim.core.workflows import return_to_refund as r2r
from retailsim.sim.broken_cores import CORES, CoreFactory

RETURN = "POS0000001"


def authorized_store_return(kind: CoreFactory = IntegrationCore) -> IntegrationCore:
    core = kind(MemoryStore(), CoreConfig(stores=["S001"]))
    record = r2r.ReturnRecord(
        return_no=RETURN,
        order_no="00000001",
        correlation_id=RETURN,
        channel="pos",
        location="S001",
        status=r2r.ReturnStatus.AUTHORIZED,
        lines=[
            r2r.ReturnLineState(sku="SKU-1", quantity=2, unit_price_minor=1000),
            r2r.ReturnLineState(sku="SKU-2", quantity=1, unit_price_minor=500),
        ],
        amount_minor=2500,
        payment_ref="pi_1",
    )
    with core.store.transaction() as tx:
        tx.save("return", RETURN, record.model_dump(mode="json"), 0.0)
    return core


def unit(sku: str, condition: str = "resellable") -> dict[str, Any]:
    return {"return_id": RETURN, "store_id": "S001", "order_reference": "00000001", "sku": sku, "condition": condition}


def restocks(core: IntegrationCore) -> list[tuple[str, list[dict[str, Any]]]]:
    """The store adjustments the core sends (key, lines), each delivered as it comes due."""
    sent = []
    while (delivery := core.claim("pos", 1e6)) is not None:
        if delivery.message.kind in ("RestockReturnedUnit", "RestockReturnedGoods"):
            sent.append((delivery.request.headers.get("Idempotency-Key", ""), delivery.request.body["adjustments"]))
        with core.store.transaction() as tx:
            tx.complete(delivery.message.seq)
    return sent


def status(core: IntegrationCore) -> str:
    record = core.return_record(RETURN)
    assert record is not None
    return record.status.value


def test_each_resellable_unit_is_restocked_once_and_the_return_is_received_with_the_last() -> None:
    core = authorized_store_return()
    first = core.receive_webhook("pos", "7", "return.unit_received", unit("SKU-1"), 10.0)
    assert first.body["status"] == "processed" and "unit 1 of 3" in first.body["reason"]
    again = core.receive_webhook("pos", "7", "return.unit_received", unit("SKU-1"), 11.0)
    assert again.body["status"] == "duplicate"
    core.receive_webhook("pos", "8", "return.unit_received", unit("SKU-1"), 12.0)
    assert status(core) == "authorized"
    core.receive_webhook("pos", "9", "return.unit_received", unit("SKU-2", "damaged"), 13.0)
    assert status(core) in ("received", "refunding")
    sent = restocks(core)
    assert [lines for _, lines in sent] == [[{"sku": "SKU-1", "quantity": 1}]] * 2  # the damaged unit: none
    assert len({key for key, _ in sent}) == 2  # a key per unit: a retried restock replays, a new unit counts


def test_a_duplicate_unit_applied_after_the_effect_restocks_twice() -> None:
    core = authorized_store_return(CORES["inbox-after-effect"])
    core.receive_webhook("pos", "7", "return.unit_received", unit("SKU-1"), 10.0)
    again = core.receive_webhook("pos", "7", "return.unit_received", unit("SKU-1"), 11.0)
    assert again.body["status"] == "duplicate"
    assert len(restocks(core)) == 2  # one unit checked in, two restocked
