"""Legacy on-premise SAP ECC that takes sales orders as IDocs and posts them in batch windows: ``sap_ecc``.

What the product does, and so what this mock does (reference: shared/reference/erp-dialects.md §5):

* **Inbound IDoc port** (message type ORDERS, basic type ORDERS05): ``POST /sap/idoc/inbound`` takes one
  IDoc — the control record ``EDI_DC40`` (IDOCTYP, MESTYP, sender/receiver port and partner) and the
  segments ``E1EDK01`` (BELNR: the customer's order number; CURCY), ``E1EDK14`` (sales area and order
  type), ``E1EDK02`` (a referenced document), ``E1EDKA1`` (partners: AG sold-to, WE ship-to) and
  ``E1EDP01`` items with ``E1EDP19`` (material). It is **accepted at once** (202 with the IDoc number
  ``DOCNUM``, status 64 "ready to be passed to the application") but not posted: the partner profile says
  "trigger by background program", so the IDoc waits for the scheduled report RBDAPP01, which runs at every
  multiple of ``batch_window_s`` simulated seconds and posts everything that arrived since its last run
  (only runs with IDocs waiting are simulated: an empty run changes nothing).
* **A batch is posted or rejected as a whole**: the mock runs each window's IDocs as one packet. When one
  record in it is bad (a mandatory field missing, or master data the ERP does not know — the ``poison``
  fault, drawn when the IDoc is received, not as an immediate refusal), every IDoc of the window gets
  status 51: the bad one with its own error text, the others with "batch aborted". Otherwise every one
  gets status 53 (application document posted) and a sales order.
* **Acknowledgements come back later, as files**: each window writes one status file (records in the
  shape of the ``E2STATS`` status segment of SYSTAT01: DOCNUM, STATUS, STACOD, STATXT, and the customer's
  order number in ARCKEY; posted ones add the sales order VBELN, as an ORDRSP would). The integration
  pulls them like a file port: ``GET /sap/idoc/status-files?after=N`` lists every file numbered above
  ``N`` — reading changes nothing, so a lost reply loses no acknowledgement.
* **No duplicate check**: a resubmitted IDoc is another IDoc and posts another sales order. The IDoc
  monitor can be asked which IDocs carry one order number and their statuses
  (``GET /sap/idoc/inbound?BELNR=...``), which is what an integration looks up before it resends.
* Everything else the core's ERP commands need (goods issue, cancel, plant change, customer returns,
  credit memo requests, returned goods, goods movements, the stock list, the sales order look-up) is served
  as the ``sap`` dialect serves it: this class is the S/4 mock with its sales-order create taken away, and a
  posted IDoc becomes the same sales order record (so the ledgers and the harness read it unchanged).

Sources: status 64, RBDAPP01 as a periodic background job (e.g. every 5 minutes) and its packets
(itsiti.com "RBDAPP01", SAP community wiki "What happens when a batch job running report RBDAPP01 cannot
process an IDoc", IBM WE20 inbound parameters); E2STATS fields (SAP Help, SYSTAT01). (unconfirmed) A whole
packet rejected for one bad IDoc (the brief's behaviour: real RBDAPP01 packets are separate LUWs, and
whether one error rolls back its packet depends on the application); the HTTP-shaped file port and IDoc
monitor paths, the E1EDK14/E1EDK02/E1EDP19 qualifier values, the field NETWR and every error text; the
other documents over the S/4 OData services (a real ECC would take them as BAPIs or further IDocs).

Rules kept: imports SimPy, the standard library and ``retailsim.systems`` only; IDoc and file numbers are
counters; a window posts its IDocs in arrival order.
"""

from __future__ import annotations

import random
from collections.abc import Generator
from typing import Any

import simpy

from retailsim.systems.base import Latency, Request, Response
from retailsim.systems.erp import MANDATORY, SO, Erp

IDOC_INBOUND = "/sap/idoc/inbound"
STATUS_FILES = "/sap/idoc/status-files"
READY, POSTED, ERROR = "64", "53", "51"
BATCH_ABORTED = "Batch aborted: another IDoc in the same run has errors; nothing in it was posted"
# E2STATS status codes (STACOD): a batch aborted, a mandatory field missing, unknown master data (unconfirmed).
ABORTED, MISSING_FIELD, UNKNOWN_MASTER_DATA = "ABORTED", "V1302", "M3305"
# E1EDK14 qualifiers (unconfirmed): 006 division, 007 distribution channel, 008 sales organisation, 012 order type.
ORG_QUALIFIERS = {"006": "OrganizationDivision", "007": "DistributionChannel", "008": "SalesOrganization"}
ORDER_TYPE_QUALIFIER = "012"
REFERENCE_QUALIFIER = "011"  # E1EDK02: the document a replacement order refers to (unconfirmed)
MATERIAL_QUALIFIER = "002"  # E1EDP19: the seller's (SAP) material number (unconfirmed)


