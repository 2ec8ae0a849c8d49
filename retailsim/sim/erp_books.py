"""The ERPs' books as the evidence reads them: one ERP's ledgers, or both ERPs' of a migration as one.

With one ERP, :func:`erp_books` hands back a view whose every ledger *is* that ERP's (the same dicts), so
single-ERP evidence is exactly what it always was. During an ERP migration the view spans both ERPs:

* an order's sales orders are read from its ERP of record (the core's ``erp`` on the order's record), so
  ``no_lost_orders``, ``no_duplicate_erp_orders`` and ``reconciled_at_quiescence`` judge the ERP that
  owns the order — a migrated order's closed legacy document is not a duplicate; a stray document in
  the other ERP is ``one_erp_of_record``'s business;
* document numbers of the cloud ERP are qualified (``erp_cloud:12``), since both ERPs count from 1;
* stock, issues, restocks and adjustments are summed per (plant, material) over both ERPs (each ERP
  conserves its own book, so the sum is conserved too, and together they issue what the warehouse shipped);
* returns and credit memos are read from both (a return's documents sit in one of them).

Rules kept: read-only; built once per evidence gathering; iteration in sorted order.
"""

from __future__ import annotations

from collections.abc import Mapping

from retailsim.systems.erp_base import ErpSystem

Position = dict[str, int]


def _summed(books: list[Mapping[tuple[str, str], int]]) -> dict[tuple[str, str], int]:
    total: dict[tuple[str, str], int] = {}
    for book in books:
        for key, units in sorted(book.items()):
            total[key] = total.get(key, 0) + units
    return total


class ErpBooks:
    """The ledgers the evidence reads (see the module docstring)."""

    def __init__(
        self,
        legacy: ErpSystem,
        legacy_initial: dict[tuple[str, str], Position],
        cloud: ErpSystem | None = None,
        cloud_initial: dict[tuple[str, str], Position] | None = None,
        erp_of_record: Mapping[str, str] | None = None,
    ) -> None:
        self.legacy, self.cloud = legacy, cloud
        if cloud is None:
            self.orders_by_reference: Mapping[str, list[str]] = legacy.orders_by_reference
            self.sales_orders: Mapping[str, object] = legacy.sales_orders
            self.stock: Mapping[tuple[str, str], Position] = legacy.stock
            self.issued: Mapping[tuple[str, str], int] = legacy.issued
            self.restocked: Mapping[tuple[str, str], int] = legacy.restocked
            self.moved: Mapping[tuple[str, str], int] = legacy.moved
            self.returns_by_reference: Mapping[str, list[str]] = legacy.returns_by_reference
            self.credit_memos_by_reference: Mapping[str, list[str]] = legacy.credit_memos_by_reference
            self.max_reserved_over_on_hand = legacy.max_reserved_over_on_hand
            self.initial = legacy_initial
            return
        of_record = erp_of_record or {}
        self._prefix = f"{cloud.name}:"
        by_reference: dict[str, list[str]] = {}
        for reference in sorted(set(legacy.orders_by_reference) | set(cloud.orders_by_reference)):
            if of_record.get(reference, legacy.name) == cloud.name:
                by_reference[reference] = [
                    self._prefix + n for n in cloud.orders_by_reference.get(reference, [])
                ]
            else:
                by_reference[reference] = list(legacy.orders_by_reference.get(reference, []))
        self.orders_by_reference = by_reference
        self.sales_orders = {
            **legacy.sales_orders,
            **{self._prefix + n: doc for n, doc in cloud.sales_orders.items()},
        }
        stock: dict[tuple[str, str], Position] = {}
        for book in (legacy.stock, cloud.stock):
            for key, position in sorted(book.items()):
                total = stock.setdefault(key, {"on_hand": 0, "reserved": 0})
                total["on_hand"] += position["on_hand"]
                total["reserved"] += position["reserved"]
        self.stock = stock
        self.issued = _summed([legacy.issued, cloud.issued])
        self.restocked = _summed([legacy.restocked, cloud.restocked])
        self.moved = _summed([legacy.moved, cloud.moved])
        self.returns_by_reference = self._both(legacy.returns_by_reference, cloud.returns_by_reference)
        self.credit_memos_by_reference = self._both(
            legacy.credit_memos_by_reference, cloud.credit_memos_by_reference
        )
        self.max_reserved_over_on_hand = max(
            legacy.max_reserved_over_on_hand, cloud.max_reserved_over_on_hand
        )
        initial: dict[tuple[str, str], Position] = {}
        for book in (legacy_initial, cloud_initial or {}):
            for key, position in sorted(book.items()):
                total = initial.setdefault(key, {"on_hand": 0, "reserved": 0})
                total["on_hand"] += position["on_hand"]
                total["reserved"] += position.get("reserved", 0)
        self.initial = initial

    def _both(self, legacy: Mapping[str, list[str]], cloud: Mapping[str, list[str]]) -> dict[str, list[str]]:
        return {
            reference: [*legacy.get(reference, []), *(self._prefix + n for n in cloud.get(reference, []))]
            for reference in sorted(set(legacy) | set(cloud))
        }

    def _system(self, number: str) -> tuple[ErpSystem, str]:
        if self.cloud is not None and number.startswith(self._prefix):
            return self.cloud, number[len(self._prefix) :]
        return self.legacy, number

    def order_state(self, number: str) -> str:
        system, own = self._system(number)
        return system.order_state(own)

    def replaced_document(self, number: str) -> str | None:
        system, own = self._system(number)
        document = system.replaced_document(own)
        if document is None or system is self.legacy:
            return document
        return self._prefix + document
