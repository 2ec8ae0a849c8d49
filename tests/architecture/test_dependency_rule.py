"""The one rule of dependencies (DESIGN.md, "Layout"), as a test: a forbidden import fails the build.

sim → core, systems, scenarios, reports; systems → simpy only; reports → plain data only;
scenarios → core (its config model); core → nothing of ours, and no simpy, asyncio, wall clock or
global random (the HTTP layer core/api may read the clock: it is the edge where requests arrive).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "retailsim"

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "core": ("retailsim.sim", "retailsim.systems", "retailsim.scenarios", "retailsim.reports", "simpy"),
    "systems": ("retailsim.core", "retailsim.sim", "retailsim.scenarios", "retailsim.reports"),
    "reports": ("retailsim.core", "retailsim.sim", "retailsim.systems", "retailsim.scenarios", "simpy"),
    "scenarios": ("retailsim.sim", "retailsim.systems", "retailsim.reports", "simpy"),
}
CORE_IMPURE = ("time.time", "time.monotonic", "datetime.now", "random.random", "random.randint", "random.choice")


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


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
    offenders = []
    for path in python_files("core"):
        if "api" in path.relative_to(PACKAGE / "core").parts:
            continue
        text = path.read_text(encoding="utf-8")
        offenders += [f"{path.relative_to(PACKAGE)}: {call}" for call in CORE_IMPURE if f"{call}(" in text]
        if "import asyncio" in text:
            offenders.append(f"{path.relative_to(PACKAGE)}: asyncio")
    assert not offenders, "\n".join(offenders)


def test_the_rule_catches_a_forbidden_import(tmp_path: Path) -> None:
    """The checker itself must be able to fail."""
    bad = tmp_path / "bad.py"
    bad.write_text("import simpy\nfrom retailsim.sim.world import World\n")
    found = imports_of(bad)
    assert "simpy" in found and "retailsim.sim.world" in found
