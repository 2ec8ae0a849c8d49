"""Salesforce B2C Commerce (SCAPI) orders in, order status updates out.

The inbound model lists the SCAPI fields the core relies on, with their real names; other SCAPI fields
are allowed and ignored (SCAPI sends many). Money arrives as decimals and is held as integer cents.
Buy online, pick up in store is a shipment with the store's id in the custom attribute
``c_fromStoreId`` (as SFRA's store pickup keeps it) and a pickup shipping method; when the core
reroutes such an order it patches ``c_fromStoreId`` (the store to go to, or null when it is now shipped
home) so that "My orders" tells the customer.

Order status pushes and inventory record pushes also have their collection form (``Batch``): an OCAPI
batch request (Salesforce B2C Commerce docs, "OCAPI Batch Requests"): ``POST /s/-/dw/batch``, a
``multipart/mixed`` body of up to 50 subrequests, each on one resource. The main header section carries
what the subrequests inherit (``x-dw-http-method``, ``x-dw-resource-path`` — the Data API's base path);
each part carries its ``x-dw-content-id`` (``req1`` … in the records' order) and its
``x-dw-resource-path-extension`` (``sites/{site}/orders/{no}``), and its own ``x-dw-http-method`` only when
it differs. The reply is 200 and ``multipart/mixed``: one subresponse per subrequest, mapped back by its
``x-dw-content-id``, its status in ``x-dw-status-code`` and the single request's body — so each record is
judged exactly as its single PATCH would be. More than 50 subrequests are refused whole (400
``QuotaExceededException``, an OCAPI fault document). Confirmed in the docs: the 50-part limit, the headers,
the multipart response with ``x-dw-content-id``/``x-dw-status-code``, the exception's name and status.
Unconfirmed (our reading): the path ``/s/-/dw/batch`` (the docs' examples say ``POST /batch`` on a
placeholder host; client code in the wild posts to ``/s/-/dw/batch``), whether subresponses keep the
subrequests' order (we never rely on it: they are mapped by content id), and how the OCAPI quota counts a
batch (our mock counts one request). A subresponse missing for a content id leaves its record unanswered:
it is retried as a 502 would be. The simulator never serialises bodies, so the multipart body travels as a
multipart parser hands it over: one ``{"headers": {...}, "body": <JSON>}`` per part, in order.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from retailsim.core.adapters.http import OutboundRequest, Reply
from retailsim.core.adapters.spec import (
    Batch,
    CommandInput,
    CommandSpec,
    Effect,
    Subject,
    pickup_view,
    status_superseded,
)
from retailsim.core.errors import InvalidPayload
from retailsim.core.models import Address, Customer, Order, OrderLine, Payment
from retailsim.core.workflows.return_to_refund import ReturnStatus

API_VERSION = "v24_5"
DATA_API = f"/s/-/dw/data/{API_VERSION}/"  # the Data API's base resource path
MAX_MONEY = 1e9  # a bound keeps cents finite: 1e308 * 100 is infinity (found by fuzzing the API)


class _Scapi(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ScapiAddress(_Scapi):
    firstName: str = Field(min_length=1)
    lastName: str = Field(min_length=1)
    address1: str = Field(min_length=1)
    city: str = Field(min_length=1)
    stateCode: str = ""
    postalCode: str = Field(min_length=1)
    countryCode: str = Field(min_length=2, max_length=2)


class ScapiCustomerInfo(_Scapi):
    customerId: str = Field(min_length=1)
    customerNo: str | None = None
    email: str = Field(min_length=3, pattern=r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+$")


class ScapiProductItem(_Scapi):
    itemId: str = ""
    productId: str = Field(min_length=1, max_length=100)
    productName: str = ""
    quantity: int = Field(ge=1, le=10_000)
    basePrice: float = Field(ge=0, le=MAX_MONEY)
    price: float = Field(ge=0, le=MAX_MONEY)


class ScapiShipment(_Scapi):
    shipmentId: str = "me"
    shippingAddress: ScapiAddress
    c_fromStoreId: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")


class ScapiPaymentInstrument(_Scapi):
    paymentInstrumentId: str = ""
    paymentMethodId: str = "CREDIT_CARD"
    amount: float = Field(ge=0, le=MAX_MONEY)
    # A Stripe PaymentIntent id (``pi_...``): it becomes a URL path segment at the gateway.
    c_paymentIntentId: str | None = Field(default=None, max_length=255, pattern=r"^pi_[A-Za-z0-9_]+$")


class ScapiOrder(_Scapi):
    orderNo: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    siteId: str = Field(min_length=1)
    creationDate: str = ""
    currency: str = Field(min_length=3, max_length=3)
    channelType: Literal["storefront", "callcenter", "marketplace"] = "storefront"
    confirmationStatus: Literal["confirmed", "not_confirmed"] = "not_confirmed"
    customerInfo: ScapiCustomerInfo
    productItems: list[ScapiProductItem] = Field(min_length=1, max_length=500)
    shipments: list[ScapiShipment] = Field(min_length=1)
    paymentInstruments: list[ScapiPaymentInstrument] = []
    shippingTotal: float = Field(0.0, ge=0, le=MAX_MONEY)
    taxTotal: float = Field(0.0, ge=0, le=MAX_MONEY)
    orderTotal: float = Field(
        ge=0, le=MAX_MONEY, description="the lines' prices plus shippingTotal and taxTotal, to the cent"
    )


def _cents(amount: float) -> int:
    return round(amount * 100)


def field_errors(exc: ValidationError) -> list[dict[str, object]]:
    return [
        {"loc": [str(p) for p in error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def total_errors(scapi: ScapiOrder) -> list[dict[str, object]]:
    """An order whose total is not what its lines add up to, or whose payment is for another amount,
    is refused: the amount authorised, captured and posted to the ERP is the total (OWASP API6)."""
    errors: list[dict[str, object]] = []
    total = _cents(scapi.orderTotal)
    parts = sum(_cents(i.price) for i in scapi.productItems)
    parts += _cents(scapi.shippingTotal) + _cents(scapi.taxTotal)
    if parts != total:
        errors.append(
            {
                "loc": ["orderTotal"],
                "msg": f"lines + shippingTotal + taxTotal = {parts / 100:.2f}, orderTotal is {total / 100:.2f}",
                "type": "total_mismatch",
            }
        )
    for index, instrument in enumerate(scapi.paymentInstruments[:1]):
        if instrument.c_paymentIntentId and _cents(instrument.amount) != total:
            errors.append(
                {
                    "loc": ["paymentInstruments", index, "amount"],
                    "msg": f"the payment is for {instrument.amount:.2f}, orderTotal is {total / 100:.2f}",
                    "type": "total_mismatch",
                }
            )
    return errors


def order_from_scapi(body: Any) -> Order:
    """Map a SCAPI order to the canonical Order, or raise InvalidPayload naming the fields."""
    if not isinstance(body, dict):
        raise InvalidPayload("order body must be a JSON object", [{"loc": [], "msg": "not an object"}])
    try:
        # Strict: the published schema says "boolean" and "integer", so 0 and "5" are refused, not coerced.
        scapi = ScapiOrder.model_validate(body, strict=True)
    except ValidationError as exc:
        raise InvalidPayload("invalid SCAPI order", field_errors(exc)) from exc
    mismatched = total_errors(scapi)
    if mismatched:
        raise InvalidPayload("the order's total does not add up", mismatched)
    ship = scapi.shipments[0].shippingAddress
    payment = None
    if scapi.paymentInstruments and scapi.paymentInstruments[0].c_paymentIntentId:
        instrument = scapi.paymentInstruments[0]
        payment = Payment(
            reference=instrument.c_paymentIntentId or "",
            method=instrument.paymentMethodId,
            amount_minor=_cents(instrument.amount),
            authorized=True,
        )
    lines = tuple(
        OrderLine(
            line_no=i + 1,
            sku=item.productId,
            name=item.productName,
            quantity=item.quantity,
            unit_price_minor=_cents(item.basePrice),
        )
        for i, item in enumerate(scapi.productItems)
    )
    return Order(
        order_no=scapi.orderNo,
        channel=scapi.channelType,
        site_id=scapi.siteId,
        currency=scapi.currency,
        customer=Customer(
            customer_id=scapi.customerInfo.customerId,
            email=scapi.customerInfo.email,
            name=f"{ship.firstName} {ship.lastName}",
        ),
        ship_to=Address(
            name=f"{ship.firstName} {ship.lastName}",
            line1=ship.address1,
            city=ship.city,
            region=ship.stateCode,
            postal_code=ship.postalCode,
            country=ship.countryCode,
        ),
        lines=lines,
        payment=payment,
        total_minor=_cents(scapi.orderTotal),
        confirmed_to_customer=scapi.confirmationStatus == "confirmed",
        placed_at=scapi.creationDate,
        pickup_store=scapi.shipments[0].c_fromStoreId,
    )


_STATUS_FIELDS: dict[str, dict[str, str]] = {
    "posted_to_erp": {"status": "new", "confirmation_status": "confirmed", "export_status": "exported"},
    "backordered": {"status": "new", "shipping_status": "not_shipped"},
    "shipped": {"shipping_status": "shipped", "payment_status": "paid"},
    "ready_for_pickup": {"shipping_status": "not_shipped"},
    "delivery_failed": {"shipping_status": "shipped"},
    "delivered": {"status": "completed", "shipping_status": "shipped"},
    "replaced": {"status": "completed"},
    "cancelled": {"status": "cancelled"},
}


def status_update(
    site_id: str,
    order_no: str,
    status: str,
    seq: int,
    *,
    bopis: bool = False,
    pickup_store: str | None = None,
    replacement: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """OCAPI Data API order patch: the standard status fields plus the OMS status as custom attributes.

    A ``bopis`` order also carries the store the customer collects from now (``pickup_store``; null
    when it is shipped home instead); ``replacement`` names the order that replaced this one.
    """
    body: dict[str, Any] = dict(_STATUS_FIELDS.get(status, {}))
    body["c_omsStatus"] = status
    body["c_omsStatusSeq"] = seq
    if bopis:
        body["c_fromStoreId"] = pickup_store
    if replacement is not None:
        body["c_replacementOrderNo"] = replacement
    return f"{DATA_API}sites/{site_id}/orders/{order_no}", body


def inventory_update(inventory_list: str, sku: str, ats: int) -> tuple[str, dict[str, Any]]:
    """OCAPI Data API product inventory record: the allocation is what the storefront may sell."""
    return (
        f"{DATA_API}inventory_lists/{inventory_list}/product_inventory_records/{sku}",
        {"allocation": {"amount": ats}},
    )


def return_status_update(
    site_id: str, order_no: str, return_no: str, status: str, seq: int, replacement: str | None = None
) -> tuple[str, dict[str, Any]]:
    """OCAPI order patch with the return's status as custom attributes (what "My orders" shows)."""
    body: dict[str, Any] = {"c_returnNo": return_no, "c_returnStatus": status, "c_returnStatusSeq": seq}
    if replacement is not None:
        body["c_replacementOrderNo"] = replacement
    return f"{DATA_API}sites/{site_id}/orders/{order_no}", body


