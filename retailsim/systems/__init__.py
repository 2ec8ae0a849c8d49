"""Mock external systems: SimPy actors that speak their real products' payloads and misbehave like them.

Rule: this package imports SimPy and the standard library only — never the core (the core maps to
these shapes, as a production integration does), the runtime or the reports.
"""

from retailsim.systems.base import LOST_REPLY, FaultSwitches, Latency, MockSystem, Request, Response, Webhook
from retailsim.systems.carrier import Carrier
from retailsim.systems.dynamics import Dynamics365
from retailsim.systems.erp import Erp
from retailsim.systems.erp_base import ErpSystem
from retailsim.systems.erp_dialects import ERP_DIALECTS, erp_class
from retailsim.systems.netsuite import NetSuite
from retailsim.systems.oracle_fusion import OracleFusion
from retailsim.systems.payment import PaymentGateway
from retailsim.systems.sap_ecc import SapEcc
from retailsim.systems.service_cloud import ServiceCloud
from retailsim.systems.storefront import Storefront
from retailsim.systems.wms import Wms

__all__ = [
    "ERP_DIALECTS",
    "LOST_REPLY",
    "Carrier",
    "Dynamics365",
    "Erp",
    "ErpSystem",
    "FaultSwitches",
    "Latency",
    "MockSystem",
    "NetSuite",
    "OracleFusion",
    "PaymentGateway",
    "Request",
    "Response",
    "SapEcc",
    "ServiceCloud",
    "Storefront",
    "Webhook",
    "Wms",
    "erp_class",
]
