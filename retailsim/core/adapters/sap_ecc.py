"""Legacy SAP ECC: sales orders as ORDERS05 IDocs into a file port, posted in batch windows, acknowledged later.

The ECC takes an order at once (202, the IDoc number ``DOCNUM``, status 64) and posts it only when its
scheduled batch runs; what became of it comes back in a status file the core collects (``E2STATS``
records: 53 posted with the sales order ``VBELN``, 51 not posted). So the order's ``PostSalesOrder``
message is not done when the port answers: it **awaits its acknowledgement** (:class:`AwaitsAck`, handled
by core/service/deferred_replies.py), and ``CollectIdocStatus`` pulls the status files after a cursor
(reading changes nothing, so a lost reply loses no acknowledgement):

* 53 → the order is posted (``means`` reads ``VBELN`` from the acknowledgement, step "ack");
* 51 with status code ``ABORTED`` → its batch was rejected for another IDoc's error: submit again (after a
  look-up, like every resubmission);
* 51 with its own error → permanent: the message is dead-lettered with the ECC's text;
* no acknowledgement within ``ACK_DEADLINE_S`` → the message is claimed again and looks first: the IDoc
  monitor lists the IDocs carrying the order number (``BELNR``) — one posted (53) is the answer, one still
  waiting (64) is waited for again, none or only failed ones (51) mean submit again.

ECC has no duplicate check: a second IDoc posts a second sales order. The look-up before every resubmission
(the ``erp_lookup_before_create`` guard) is what keeps one order one sales order, and it asks the IDoc
monitor, not the sales orders, because an IDoc waiting for the next window has no sales order yet.

Every other ERP command (goods issue, cancel, plant change, returns, credit memos, returned goods, goods
movements, the stock snapshot) is the ``sap`` dialect's, as the mock serves them (systems/sap_ecc.py).

Guesses (unconfirmed, as in the mock): the E1EDK14/E1EDK02/E1EDP19 qualifiers, ``NETWR`` for the item
value, the HTTP-shaped port, monitor and status-file paths, and the deadline and polling pace below, which
assume the mock's default 5-minute window (a longer window costs extra look-ups, never a duplicate).
"""

from __future__ import annotations

from typing import Any

from retailsim.core.adapters import sap
from retailsim.core.adapters.deferred import Ack, AckOutcome, AwaitsAck, CollectsAcks
from retailsim.core.adapters.http import OutboundRequest, Reply
from retailsim.core.adapters.spec import (
    Answer,
    CommandInput,
    CommandSpec,
    ErpDialect,
    Lookup,
    OrderMeant,
    Subject,
)
from retailsim.core.models import Order
from retailsim.core.workflows.order_to_cash import OrderEvent

IDOC_INBOUND = "/sap/idoc/inbound"
STATUS_FILES = "/sap/idoc/status-files"
POSTED, WAITING, ERROR = "53", "64", "51"
BATCH_ABORTED = "ABORTED"  # E2STATS STACOD of an IDoc not posted because its batch was rejected
ACK_DEADLINE_S = 900.0  # three 5-minute windows: the acknowledgement is late after this
ACK_POLL_S = 60.0  # how often the status files are collected while acknowledgements are awaited


def orders05(
    order: Order, plant: str, sales_org: str, requested_at: float, reference: str | None = None
) -> OutboundRequest:
    """One ORDERS05 IDoc for an order: a standard order ("OR"), or with ``reference`` a free-of-charge
    subsequent delivery ("SDF") that refers to the document it makes good."""
    items = [
        {
            "POSEX": str(10 * line.line_no),
            "MENGE": str(line.quantity),
            "MENEE": "EA",
            "WERKS": plant,
            "NETWR": f"{line.amount_minor / 100:.2f}",
            "E1EDP19": [{"QUALF": "002", "IDTNR": line.sku}],
        }
        for line in order.lines
    ]
    idoc: dict[str, Any] = {
        "EDI_DC40": {
            "IDOCTYP": "ORDERS05",
            "MESTYP": "ORDERS",
            "DIRECT": "2",
            "SNDPRT": "LS",
            "SNDPRN": "RETAILSIM",
            "SNDPOR": "RETAILSIM",
            "RCVPRT": "LS",
            "RCVPOR": "SAPECC",
        },
        "E1EDK01": {"BELNR": order.order_no, "CURCY": order.currency},
        "E1EDK14": [
            {"QUALF": "012", "ORGID": "OR" if reference is None else "SDF"},
            {"QUALF": "008", "ORGID": sales_org},
            {"QUALF": "007", "ORGID": "10"},
            {"QUALF": "006", "ORGID": "00"},
        ],
        "E1EDK03": [{"IDDAT": "002", "DATUM": f"{int(requested_at + 3 * 86400)}"}],
        "E1EDKA1": [
            {"PARVW": "AG", "PARTN": order.customer.customer_id},
            {"PARVW": "WE", "PARTN": order.customer.customer_id},
        ],
        "E1EDP01": items,
    }
    if reference is not None:
        idoc["E1EDK02"] = [{"QUALF": "011", "BELNR": reference}]
    return OutboundRequest("POST", IDOC_INBOUND, idoc)


