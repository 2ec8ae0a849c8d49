"""What every mock ERP shares, whatever product it imitates: stock with reservations and the ledgers.

An ERP dialect (SAP S/4HANA in ``erp.py``, NetSuite, Dynamics 365, Oracle Fusion) speaks its own
product's paths, payloads, error bodies and idempotency rules; underneath, each books the same things,
and the harness's invariants read them the same way:

* ``stock[(location, item)] = {"on_hand", "reserved"}`` — an order reserves what its location has and
  never more (``reserve``), so ``reserved`` can never exceed ``on_hand``;
  ``max_reserved_over_on_hand`` records the worst breach ever seen (must stay 0).
* ``sales_orders`` (document id → the product-shaped record) and ``orders_by_reference``
  (storefront order number → document ids, in booking order: two ids mean a duplicate order);
  the same pair for return authorisations and credit memos, keyed by the storefront return number.
* ``issued`` / ``restocked`` / ``moved``: units shipped, returned to stock and adjusted per
  (location, item), for the inventory-conservation invariant.

Rules kept: imports SimPy, the standard library and ``retailsim.systems`` only; document numbers are
counters (never random); stock is built and reported in sorted order, never iterated as a set.
"""

from __future__ import annotations

import random
from typing import Any

import simpy

from retailsim.systems.base import Latency, MockSystem, Request, Response

Document = dict[str, Any]


