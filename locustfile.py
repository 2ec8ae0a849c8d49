"""Load for ``retailsim serve``: shoppers, carriers and service agents, shaped like a flash sale.

* Shoppers build valid SCAPI orders from ``GET /v1/catalog``, authorise a sandbox PaymentIntent, and
  POST the order with an Idempotency-Key; on a timeout they send it again with the same key, as real
  storefronts do (a 409 "in flight" then means "still working", a replayed 202 means "done once").
* Carriers send signed webhooks (``Webhook-Signature``) and send each one twice: the second must be a
  200 "duplicate" with no effect. Events for parcels the core has not heard of yet answer 409.
* Agents read order timelines, stock and the ops summary — operations endpoints, with the bearer token
  of ``RETAILSIM_OPS_TOKEN`` (the one given to ``serve``, or the one it printed).
* ``FlashSaleShape`` reproduces the flash-sale curve: a baseline, a spike ``FLASH_SALE_FACTOR`` times
  higher for the middle fifth of the run, and the baseline again.

* ``RETAILSIM_API_HOSTS`` (comma-separated URLs): the users are dealt over these API hosts in turn, each
  user keeping its host — load spread over ``serve --role api`` hosts without a load balancer in front
  (with one, give its URL as ``--host`` and leave this unset).

Expected answers are marked as successes (409 in flight/not yet known, 200 rejected for stock), so the
failure count means what it says. Run (see README, "Serving the core and load testing")::

    RETAILSIM_OPS_TOKEN=... locust -f locustfile.py --headless --host http://127.0.0.1:8080 --csv out/flash --html out/flash.html
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import time
import uuid
from collections import deque
from typing import Any

from locust import HttpUser, LoadTestShape, between, task
from requests.exceptions import RequestException

from retailsim.core.api import sign

SECRET = os.environ.get("RETAILSIM_WEBHOOK_SECRET", "whsec_retailsim_dev")
OPS_HEADERS = {"Authorization": f"Bearer {os.environ.get('RETAILSIM_OPS_TOKEN', '')}"}
DURATION_S = float(os.environ.get("FLASH_SALE_SECONDS", "60"))
BASE_USERS = int(os.environ.get("FLASH_SALE_BASE_USERS", "4"))
FACTOR = float(os.environ.get("FLASH_SALE_FACTOR", "8"))
ORDER_TIMEOUT_S = float(os.environ.get("ORDER_TIMEOUT_S", "5"))
MAX_ATTEMPTS = 4

API_HOSTS = [url.strip() for url in os.environ.get("RETAILSIM_API_HOSTS", "").split(",") if url.strip()]
_next_host = itertools.count()  # which of API_HOSTS the next user gets (users start one by one)

_catalog: dict[str, Any] = {}
_catalog_lock = threading.Lock()
_placed: deque[tuple[str, str]] = deque(maxlen=2000)  # (order number, payment intent) of accepted orders


def catalog(user: HttpUser) -> dict[str, Any]:
    with _catalog_lock:
        if not _catalog:
            response = user.client.get("/v1/catalog", name="/v1/catalog")
            response.raise_for_status()
            _catalog.update(response.json())
        return _catalog


def signed_post(
    user: HttpUser, source: str, body: dict[str, Any], name: str, headers: dict[str, str] | None = None
) -> int:
    raw = json.dumps(body).encode()
    all_headers = {
        "Content-Type": "application/json",
        "Webhook-Signature": sign(SECRET, raw, int(time.time())),
    }
    all_headers.update(headers or {})
    with user.client.post(
        f"/v1/webhooks/{source}", data=raw, headers=all_headers, name=name, catch_response=True
    ) as r:
        if r.status_code in (
            200,
            409,
        ):  # processed or duplicate; 409: not yet known, the sender retries later
            r.success()
        return int(r.status_code)


class ApiUser(HttpUser):
    """A user bound to one API host: ``RETAILSIM_API_HOSTS`` in turn when given, else locust's ``--host``."""

    abstract = True

    def __init__(self, environment: Any) -> None:
        if API_HOSTS:
            self.host = API_HOSTS[next(_next_host) % len(API_HOSTS)]  # HttpUser builds its client from it
        super().__init__(environment)


