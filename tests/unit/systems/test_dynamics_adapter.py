"""The D365 adapter's multi-request documents as specs: the header leaves line 1, each line the next, only
the last line says the document is posted; the registry accepts a dialect's declared step kinds only.

(What the adapter sends and how the mock answers is the ERP contract suite's; the chain under the real
core, crashes and lost replies is tests/sim/test_erp_dialects.py's.)
"""

from __future__ import annotations

import dataclasses

import pytest

from retailsim.core.adapters import dynamics
from retailsim.core.adapters import registry as dialects
from retailsim.core.adapters.http import Reply
from retailsim.core.adapters.registry import ERP_COMMAND_KINDS, build_registry
from retailsim.core.adapters.spec import Answer, CommandSpec, FollowUp, OrderMeant
from retailsim.core.errors import CoreError
from retailsim.core.stores.base import OutboxMessage
from retailsim.core.workflows.order_to_cash import OrderEvent, OrderRecord

RECORD = OrderRecord(order_no="SHOP-1", correlation_id="SHOP-1", location="DC1", lines=[("A", 1), ("B", 2)])


def spec(kind: str) -> CommandSpec:
    return next(spec for spec in dynamics.COMMANDS if spec.kind == kind)


def answer(kind: str, reply: Reply, step: str = "send", payload: dict[str, object] | None = None) -> Answer:
    message = OutboxMessage(1, "erp", kind, "SHOP-1", "SHOP-1", dict(payload or {}), 0.0)
    return Answer(message, reply, step, 5.0, order=RECORD)


def follow(
    kind: str, reply: Reply, step: str = "send", payload: dict[str, object] | None = None
) -> list[FollowUp]:
    follow_ups = spec(kind).follow_ups
    assert follow_ups is not None
    return follow_ups(answer(kind, reply, step, payload))


def test_a_created_or_found_header_leaves_its_first_line_and_means_nothing_yet() -> None:
    created = Reply(201, {"SalesOrderNumber": "SO-7"})
    found = Reply(200, {"value": [{"SalesOrderNumber": "SO-9"}, {"SalesOrderNumber": "SO-8"}]})
    first = FollowUp("PostSalesOrderLine", {"document": "SO-7", "line": 1, "of": 2})
    assert follow("PostSalesOrder", created) == [first]
    assert follow("PostSalesOrder", found, "lookup") == [
        dataclasses.replace(first, payload={**first.payload, "document": "SO-8"})
    ]
    assert spec("PostSalesOrder").means is None


def test_each_line_leaves_the_next_and_only_the_last_means_posted() -> None:
    line = spec("PostSalesOrderLine")
    assert line.means is not None
    one, two = {"document": "SO-7", "line": 1, "of": 2}, {"document": "SO-7", "line": 2, "of": 2}
    assert follow("PostSalesOrderLine", Reply(201, {}), payload=one) == [FollowUp("PostSalesOrderLine", two)]
    assert line.means(answer("PostSalesOrderLine", Reply(201, {}), payload=one)) is None
    already = Reply(400, {"error": {"innererror": {"message": "Line: 2. The record already exists."}}})
    assert line.benign(already) and not line.benign(Reply(400, {"error": {"innererror": {"message": "bad"}}}))
    assert follow("PostSalesOrderLine", already, payload=two) == []
    assert line.means(answer("PostSalesOrderLine", already, payload=two)) == OrderMeant(
        OrderEvent.SALES_ORDER_POSTED, {"erp_sales_order": "SO-7", "posted_at": 5.0}
    )


def test_the_registry_serves_the_declared_steps_and_refuses_an_undeclared_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = build_registry("d365")
    assert set(dynamics.DIALECT.step_kinds) <= set(registry.kinds())
    assert set(registry.kinds()) >= ERP_COMMAND_KINDS
    undeclared = dataclasses.replace(dynamics.DIALECT, step_kinds=frozenset())
    monkeypatch.setitem(dialects.ERP_DIALECTS, "d365", undeclared)
    with pytest.raises(CoreError, match="adds"):
        build_registry("d365")
