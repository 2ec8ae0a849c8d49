"""Store POS: pickup orders (ready and collected, or declined with the store's count), duplicates refused,
walk-in sales and write-offs in the stock ledgers, the inventory listing."""

from __future__ import annotations

import random
from typing import Any

import simpy

from retailsim.systems.base import Latency, Request
from retailsim.systems.pos import Pos
from tests.unit.systems.support import collect


def pos(stock: int = 3, **knobs: Any) -> Pos:
    fixed = {"pick_time": Latency(60.0, 60.0), "collect_time": Latency(3600.0, 3600.0)}
    return Pos(
        simpy.Environment(),
        random.Random(1),
        stores={"S001": {"SKU-1": stock, "SKU-2": stock}},
        **{**fixed, **knobs},
    )


def pickup(order_no: str = "00000001", quantity: int = 2) -> dict[str, Any]:
    return {
        "order_reference": order_no,
        "customer": {"name": "Ada"},
        "line_items": [{"sku": "SKU-1", "quantity": quantity}],
    }


def test_a_pickup_is_set_aside_then_collected_and_the_units_count_as_sold() -> None:
    store = pos()
    hooks = collect(store)
    created = store.dispatch(Request("POST", "/v1/stores/S001/pickups", pickup()))
    assert created.status == 201 and created.body["status"] == "accepted"
    duplicate = store.dispatch(Request("POST", "/v1/stores/S001/pickups", pickup()))
    assert duplicate.status == 422 and duplicate.body["errors"][0]["code"] == "duplicate_order_reference"
    store.env.run()
    assert [h.topic for h in hooks] == ["pickup.ready", "pickup.collected"]
    assert hooks[0].body["order_reference"] == "00000001" and hooks[0].body["store_id"] == "S001"
    assert store.stock["S001"]["SKU-1"] == 1 and store.sold[("S001", "SKU-1")] == 2


def test_a_short_shelf_declines_with_the_stores_count_and_moves_no_stock() -> None:
    store = pos(stock=1)
    hooks = collect(store)
    store.dispatch(Request("POST", "/v1/stores/S001/pickups", pickup(quantity=2)))
    store.env.run()
    assert [h.topic for h in hooks] == ["pickup.declined"]
    assert hooks[0].body["line_items"] == [{"sku": "SKU-1", "quantity": 2, "available": 1}]
    assert store.stock["S001"]["SKU-1"] == 1 and not store.sold


def test_goods_not_where_the_system_says_are_written_off_and_the_pickup_declined() -> None:
    store = pos(stock=3, pick_fail_rate=1.0)
    hooks = collect(store)
    store.dispatch(Request("POST", "/v1/stores/S001/pickups", pickup(quantity=1)))
    store.env.run()
    assert hooks[0].topic == "pickup.declined" and hooks[0].body["line_items"][0]["available"] == 0
    assert store.written_off[("S001", "SKU-1")] == 3 and store.stock["S001"]["SKU-1"] == 0


def test_walk_in_customers_buy_off_the_shelf_while_the_store_trades_and_the_listing_shows_it() -> None:
    store = pos(stock=50, walk_in_per_hour=60.0, trading_until_s=3600.0)
    store.env.run(until=10 * 3600.0)
    sold = sum(store.sold.values())
    assert 20 < sold == store.walk_in_sales < 120
    listing = store.dispatch(Request("GET", "/v1/stores/S001/inventory")).body
    assert listing["store_id"] == "S001"
    assert sum(item["on_hand"] for item in listing["items"]) == 100 - sold
    assert store.dispatch(Request("GET", "/v1/stores/S999/inventory")).status == 404
