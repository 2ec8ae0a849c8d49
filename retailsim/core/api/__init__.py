"""The core's HTTP API for live mode: a Starlette app over any host that runs an ``IntegrationCore``."""

from __future__ import annotations

from retailsim.core.api.app import create_app
from retailsim.core.api.edge import MAX_BODY_BYTES
from retailsim.core.api.host import CoreHost, HostUnavailable
from retailsim.core.api.signing import SIGNATURE_HEADER, TOLERANCE_S, sign, verify

__all__ = [
    "MAX_BODY_BYTES",
    "SIGNATURE_HEADER",
    "TOLERANCE_S",
    "CoreHost",
    "HostUnavailable",
    "create_app",
    "sign",
    "verify",
]
