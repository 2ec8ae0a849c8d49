"""The runtime's rooms (sim/world.py's docstring), as a test: no import cycle in sim/, the fault plan and
the service desk know no world, and no class of the rooms grows past about 400 lines.

Read from the syntax tree (the architecture test's ``imports_of``: relative imports and imports under
``TYPE_CHECKING`` count too). Each checker is shown to catch what it forbids.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.architecture.test_dependency_rule import PACKAGE, imports_of, module_of

SIM = PACKAGE / "sim"
# Modules of sim/ that other areas own (live mode, scale-out, the deliberately broken cores).
NOT_ROOMS = frozenset({"live.py", "scaleout.py", "broken_cores.py"})
MAX_CLASS_LINES = 400


def import_graph(files: list[Path]) -> dict[str, list[str]]:
    """Module → the modules among ``files`` it imports."""
    names = {".".join(module_of(path)): path for path in files}
    return {name: sorted({i for i in imports_of(path) if i in names and i != name}) for name, path in names.items()}


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (each one an import cycle), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def long_classes(path: Path, limit: int = MAX_CLASS_LINES) -> list[str]:
    """Classes in a file longer than ``limit`` lines, as "name (lines)"."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{node.name} ({node.end_lineno - node.lineno + 1})"
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and node.end_lineno is not None and node.end_lineno - node.lineno >= limit
    ]


def test_sim_has_no_import_cycle() -> None:
    assert cycles(import_graph(sorted(SIM.glob("*.py")))) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"], "e": ["e"]}
    assert cycles(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize("module", ["faults.py", "service_desk.py"])
def test_the_fault_plan_and_the_desk_know_no_world(module: str) -> None:
    imported = imports_of(SIM / module)
    assert not [name for name in imported if name.startswith("retailsim.sim.world")], imported


def test_no_room_has_a_class_over_400_lines() -> None:
    rooms = [path for path in sorted(SIM.glob("*.py")) if path.name not in NOT_ROOMS]
    assert {path.name: long_classes(path) for path in rooms if long_classes(path)} == {}


def test_the_class_length_check_sees_a_long_class(tmp_path: Path) -> None:
    source = tmp_path / "big.py"
    source.write_text("class Big:\n" + "    x = 1\n" * 400 + "\n\nclass Small:\n    y = 2\n", encoding="utf-8")
    assert long_classes(source) == ["Big (401)"]