class Shopper(ApiUser):
    """A storefront checkout: authorise the card, export the order, retry on timeout with the same key."""

    weight = 8
    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.catalog = catalog(self)

    def _cart(self) -> list[dict[str, Any]]:
        products = self.catalog["products"]
        heroes = [p for p in products if p["hero"]] or products
        lines: dict[str, dict[str, Any]] = {}
        for _ in range(self.rng.randint(1, 3)):
            product = self.rng.choice(heroes if self.rng.random() < 0.5 else products)
            lines[product["sku"]] = product
        return list(lines.values())

    @task
    def checkout(self) -> None:
        order_no = f"L{uuid.uuid4().hex[:14].upper()}"
        shopper = self.rng.choice(self.catalog["shoppers"])
        items = []
        for index, product in enumerate(self._cart()):
            quantity = self.rng.randint(1, 2)
            items.append(
                {
                    "itemId": f"{order_no}-{index + 1}",
                    "productId": product["sku"],
                    "productName": product["name"],
                    "quantity": quantity,
                    "basePrice": product["price"],
                    "price": round(product["price"] * quantity, 2),
                    "tax": 0.0,
                    "shipmentId": "me",
                }
            )
        total = round(sum(item["price"] for item in items), 2)
        intent = self.client.post(
            "/v1/sandbox/payment_intents",
            json={"amount": round(total * 100), "currency": "usd", "order_no": order_no},
            name="/v1/sandbox/payment_intents",
        )
        if intent.status_code != 200:
            return
        intent_id = str(intent.json()["id"])
        address = {
            k: shopper[k]
            for k in ("firstName", "lastName", "address1", "city", "stateCode", "postalCode", "countryCode")
        }
        order = {
            "orderNo": order_no,
            "orderToken": f"tok{order_no}",
            "siteId": self.catalog["site_id"],
            "creationDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "currency": self.catalog["currency"],
            "channelType": "storefront",
            "status": "new",
            "confirmationStatus": "not_confirmed",
            "customerInfo": {k: shopper[k] for k in ("customerId", "customerNo", "email")},
            "billingAddress": address,
            "productItems": items,
            "shipments": [{"shipmentId": "me", "shippingAddress": address, "shippingMethod": {"id": "001"}}],
            "paymentInstruments": [
                {
                    "paymentInstrumentId": f"pi-{order_no}",
                    "paymentMethodId": "CREDIT_CARD",
                    "amount": total,
                    "c_paymentIntentId": intent_id,
                }
            ],
            "productSubTotal": total,
            "shippingTotal": 0.0,
            "taxTotal": 0.0,
            "orderTotal": total,
        }
        key = f"checkout-{order_no}"
        for attempt in range(1, MAX_ATTEMPTS + 1):
            name = "/v1/orders" if attempt == 1 else "/v1/orders [retry, same key]"
            last = attempt == MAX_ATTEMPTS
            with self.client.post(
                "/v1/orders",
                json=order,
                headers={"Idempotency-Key": key},
                name=name,
                timeout=ORDER_TIMEOUT_S,
                catch_response=True,
            ) as response:
                if response.status_code == 202:
                    response.success()
                    _placed.append((order_no, intent_id))
                    return
                if response.status_code == 200:  # a duplicate export, or rejected: sold out
                    response.success()
                    return
                if response.status_code in (409, 503) or isinstance(response.error, RequestException):
                    if last:
                        response.failure(f"no answer after {attempt} attempts with the same key")
                        return
                    response.success()  # in flight / restarting / timed out: try again with the same key
                else:
                    response.failure(f"{response.status_code}: {response.text[:200]}")
                    return
            time.sleep(0.5 * attempt)


class Carrier(ApiUser):
    """Webhook senders: tracker updates for shipped parcels, payment events; every event twice."""

    weight = 1
    wait_time = between(0.5, 2.0)

    @task(3)
    def payment_event_twice(self) -> None:
        if not _placed:
            return
        order_no, intent_id = random.choice(list(_placed))
        event = {
            "id": f"evt_{uuid.uuid4().hex[:16]}",
            "object": "event",
            "type": "payment_intent.amount_capturable_updated",
            "data": {"object": {"id": intent_id, "metadata": {"order_no": order_no}}},
        }
        signed_post(self, "payment", event, "/v1/webhooks/payment")
        signed_post(self, "payment", event, "/v1/webhooks/payment [duplicate]")

    @task(1)
    def tracker_event_twice(self) -> None:
        if not _placed:
            return
        order_no, _ = random.choice(list(_placed))
        timeline = self.client.get(
            f"/v1/orders/{order_no}", name="/v1/orders/{id}", headers=OPS_HEADERS
        ).json()
        code = (timeline.get("carrier") or {}).get("tracking_code") or f"EZ{uuid.uuid4().hex[:10].upper()}"
        event = {
            "id": f"evt_{uuid.uuid4().hex[:16]}",
            "object": "Event",
            "description": "tracker.updated",
            "result": {"tracking_code": code, "status": "in_transit"},
        }
        signed_post(self, "carrier", event, "/v1/webhooks/carrier")
        signed_post(self, "carrier", event, "/v1/webhooks/carrier [duplicate]")


class Agent(ApiUser):
    """A service agent: order timelines, stock look-ups, the ops summary."""

    weight = 1
    wait_time = between(0.5, 2.0)

    @task(4)
    def timeline(self) -> None:
        if _placed:
            order_no, _ = random.choice(list(_placed))
            self.client.get(f"/v1/orders/{order_no}", name="/v1/orders/{id}", headers=OPS_HEADERS)

    @task(2)
    def stock(self) -> None:
        products = catalog(self)["products"]
        sku = random.choice(products[:10])["sku"]
        self.client.get(f"/v1/inventory/{sku}", name="/v1/inventory/{sku}")

    @task(1)
    def ops(self) -> None:
        self.client.get("/v1/ops/summary", name="/v1/ops/summary", headers=OPS_HEADERS)


class FlashSaleShape(LoadTestShape):
    """Baseline for the first 40 % of the run, ``FACTOR`` times the users for the next 20 %, baseline after."""

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        if elapsed >= DURATION_S:
            return None
        in_spike = 0.4 * DURATION_S <= elapsed < 0.6 * DURATION_S
        users = round(BASE_USERS * FACTOR) if in_spike else BASE_USERS
        return users, max(1.0, users / 2.0)
