"""Valid payloads for tests, in the products' own shapes."""

from __future__ import annotations

from typing import Any


def scapi_order(order_no: str = "00000001", *, sku: str = "SKU-00001", quantity: int = 1,
                confirmed: bool = False, intent: str | None = "pi_0000001", price: float = 10.0) -> dict[str, Any]:
    address = {
        "firstName": "Ada", "lastName": "Lovelace", "address1": "1 Analytical Way", "city": "London",
        "stateCode": "LN", "postalCode": "N1 9GU", "countryCode": "GB",
    }
    total = round(price * quantity, 2)
    order: dict[str, Any] = {
        "orderNo": order_no,
        "orderToken": f"tok-{order_no}",
        "siteId": "RefArch",
        "creationDate": "2026-11-27T00:00:00Z",
        "currency": "USD",
        "channelType": "storefront",
        "status": "new",
        "confirmationStatus": "confirmed" if confirmed else "not_confirmed",
        "customerInfo": {"customerId": "cust0000001", "customerNo": "00000001", "email": "ada@example.com"},
        "billingAddress": address,
        "productItems": [
            {"itemId": "item-1", "productId": sku, "productName": "Thing", "quantity": quantity,
             "basePrice": price, "price": total, "tax": 0.0, "shipmentId": "me"}
        ],
        "shipments": [{"shipmentId": "me", "shippingAddress": address, "shippingMethod": {"id": "001"}}],
        "paymentInstruments": [],
        "productSubTotal": total, "shippingTotal": 0.0, "taxTotal": 0.0, "orderTotal": total,
    }
    if intent:
        order["paymentInstruments"] = [{"paymentInstrumentId": "pay-1", "paymentMethodId": "CREDIT_CARD",
                                        "amount": total, "c_paymentIntentId": intent}]
    return order
