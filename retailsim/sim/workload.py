"""The workload: a catalogue, a customer pool and order arrivals shaped like a trading day.

Arrival shapes: ``steady`` (Poisson at a constant rate), ``ramp`` (rate rising linearly to twice the
start), ``flash_sale`` (baseline with a spike ``spike_factor`` times higher for ``spike_duration``) and
``diurnal`` (a day-shaped sine). The rate is scaled so that the expected number of arrivals over the
window is shaped by it and exactly ``workload.orders`` orders arrive. Customers and addresses
come from a Faker pool built once per run from the seed (Faker is slow per call; a pool is not).
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from faker import Faker

from retailsim.scenarios.schema import WorkloadSpec


@dataclass(frozen=True, slots=True)
class CatalogItem:
    sku: str
    name: str
    price: float
    hero: bool
    stock: int


@dataclass(frozen=True, slots=True)
class Shopper:
    customer_id: str
    customer_no: str
    email: str
    first_name: str
    last_name: str
    address1: str
    city: str
    state_code: str
    postal_code: str


def build_catalog(spec: WorkloadSpec, rng: random.Random) -> list[CatalogItem]:
    items = []
    for i in range(spec.skus):
        hero = i < spec.hero_skus
        price = round(rng.uniform(spec.price_min, spec.price_max), 2)
        items.append(
            CatalogItem(
                sku=f"SKU-{i + 1:05d}",
                name=f"{'Hero ' if hero else ''}Product {i + 1}",
                price=price,
                hero=hero,
                stock=spec.hero_stock if hero else spec.stock_per_sku,
            )
        )
    return items


def build_shoppers(spec: WorkloadSpec, seed: int) -> list[Shopper]:
    faker = Faker(spec.locale)
    faker.seed_instance(seed)
    pool = min(spec.customers, 5000)  # a pool large enough to look varied, small enough to build fast
    shoppers = []
    for i in range(pool):
        first, last = faker.first_name(), faker.last_name()
        shoppers.append(
            Shopper(
                customer_id=f"cust{i + 1:07d}",
                customer_no=f"{i + 1:08d}",
                email=f"{first}.{last}{i}@example.com".lower().replace(" ", ""),
                first_name=first,
                last_name=last,
                address1=faker.street_address(),
                city=faker.city(),
                state_code=faker.state_abbr() if spec.locale == "en_US" else "NA",
                postal_code=faker.postcode(),
            )
        )
    return shoppers


def _rate_profile(spec: WorkloadSpec) -> list[tuple[float, float]]:
    """Piecewise-constant relative rate as (segment start, relative rate); the last segment ends at duration."""
    d = spec.duration
    if spec.shape == "steady":
        return [(0.0, 1.0)]
    if spec.shape == "flash_sale":
        start, end = spec.spike_start, spec.spike_start + spec.spike_duration
        segments = [(0.0, 1.0), (start, spec.spike_factor), (end, 1.0)]
        return [s for s in segments if s[0] < d]
    steps = 48
    if spec.shape == "ramp":
        return [(d * i / steps, 1.0 + i / (steps - 1)) for i in range(steps)]
    return [(d * i / steps, 1.0 + 0.8 * math.sin(math.pi * (i + 0.5) / steps) ** 2) for i in range(steps)]


def arrival_times(spec: WorkloadSpec, rng: random.Random) -> Iterator[float]:
    """Exactly ``spec.orders`` arrival times under the shape's rate profile, in time order.

    A Poisson process conditioned on its count is that many independent points drawn from the
    normalised rate profile, sorted — so the arrivals are Poisson-like within every segment and the
    count is exactly what the scenario asked for.
    """
    profile = _rate_profile(spec)
    bounds = [start for start, _ in profile] + [spec.duration]
    weights = [rate * (bounds[i + 1] - bounds[i]) for i, (_, rate) in enumerate(profile)]
    total = sum(weights)
    cumulative, running = [], 0.0
    for weight in weights:
        running += weight / total
        cumulative.append(running)
    times = []
    for _ in range(spec.orders):
        segment = min(bisect.bisect_left(cumulative, rng.random()), len(profile) - 1)
        times.append(rng.uniform(bounds[segment], bounds[segment + 1]))
    times.sort()
    yield from times


def in_spike(spec: WorkloadSpec, t: float) -> bool:
    return spec.shape == "flash_sale" and spec.spike_start <= t < spec.spike_start + spec.spike_duration


class CartPicker:
    """Picks SKUs for a cart: heroes draw the spike's crowd, the rest follow a Zipf-like popularity."""

    def __init__(self, catalog: list[CatalogItem], spec: WorkloadSpec, rng: random.Random) -> None:
        self.spec = spec
        self.rng = rng
        self.heroes = [item for item in catalog if item.hero]
        self.regular = [item for item in catalog if not item.hero] or catalog
        weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(self.regular))]
        total = sum(weights)
        running, self._cumulative = 0.0, []
        for w in weights:
            running += w / total
            self._cumulative.append(running)

    def pick(self, t: float) -> CatalogItem:
        hero_share = self.spec.hero_share if in_spike(self.spec, t) else self.spec.hero_share / 4
        if self.heroes and self.rng.random() < hero_share:
            return self.heroes[self.rng.randrange(len(self.heroes))]
        index = bisect.bisect_left(self._cumulative, self.rng.random())
        return self.regular[min(index, len(self.regular) - 1)]
