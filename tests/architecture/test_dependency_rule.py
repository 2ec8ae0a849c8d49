"""The one rule of dependencies (DESIGN.md, "Layout"), as a test: a forbidden import fails the build.

sim → core, systems, scenarios, reports; systems → simpy and the standard library only; reports → plain
data only; scenarios → core (its config model); core → nothing of ours, and no simpy, asyncio, wall
clock, uuid4 or global random (the HTTP layer core/api may read the clock: it is the edge where requests
arrive). Read from the syntax tree, not the text: relative imports count, and so do ``from time import
perf_counter`` and ``random.choice(...)`` (a seeded ``random.Random`` is what the core takes instead).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "retailsim"

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "core": ("retailsim.sim", "retailsim.systems", "retailsim.scenarios", "retailsim.reports", "simpy"),
    "systems": ("retailsim.core", "retailsim.sim", "retailsim.scenarios", "retailsim.reports"),
    "reports": ("retailsim.core", "retailsim.sim", "retailsim.systems", "retailsim.scenarios", "simpy"),
    "scenarios": ("retailsim.sim", "retailsim.systems", "retailsim.reports", "simpy"),
}


def module_of(path: Path) -> list[str]:
    """``retailsim/core/api/app.py`` → ["retailsim", "core", "api", "app"] (a package's ``__init__``: the package)."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imports_of(path: Path, source: str | None = None) -> list[str]:
    """Every module a file imports (or ``source``, read as if it were that file), relative imports resolved
    to absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names.append(node.module or "")
                continue
            package = module_of(path) if path.name == "__init__.py" else module_of(path)[:-1]
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                names.append(".".join([*base, node.module]))
            else:  # from . import x: x may be a module
                names += [".".join([*base, alias.name]) for alias in node.names]
    return names


# What core/ may not call (outside core/api): the wall clock, uuid, the global random. A seeded
# ``random.Random`` is how randomness reaches the core, so it alone is allowed of the random module.
IMPURE: dict[str, frozenset[str] | None] = {
    "time": frozenset({"time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns"}),
    "uuid": frozenset({"uuid1", "uuid4"}),
    "random": None,  # every function but Random
}
DATETIME_NOW = frozenset({"now", "utcnow", "today"})


def _impure(module: str, name: str) -> bool:
    forbidden = IMPURE.get(module, frozenset())
    return name != "Random" if forbidden is None else name in forbidden


def impure_calls(path: Path) -> list[str]:
    """Clock, uuid and global-random uses in a file, by the syntax tree."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in IMPURE:
            found += [
                f"from {node.module} import {a.name}" for a in node.names if _impure(node.module, a.name)
            ]
        elif isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name == "asyncio"]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner, attr = node.func.value, node.func.attr
            name = (
                owner.id
                if isinstance(owner, ast.Name)
                else owner.attr
                if isinstance(owner, ast.Attribute)
                else ""
            )
            if (name in IMPURE and _impure(name, attr)) or (name == "datetime" and attr in DATETIME_NOW):
                found.append(f"{name}.{attr}() at line {node.lineno}")
    return found


def python_files(package: str) -> list[Path]:
    return sorted((PACKAGE / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_the_rule_allows(package: str) -> None:
    files = python_files(package)
    assert files, f"no modules found in {package}"
    broken = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in files
        for name in imports_of(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[package])
    ]
    assert not broken, "\n".join(broken)


def test_core_reads_no_clock_and_no_global_random() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE)}: {use}"
        for path in python_files("core")
        if "api" not in path.relative_to(PACKAGE / "core").parts
        for use in impure_calls(path)
    ]
    assert not offenders, "\n".join(offenders)


def test_systems_import_only_simpy_the_standard_library_and_each_other() -> None:
    """A mock imitates a product with SimPy and the standard library; anything more is a deliberate edit here."""
    broken = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in python_files("systems")
        for name in imports_of(path)
        if not (
            name.split(".")[0] in sys.stdlib_module_names
            or name.split(".")[0] in ("__future__", "simpy")
            or name == "retailsim.systems"
            or name.startswith("retailsim.systems.")
        )
    ]
    assert not broken, "\n".join(broken)


def test_the_purity_check_sees_every_disguise(tmp_path: Path) -> None:
    """The checker itself must be able to fail: each way of reaching the clock, uuid or global random."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import random, time, uuid\nfrom time import perf_counter\nfrom uuid import uuid4\n"
        "from datetime import datetime\nimport asyncio\n"
        "a = time.time()\nb = random.choice([1])\nc = uuid.uuid4()\nd = datetime.now()\n"
        "ok = random.Random(7).random()\n"
    )
    found = impure_calls(bad)
    assert "from time import perf_counter" in found and "from uuid import uuid4" in found
    assert "import asyncio" in found
    for call in ("time.time()", "random.choice()", "uuid.uuid4()", "datetime.now()"):
        assert any(f.startswith(call) for f in found), (call, found)
    assert not any(f.startswith("random.Random") for f in found)


def test_relative_imports_are_resolved() -> None:
    source = "from ..adapters import sap\nfrom . import base\nfrom ...sim.world import World\n"
    names = imports_of(PACKAGE / "core" / "stores" / "memory.py", source)
    assert names == ["retailsim.core.adapters", "retailsim.core.stores.base", "retailsim.sim.world"]
