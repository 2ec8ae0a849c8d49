"""The open-order migration's two ERP commands, derived from the two ERPs' own specs.

``MigrateSalesOrder`` (to the cloud ERP) is the cloud dialect's ``PostSalesOrder`` — the same request and
the same idempotency (NetSuite's upsert by external id, SAP's look-up before a re-create) — whose reply
is not an order event but the migration's effect ``ORDER_MIGRATED``. ``RetireSalesOrder`` (to the legacy
ERP) is the legacy dialect's ``CancelSalesOrder`` aimed at the legacy document the job recorded
(``legacy_sales_order`` in the payload: by then the order's record names the cloud document), with the
effect ``LEGACY_RETIRED``. Neither rejects the order when refused: a refusal dead-letters the message,
where an operator sees it.

Rules kept: nothing here compares a kind; the derived specs say what the dialects' specs say, except
what the migration changes (kind, effect, no order event).
"""

from __future__ import annotations

import dataclasses

from retailsim.core.adapters.http import OutboundRequest
from retailsim.core.adapters.spec import (
    Answer,
    CommandInput,
    CommandSpec,
    Effect,
    ErpDialect,
    OrderMeant,
    no_event,
)

MIGRATE = "MigrateSalesOrder"
RETIRE = "RetireSalesOrder"
LEGACY_DOCUMENT = "legacy_sales_order"  # the payload key of the legacy document a retire closes


def _spec(dialect: ErpDialect, kind: str) -> CommandSpec:
    return next(spec for spec in dialect.commands if spec.kind == kind)


def migrate_spec(cloud: ErpDialect) -> CommandSpec:
    """Create the order in the cloud ERP as its dialect posts a sales order; the reply moves the order."""
    post = _spec(cloud, "PostSalesOrder")
    return dataclasses.replace(
        post, kind=MIGRATE, means=None, refused_means=no_event, effect=Effect.ORDER_MIGRATED
    )


def created_sales_order(cloud: ErpDialect, answer: Answer) -> str:
    """The cloud document a ``MigrateSalesOrder`` reply names (created, upserted or found by look-up)."""
    means = _spec(cloud, "PostSalesOrder").means
    meaning = means(answer) if means is not None else None
    facts = meaning.facts if isinstance(meaning, OrderMeant) else None
    return str((facts or {}).get("erp_sales_order") or "")


def retire_spec(legacy: ErpDialect) -> CommandSpec:
    """Close the legacy document the job recorded, as the legacy dialect cancels a sales order."""
    cancel = _spec(legacy, "CancelSalesOrder")

    def render(command: CommandInput) -> OutboundRequest | None:
        legacy_document = command.payload(LEGACY_DOCUMENT)
        aimed = command.record.model_copy(update={"erp_sales_order": legacy_document})
        return cancel.render(dataclasses.replace(command, order=aimed))

    return dataclasses.replace(
        cancel, kind=RETIRE, render=render, needs_order_doc=True, means=None, effect=Effect.LEGACY_RETIRED
    )
