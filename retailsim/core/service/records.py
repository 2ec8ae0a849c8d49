"""Reading the core's return documents: a return's record, and the returns opened against an order.

Rules kept: a record is validated as it is read (``ReturnRecord``); a missing document is None, not an
error.
"""

from __future__ import annotations

from retailsim.core.documents import DocKind
from retailsim.core.stores.base import Transaction
from retailsim.core.workflows.return_to_refund import ReturnRecord


def load_return(tx: Transaction, return_no: str) -> ReturnRecord | None:
    document = tx.load(DocKind.RETURN, return_no)
    return ReturnRecord.model_validate(document) if document is not None else None


def returns_of_order(tx: Transaction, order_no: str) -> list[str]:
    document = tx.load(DocKind.ORDER_RETURNS, order_no)
    return list(document["returns"]) if document is not None else []