# ---- OCAPI batch --------------------------------------------------------------------------------------

BATCH_PATH = "/s/-/dw/batch"
BATCH_LIMIT = 50  # subrequests per OCAPI batch request
BATCH_BOUNDARY = "retailsim-ocapi-batch"


def content_id(index: int) -> str:
    """The ``x-dw-content-id`` of the batch's ``index``-th subrequest (0-based)."""
    return f"req{index + 1}"


def ocapi_batch(singles: list[OutboundRequest]) -> OutboundRequest:
    """Single Data API requests as one OCAPI batch request, one subrequest each, in their order."""
    method = singles[0].method
    parts: list[dict[str, Any]] = []
    for index, single in enumerate(singles):
        if not single.path.startswith(DATA_API):
            raise ValueError(f"not a Data API resource: {single.path}")
        headers = {
            "x-dw-content-id": content_id(index),
            "x-dw-resource-path-extension": single.path[len(DATA_API) :],
        }
        if single.method != method:
            headers["x-dw-http-method"] = single.method
        parts.append({"headers": headers, "body": single.body})
    headers = {
        "Content-Type": f"multipart/mixed; boundary={BATCH_BOUNDARY}",
        "x-dw-http-method": method,
        "x-dw-resource-path": DATA_API,
    }
    return OutboundRequest("POST", BATCH_PATH, parts, headers)


