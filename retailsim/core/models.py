"""The canonical model: the one shape every system is mapped to and from.

Rules kept here: models are frozen pydantic v2 models with ``extra="forbid"``, so an unknown or
misspelt field is an error at the boundary rather than a silent loss; money is in minor units (cents)
as integers, so sums are exact; no model knows any product's field names (that is core/adapters).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Canonical(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Address(Canonical):
    name: str
    line1: str
    city: str
    region: str
    postal_code: str
    country: str = Field(min_length=2, max_length=2)


class Customer(Canonical):
    customer_id: str
    email: str
    name: str


class OrderLine(Canonical):
    line_no: int = Field(ge=1)
    sku: str = Field(min_length=1)
    name: str
    quantity: int = Field(ge=1, le=10_000)
    unit_price_minor: int = Field(ge=0)

    @property
    def amount_minor(self) -> int:
        return self.quantity * self.unit_price_minor


class Payment(Canonical):
    """A card authorisation taken at checkout; ``reference`` is the gateway's PaymentIntent id."""

    reference: str
    method: str
    amount_minor: int = Field(ge=0)
    authorized: bool


class Order(Canonical):
    order_no: str = Field(min_length=1, max_length=64)
    channel: str
    site_id: str
    currency: str = Field(min_length=3, max_length=3)
    customer: Customer
    ship_to: Address
    lines: tuple[OrderLine, ...] = Field(min_length=1)
    payment: Payment | None
    total_minor: int = Field(ge=0)
    confirmed_to_customer: bool = False
    placed_at: str
    pickup_store: str | None = Field(None, min_length=1, max_length=64)  # BOPIS: collect in this store

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)


class ReturnLine(Canonical):
    sku: str = Field(min_length=1, max_length=100)
    quantity: int = Field(ge=1, le=10_000)
    condition: str = Field("resellable", max_length=40)


class Return(Canonical):
    """A return request (store counter, service agent or storefront); the body of ``POST /v1/returns``."""

    return_no: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    order_no: str = Field(min_length=1, max_length=64)
    channel: Literal["storefront", "agent", "pos"] = "storefront"
    lines: tuple[ReturnLine, ...] = Field(min_length=1, max_length=500)
    reason: str = Field("R01", max_length=40)
    exchange: bool = False  # the same goods again instead of a refund


def available_to_promise(on_hand: int, reserved: int, safety_stock: int) -> int:
    """What may still be promised to a customer: on hand − reserved − safety stock, never below zero."""
    return max(0, on_hand - reserved - safety_stock)