def idocs_of(order_no: str) -> OutboundRequest:
    """The IDoc monitor: every IDoc that carries this order number, with its status."""
    return OutboundRequest("GET", IDOC_INBOUND, query={"BELNR": order_no})


def _monitor_rows(reply: Reply) -> list[dict[str, Any]]:
    body = reply.body if isinstance(reply.body, dict) else {}
    rows = body.get("IDOCS", [])
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


def posted_sales_orders(reply: Reply) -> list[str]:
    """The sales orders the order's IDocs posted (a look-up hit: nothing to send)."""
    return sorted(str(row["VBELN"]) for row in _monitor_rows(reply) if row.get("STATUS") == POSTED)


def waiting_idoc(reply: Reply) -> str | None:
    """An IDoc of the order still waiting for its batch, when none has posted: wait for it, send nothing."""
    if posted_sales_orders(reply):
        return None
    waiting = [str(row["DOCNUM"]) for row in _monitor_rows(reply) if row.get("STATUS") == WAITING]
    return waiting[0] if waiting else None


def receipt(reply: Reply) -> str | None:
    body = reply.body if isinstance(reply.body, dict) else {}
    return str(body["DOCNUM"]) if body.get("DOCNUM") else None


def status_files(after: str) -> OutboundRequest:
    return OutboundRequest("GET", STATUS_FILES, query={"after": after})


def _files(reply: Reply) -> list[dict[str, Any]]:
    body = reply.body if isinstance(reply.body, dict) else {}
    files = body.get("FILES", [])
    return [file for file in files if isinstance(file, dict)] if isinstance(files, list) else []


def _outcome(record: dict[str, Any]) -> AckOutcome | None:
    if record.get("STATUS") == POSTED:
        return AckOutcome.DONE
    if record.get("STATUS") == ERROR:
        return AckOutcome.RESEND if record.get("STACOD") == BATCH_ABORTED else AckOutcome.REFUSED
    return None


def acknowledgements(reply: Reply) -> list[Ack]:
    """Every final status record in the collected files, in file order."""
    acks = []
    for file in _files(reply):
        for record in file.get("E2STATS", []):
            outcome = _outcome(record) if isinstance(record, dict) else None
            if outcome is not None:
                acks.append(
                    Ack(
                        str(record.get("ARCKEY", "")),
                        str(record.get("DOCNUM", "")),
                        outcome,
                        record,
                        f"IDoc {record.get('DOCNUM')} status {record.get('STATUS')}: {record.get('STATXT', '')}",
                    )
                )
    return acks


def last_file(reply: Reply) -> str | None:
    numbers = [int(file["FILE"]) for file in _files(reply) if "FILE" in file]
    return str(max(numbers)) if numbers else None


# ---- command specs --------------------------------------------------------------------------------------


def _idoc(command: CommandInput) -> OutboundRequest:
    record, order = command.record, command.order_doc
    assert order is not None
    plant = command.context.sales_order_plant(record)
    return orders05(
        order, plant, command.context.config.sales_organization, command.now, record.erp_reference
    )


def _sales_order_posted(answer: Answer) -> OrderMeant:
    """Posted: by the acknowledgement (its ``VBELN``) or found by the look-up."""
    if answer.step == "ack":
        number = str(answer.reply.body.get("VBELN", "")) if isinstance(answer.reply.body, dict) else ""
    else:
        number = posted_sales_orders(answer.reply)[0]
    event = OrderEvent.SALES_ORDER_POSTED_SHORT if answer.record.short else OrderEvent.SALES_ORDER_POSTED
    return OrderMeant(event, {"erp_sales_order": number, "posted_at": answer.now})


COLLECT = CollectsAcks("CollectIdocStatus", ACK_POLL_S, acknowledgements, last_file)

POST_SALES_ORDER = CommandSpec(
    "PostSalesOrder",
    Subject.ORDER,
    _idoc,
    needs_order_doc=True,
    lookup=Lookup(lambda command: idocs_of(command.record.order_no), posted_sales_orders),
    means=_sales_order_posted,
    deferred=AwaitsAck(receipt, waiting_idoc, COLLECT, ACK_DEADLINE_S),
)

COLLECT_STATUS = CommandSpec(
    COLLECT.kind,
    Subject.PAYLOAD,
    lambda command: status_files(command.payload("after")),
    deferred=COLLECT,
)

COMMANDS = (POST_SALES_ORDER, *(spec for spec in sap.COMMANDS if spec.kind != POST_SALES_ORDER.kind))

DIALECT = ErpDialect(
    "sap_ecc", COMMANDS, sap.stock_snapshot, sap.parse_stock, extra_commands=(COLLECT_STATUS,)
)