def subresponses(reply: Reply, count: int) -> list[Reply] | None:
    """A batch's 200 read back as each subrequest's own reply, mapped by ``x-dw-content-id`` with its
    ``x-dw-status-code``; a record without a readable subresponse is unanswered (a retriable 502). None
    when the body is not a list of parts."""
    parts = reply.body
    if not isinstance(parts, list):
        return None
    answered: dict[str, Reply] = {}
    for part in parts:
        headers = part.get("headers") if isinstance(part, dict) else None
        if not isinstance(headers, dict):
            return None
        try:
            status = int(headers["x-dw-status-code"])
        except (KeyError, TypeError, ValueError):
            continue  # no status: this subresponse says nothing about its record
        answered[str(headers.get("x-dw-content-id"))] = Reply(status, part.get("body"), headers)
    return [
        answered.get(cid) or Reply(502, f"no subresponse for {cid} in the OCAPI batch reply")
        for cid in (content_id(index) for index in range(count))
    ]


OCAPI_BATCH = Batch(ocapi_batch, subresponses, BATCH_LIMIT)


# ---- command specs ------------------------------------------------------------------------------------


def _order_status(command: CommandInput) -> OutboundRequest | None:
    if status_superseded(command):
        return None
    record = command.record
    bopis, pickup_store = pickup_view(command)
    path, body = status_update(
        command.order_doc.site_id if command.order_doc is not None else "RefArch",
        record.order_no,
        command.payload("status"),
        int(command.message.payload["seq"]),
        bopis=bopis,
        pickup_store=pickup_store,
        replacement=record.replaced_by,
    )
    return OutboundRequest("PATCH", path, body)