class SapEcc(Erp):
    """SAP ECC with an ORDERS05 inbound IDoc port posted by a scheduled batch (see the module docstring)."""

    dialect = "sap_ecc"
    # Erp.routes has a fixed-length tuple type; this one is another length.
    routes: tuple[tuple[str, str, str], ...] = (  # type: ignore[assignment]
        ("POST", IDOC_INBOUND, "receive_idoc"),
        ("GET", IDOC_INBOUND, "idoc_monitor"),
        ("GET", STATUS_FILES, "status_files"),
        *(route for route in Erp.routes if route != ("POST", rf"{SO}/A_SalesOrder", "create_sales_order")),
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
        sales_organization: str = "1010",
        batch_window_s: float = 300.0,
    ) -> None:
        super().__init__(
            env,
            rng,
            stock=stock,
            concurrency=concurrency,
            latency=latency,
            rate_limit_per_s=rate_limit_per_s,
            retry_after=retry_after,
            sales_organization=sales_organization,
        )
        if batch_window_s <= 0:
            raise ValueError("batch_window_s must be positive")
        self.batch_window_s = batch_window_s
        self.idocs: dict[str, dict[str, Any]] = {}  # DOCNUM → the IDoc, its status and what it posted
        self.idocs_by_reference: dict[str, list[str]] = {}  # BELNR → DOCNUMs, in arrival order
        self.waiting: list[str] = []  # DOCNUMs with status 64, for the next run
        self.ack_files: list[dict[str, Any]] = []  # one per run that had IDocs, numbered from 1
        self.batches: list[dict[str, Any]] = []  # ledger: every run, its IDocs and whether it posted
        self._run_scheduled = False

    # ---- the inbound port ---------------------------------------------------------------------------

    def refuses_poison_at_once(self, request: Request) -> bool:
        """A file port takes any IDoc: master data the ERP does not know fails it later, at posting."""
        return request.path != IDOC_INBOUND and super().refuses_poison_at_once(request)

    def receive_idoc(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        raw = body.get("EDI_DC40")
        control: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if control.get("IDOCTYP") != "ORDERS05" or control.get("MESTYP") != "ORDERS":
            return self.odata_error(400, "EA/101", "Not an ORDERS05 IDoc: EDI_DC40 IDOCTYP/MESTYP missing")
        number = f"{self.next_number('idoc'):016d}"
        reference = str((body.get("E1EDK01") or {}).get("BELNR", ""))
        unknown_master_data = bool(self.faults.poison_rate) and self.rng.random() < self.faults.poison_rate
        self.idocs[number] = {
            "DOCNUM": number,
            "BELNR": reference,
            "STATUS": READY,
            "received_at": self.env.now,
            "idoc": body,
            "unknown_master_data": unknown_master_data,
        }
        self.idocs_by_reference.setdefault(reference, []).append(number)
        self.waiting.append(number)
        self._schedule_run()
        return Response(202, {"DOCNUM": number, "STATUS": READY})

    def idoc_monitor(self, request: Request) -> Response:
        """The IDocs that carry one customer order number (BELNR), with their statuses (the IDoc monitor)."""
        reference = request.query.get("BELNR", "")
        rows = [self._status_row(self.idocs[n]) for n in self.idocs_by_reference.get(reference, [])]
        return Response(200, {"IDOCS": rows})

    def status_files(self, request: Request) -> Response:
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            return self.odata_error(400, "EA/102", "after must be a file number")
        return Response(200, {"FILES": [file for file in self.ack_files if file["FILE"] > after]})

    # ---- the scheduled run (RBDAPP01) ---------------------------------------------------------------

    def _schedule_run(self) -> None:
        """The next scheduled run, at the next multiple of the window, when IDocs wait for one (an idle
        schedule is not simulated: a run with nothing to post changes nothing)."""
        if not self._run_scheduled:
            self._run_scheduled = True
            self.env.process(self._next_run())

    def _next_run(self) -> Generator[simpy.Event, Any, None]:
        window = self.batch_window_s
        yield self.env.timeout((self.env.now // window + 1) * window - self.env.now)
        self._run_scheduled = False
        self.run_batch()

    def run_batch(self) -> None:
        """Post every waiting IDoc as one packet, or reject the whole packet for one bad record."""
        batch, self.waiting = self.waiting, []
        if not batch:
            return
        problems = {number: self._problem(self.idocs[number]) for number in batch}
        rejected = any(problems.values())
        for number in batch:
            idoc = self.idocs[number]
            if rejected:
                idoc["STATUS"] = ERROR
                idoc["STACOD"], idoc["STATXT"] = problems[number] or (ABORTED, BATCH_ABORTED)
            else:
                created = self.create_sales_order(Request("POST", f"{SO}/A_SalesOrder", _sales_order(idoc)))
                idoc["STATUS"], idoc["STACOD"] = POSTED, ""
                idoc["VBELN"] = created.body["d"]["SalesOrder"]
                idoc["STATXT"] = f"Standard Order {idoc['VBELN']} has been saved"
            idoc["posted_at"] = self.env.now
        self.batches.append({"at": self.env.now, "idocs": list(batch), "posted": not rejected})
        records = [self._status_row(self.idocs[number]) for number in batch]
        self.ack_files.append({"FILE": len(self.ack_files) + 1, "CREATED": self.env.now, "E2STATS": records})

    def _problem(self, idoc: dict[str, Any]) -> tuple[str, str] | None:
        """Why this IDoc cannot post (its own status code and text), or None."""
        body = _sales_order(idoc)
        missing = [key for key in MANDATORY if not body.get(key)]
        if missing:
            return MISSING_FIELD, f"Mandatory field(s) missing: {', '.join(missing)}"
        for item in body["to_Item"]["results"]:
            if not item.get("Material") or _quantity(item.get("RequestedQuantity")) <= 0:
                item_no = item.get("SalesOrderItem")
                return MISSING_FIELD, f"Item {item_no}: material and a positive quantity are required"
        if idoc["unknown_master_data"]:
            material = body["to_Item"]["results"][0]["Material"]
            organization = body["SalesOrganization"]
            return (
                UNKNOWN_MASTER_DATA,
                f"Material {material} is not defined for sales organization {organization}",
            )
        return None

    @staticmethod
    def _status_row(idoc: dict[str, Any]) -> dict[str, Any]:
        row = {"DOCNUM": idoc["DOCNUM"], "STATUS": idoc["STATUS"], "ARCKEY": idoc["BELNR"]}
        if "STATXT" in idoc:
            row["STACOD"], row["STATXT"] = idoc["STACOD"], idoc["STATXT"]
        if "VBELN" in idoc:
            row["VBELN"] = idoc["VBELN"]
        return row


def _quantity(value: Any) -> int:
    try:
        return int(float(str(value)))
    except ValueError:
        return 0


def _segments(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    return [segment for segment in value if isinstance(segment, dict)] if isinstance(value, list) else []


def _sales_order(idoc: dict[str, Any]) -> dict[str, Any]:
    """The sales order an ORDERS05 IDoc becomes (process code ORDE), in the S/4 record's field names."""
    body = idoc["idoc"]
    header = body.get("E1EDK01") if isinstance(body.get("E1EDK01"), dict) else {}
    org = {s.get("QUALF"): s.get("ORGID") for s in _segments(body.get("E1EDK14"))}
    partners = {s.get("PARVW"): s.get("PARTN") for s in _segments(body.get("E1EDKA1"))}
    references = {s.get("QUALF"): s.get("BELNR") for s in _segments(body.get("E1EDK02"))}
    items = []
    for item in _segments(body.get("E1EDP01")):
        materials = {s.get("QUALF"): s.get("IDTNR") for s in _segments(item.get("E1EDP19"))}
        items.append(
            {
                "SalesOrderItem": str(item.get("POSEX", "")),
                "Material": materials.get(MATERIAL_QUALIFIER) or "",
                "RequestedQuantity": str(item.get("MENGE", "0")),
                "RequestedQuantityUnit": str(item.get("MENEE", "EA")),
                "ProductionPlant": str(item.get("WERKS", "")),
                "NetAmount": str(item.get("NETWR", "0")),
            }
        )
    order: dict[str, Any] = {
        "SalesOrderType": org.get(ORDER_TYPE_QUALIFIER) or "",
        **{name: org.get(qualifier) or "" for qualifier, name in ORG_QUALIFIERS.items()},
        "SoldToParty": partners.get("AG") or "",
        "PurchaseOrderByCustomer": header.get("BELNR") or "",
        "TransactionCurrency": header.get("CURCY") or "USD",
        "to_Item": {"results": items},
    }
    if references.get(REFERENCE_QUALIFIER):
        order["ReferenceSDDocument"] = references[REFERENCE_QUALIFIER]
    return order