class ErpSystem(MockSystem):
    """Base of the ERP dialects: per-location stock with reservations, document ledgers, numbering.

    ``dialect`` is the registry name (``retailsim.systems.erp_dialects``). ``retry_after`` says whether
    the product's throttling answer carries a ``Retry-After`` header; each dialect defaults to what its
    product is known to do, and a scenario can turn it either way to rehearse both client paths.
    """

    name = "erp"
    dialect = "erp"
    sends_retry_after = True
    # Retired at an ERP migration's cutover: from this simulated time on, every write that books new
    # business — a sales order created or upserted, goods issued, stock moved — is refused (403); the
    # run-off of its existing documents (closing one, the returns and credit memos of its own orders)
    # goes on. None: never.
    read_only_from: float | None = None
    NEW_BUSINESS_HANDLERS = (
        "create_sales_order",
        "upsert_sales_order",
        "goods_issue",
        "fulfil",
        "goods_movement",
        "inventory_adjustment",
    )

    def __init__(
        self,
        env: simpy.Environment,
        rng: random.Random,
        *,
        stock: dict[str, dict[str, int]] | None = None,
        concurrency: int = 4,
        latency: Latency = Latency(0.4, 2.0),
        rate_limit_per_s: float | None = None,
        retry_after: bool | None = None,
    ) -> None:
        super().__init__(
            env, rng, concurrency=concurrency, latency=latency, rate_limit_per_s=rate_limit_per_s
        )
        self.retry_after = self.sends_retry_after if retry_after is None else retry_after
        self.stock: dict[tuple[str, str], dict[str, int]] = {
            (location, item): {"on_hand": qty, "reserved": 0}
            for location, items in sorted((stock or {}).items())
            for item, qty in sorted(items.items())
        }
        self.max_reserved_over_on_hand = 0
        self.sales_orders: dict[str, Document] = {}
        self.orders_by_reference: dict[str, list[str]] = {}
        self.return_authorisations: dict[str, Document] = {}
        self.returns_by_reference: dict[str, list[str]] = {}
        self.credit_memos: dict[str, Document] = {}
        self.credit_memos_by_reference: dict[str, list[str]] = {}
        self.issued: dict[tuple[str, str], int] = {}
        self.restocked: dict[tuple[str, str], int] = {}
        self.moved: dict[tuple[str, str], int] = {}
        self._numbers: dict[str, int] = {}

    def dispatch(self, request: Request) -> Response:
        if (
            self.read_only_from is not None
            and self.env.now >= self.read_only_from
            and self._refused_when_read_only(request)
        ):
            self.refusals += 1
            return self.error(403, "ReadOnly", "This system is read-only since the cutover to the new ERP")
        return super().dispatch(request)

    def _refused_when_read_only(self, request: Request) -> bool:
        if request.method == "GET":
            return False
        for pattern, handler in self._routes.get(request.method, ()):
            if pattern.fullmatch(request.path):
                name = getattr(handler, "__name__", "").lower()
                return any(word in name for word in self.NEW_BUSINESS_HANDLERS)
        return False

    # ---- numbering and ledgers ----------------------------------------------------------------------

    def next_number(self, kind: str) -> int:
        """The next document number of one kind (sales order, return, credit memo...): 1, 2, 3..."""
        self._numbers[kind] = self._numbers.get(kind, 0) + 1
        return self._numbers[kind]

    def book_order(self, reference: str, number: str, document: Document) -> None:
        self.sales_orders[number] = document
        self.orders_by_reference.setdefault(reference, []).append(number)

    def book_return(self, reference: str, number: str, document: Document) -> None:
        self.return_authorisations[number] = document
        self.returns_by_reference.setdefault(reference, []).append(number)

    def book_credit_memo(self, reference: str, number: str, document: Document) -> None:
        self.credit_memos[number] = document
        self.credit_memos_by_reference.setdefault(reference, []).append(number)

    # ---- stock ---------------------------------------------------------------------------------------

    def reserve(self, location: str, item: str, requested: int) -> int:
        """Confirm as much of ``requested`` as the location has free; returns the units confirmed."""
        position = self.stock.get((location, item))
        if position is None:
            return 0
        confirmed = max(0, min(requested, position["on_hand"] - position["reserved"]))
        position["reserved"] += confirmed
        self._watch(position)
        return confirmed

    def release(self, location: str, item: str, quantity: int) -> None:
        """Give back a confirmation (a rejected order, a line moved to another location)."""
        position = self.stock.get((location, item))
        if position is not None:
            position["reserved"] -= quantity

    def issue(self, location: str, item: str, quantity: int) -> None:
        """Ship a confirmed quantity: it leaves stock and its reservation, and is counted as issued."""
        position = self.stock.get((location, item))
        if position is not None:
            position["on_hand"] -= quantity
            position["reserved"] -= quantity
            self._watch(position)
            self.issued[(location, item)] = self.issued.get((location, item), 0) + quantity

    def restock(self, location: str, item: str, quantity: int) -> None:
        """Returned goods back into unrestricted stock, counted as restocked."""
        position = self.stock.setdefault((location, item), {"on_hand": 0, "reserved": 0})
        position["on_hand"] += quantity
        self.restocked[(location, item)] = self.restocked.get((location, item), 0) + quantity

    def adjust(self, location: str, item: str, signed: int) -> None:
        """An inventory adjustment (a count, scrapping, a find): on hand moves by ``signed``, counted as moved."""
        position = self.stock.setdefault((location, item), {"on_hand": 0, "reserved": 0})
        position["on_hand"] += signed
        self.moved[(location, item)] = self.moved.get((location, item), 0) + signed

    def on_hand(self, item: str) -> list[tuple[str, int, int]]:
        """``(location, on_hand, reserved)`` of one item at every location, in location order."""
        return [
            (location, position["on_hand"], position["reserved"])
            for (location, stocked), position in sorted(self.stock.items())
            if stocked == item
        ]

    def _watch(self, position: dict[str, int]) -> None:
        """Ledger: the largest amount by which reservations ever exceeded stock (must stay 0)."""
        self.max_reserved_over_on_hand = max(
            self.max_reserved_over_on_hand, position["reserved"] - position["on_hand"]
        )

    def snapshot_stock(self) -> dict[tuple[str, str], dict[str, int]]:
        return {key: dict(value) for key, value in self.stock.items()}

    # ---- the ledgers in the harness's words ----------------------------------------------------------

    def order_state(self, number: str) -> str:
        """``open``, ``completed`` (shipped) or ``cancelled``: a booked sales order's state, in the words the
        harness's evidence uses whatever the product calls it."""
        raise NotImplementedError(f"the {self.dialect} dialect does not report order states yet")

    def replaced_document(self, number: str) -> str | None:
        """The document a free-of-charge replacement order makes good (a sales order whose parcel was lost,
        or a customer return being exchanged); None for an ordinary order."""
        raise NotImplementedError(f"the {self.dialect} dialect does not report replacements yet")

    def returns_of_order(self, number: str) -> list[str]:
        """The storefront return numbers of the return authorisations made with reference to a sales order."""
        raise NotImplementedError(f"the {self.dialect} dialect does not report returns by order yet")

    # ---- throttling ----------------------------------------------------------------------------------

    def with_retry_after(self, response: Response, retry_after_s: float) -> Response:
        """Add the product's ``Retry-After`` (whole seconds, at least 1) if this ERP sends one."""
        if self.retry_after:
            response.headers["Retry-After"] = str(max(1, round(retry_after_s + 0.499)))
        return response
