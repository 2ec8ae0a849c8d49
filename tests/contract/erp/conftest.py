"""Fixtures of the ERP contract suite: every dialect in the registry, with every module of drivers.

A driver module holds ``DRIVERS`` (dialect name → :class:`ErpDriver`): the requests the suite sends and
how it reads the replies. ``drivers.py`` builds them by hand; the core's adapters join by adding a module
whose drivers render through the adapters' command specs to ``DRIVER_MODULES`` — then every case runs
for each dialect through the mock alone and through adapter + mock, with the same expectations
(``adapter_drivers.py``). Only the pairs that exist are generated: a dialect without a core adapter has
no adapter-rendered case at all (not a skipped one); `test_every_dialect_has_hand_written_drivers` keeps
the mock side complete.
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


def drivers_of(module: str) -> dict[str, ErpDriver]:
    drivers: dict[str, ErpDriver] = importlib.import_module(module).DRIVERS
    return drivers


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every dialect for a mock-only case; every (dialect, driver module) pair that exists for a case that
    sends through a driver."""
    if "driver" in metafunc.fixturenames:
        pairs = [(d, m) for m in DRIVER_MODULES for d in sorted(ERP_DIALECTS) if d in drivers_of(m)]
        metafunc.parametrize(
            ("dialect", "driver_module"), pairs, ids=[f"{d}-{m.rsplit('.', 1)[-1]}" for d, m in pairs]
        )
    elif "dialect" in metafunc.fixturenames:
        metafunc.parametrize("dialect", sorted(ERP_DIALECTS))


@pytest.fixture
def erp(dialect: str) -> ErpSystem:
    return make_erp(dialect)


@pytest.fixture
def driver(dialect: str, driver_module: str) -> ErpDriver:
    return drivers_of(driver_module)[dialect]
