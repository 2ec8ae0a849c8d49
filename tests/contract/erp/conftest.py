"""Fixtures of the ERP contract suite: every dialect in the registry, with every module of drivers.

A driver module holds ``DRIVERS`` (dialect name → :class:`ErpDriver`): the requests the suite sends and
how it reads the replies. ``drivers.py`` builds them by hand; the core's adapters join by adding a module
whose drivers render through the adapters' command specs to ``DRIVER_MODULES`` — then every case runs
for each dialect through the mock alone and through adapter + mock, with the same expectations
(``adapter_drivers.py``; a dialect without an adapter is skipped there).
"""

from __future__ import annotations

import importlib
import random
from typing import Any

import pytest
import simpy

from retailsim.systems import ERP_DIALECTS, ErpSystem, erp_class
from tests.contract.erp.drivers import ErpDriver

DRIVER_MODULES = ("tests.contract.erp.drivers", "tests.contract.erp.adapter_drivers")
STOCK = {"DC1": {"SKU-1": 5, "SKU-2": 3}}


def make_erp(dialect: str, **knobs: Any) -> ErpSystem:
    return erp_class(dialect)(simpy.Environment(), random.Random(7), stock=STOCK, **knobs)


@pytest.fixture(params=sorted(ERP_DIALECTS))
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def erp(dialect: str) -> ErpSystem:
    return make_erp(dialect)


@pytest.fixture(params=DRIVER_MODULES, ids=lambda module: module.rsplit(".", 1)[-1])
def driver(request: pytest.FixtureRequest, dialect: str) -> ErpDriver:
    drivers: dict[str, ErpDriver] = importlib.import_module(request.param).DRIVERS
    if dialect not in drivers:
        pytest.skip(f"no adapter for the {dialect} dialect yet")
    return drivers[dialect]