def _availability(command: CommandInput) -> OutboundRequest:
    path, body = inventory_update(
        command.context.config.inventory_list, command.payload("sku"), command.available
    )
    return OutboundRequest("PATCH", path, body)


def _inventory_feed(command: CommandInput) -> OutboundRequest:
    records = [
        {"product_id": sku, "allocation": {"amount": command.stock[sku]}} for sku in sorted(command.stock)
    ]
    body = {"inventory_list_id": command.context.config.inventory_list, "records": records}
    return OutboundRequest("POST", f"/s/-/dw/data/{API_VERSION}/jobs/inventory-import/executions", body)


def _return_status(command: CommandInput) -> OutboundRequest:
    record = command.return_record
    status = command.payload("status")
    path, body = return_status_update(
        str(command.sale.get("site_id", "RefArch")),
        record.order_no,
        record.return_no,
        status,
        int(command.message.payload["seq"]),
        record.replacement_order if status == ReturnStatus.EXCHANGED.value else None,
    )
    return OutboundRequest("PATCH", path, body)


COMMANDS = (
    CommandSpec(
        "UpdateOrderStatus",
        Subject.ORDER,
        _order_status,
        needs_order_doc=True,
        effect=Effect.STATUS_SYNCED,
        latest_only=True,
        batch=OCAPI_BATCH,
    ),
    # Each push sends its SKU's availability as it is when rendered (the newest), so a batch of them
    # carries the newest stock of each of its SKUs, as single pushes would.
    CommandSpec("PublishAvailability", Subject.AVAILABILITY, _availability, batch=OCAPI_BATCH),
    CommandSpec("InventoryFeed", Subject.STOCK_FEED, _inventory_feed),
    CommandSpec("UpdateReturnStatus", Subject.RETURN, _return_status),
)
