"""Fixtures of the ERP contract suite: one run per dialect in the registry, each with its driver.

The adapter side replaces ``driver`` (e.g. in a conftest.py of its own directory that re-runs this
suite's tests) with one rendering through the core's adapters; everything else stays.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import simpy

from retailsim.systems import ERP_DIALECTS, ErpSystem, erp_class
from tests.contract.erp.drivers import DRIVERS, ErpDriver

STOCK = {"DC1": {"SKU-1": 5, "SKU-2": 3}}


def make_erp(dialect: str, **knobs: Any) -> ErpSystem:
    return erp_class(dialect)(simpy.Environment(), random.Random(7), stock=STOCK, **knobs)


@pytest.fixture(params=sorted(ERP_DIALECTS))
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def erp(dialect: str) -> ErpSystem:
    return make_erp(dialect)


@pytest.fixture
def driver(dialect: str) -> ErpDriver:
    return DRIVERS[dialect]
