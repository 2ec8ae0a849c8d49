"""The one rule of dependencies (DESIGN.md, "Layout"), as a test: a forbidden import fails the build.

sim → core, systems, scenarios, reports; systems → simpy and the standard library only; reports → plain
data only; scenarios → core (its config model); core → nothing of ours, and no simpy, asyncio, wall
clock, uuid4 or global random (the HTTP layer core/api may read the clock: it is the edge where requests
arrive). Read from the syntax tree, not the text: relative imports count, and so do ``from time import
perf_counter`` and ``random.choice(...)`` (a seeded ``random.Random`` is what the core takes instead).

And three ratchets for issue 12's redesign, each a list of today's violations that may only shrink: no
import cycle anywhere in retailsim/ (strongly connected components of the module graph), no class in
core/ over 400 lines, no decision by a command kind's string outside core/adapters/ (the registry's job).
Every checker is shown to catch what it forbids on a small synthetic source.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "retailsim"

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "core": ("retailsim.sim", "retailsim.systems", "retailsim.scenarios", "retailsim.reports", "simpy"),
    "systems": ("retailsim.core", "retailsim.sim", "retailsim.scenarios", "retailsim.reports"),
    "reports": ("retailsim.core", "retailsim.sim", "retailsim.systems", "retailsim.scenarios", "simpy"),
    "scenarios": ("retailsim.sim", "retailsim.systems", "retailsim.reports", "simpy"),
}


def module_of(path: Path, root: Path = PACKAGE.parent) -> list[str]:
    """``retailsim/core/api/app.py`` → ["retailsim", "core", "api", "app"] (a package's ``__init__``: the package)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imports_of(
    path: Path, source: str | None = None, *, root: Path = PACKAGE.parent, with_names: bool = False
) -> list[str]:
    """Every module a file imports (or ``source``, read as if it were that file), relative imports resolved
    to absolute names. ``with_names``: ``from a import b`` gives ``a.b`` instead of ``a`` (b may be a
    module; the caller knows which names are modules)."""
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = (node.module or "").split(".")
            else:
                package = module_of(path, root) if path.name == "__init__.py" else module_of(path, root)[:-1]
                base = package[: len(package) - (node.level - 1)] + (
                    node.module.split(".") if node.module else []
                )
            if with_names or not node.module:  # from . import x: x may be a module
                names += [".".join([*base, alias.name]) for alias in node.names]
            else:
                names.append(".".join(base))
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


# ---------------------------------------------------------------------------------------------------------
# Ratchets (issue 12). Each rule is violated today; each KNOWN_... set lists today's violations by name.
# A violation not listed fails the build (do not add it: fix it); a listed one that no longer occurs fails
# it too (delete its line), so the lists only shrink. They are empty when the redesign is done.


def assert_ratchet(found: Iterable[str], known: frozenset[str], rule: str) -> None:
    """``found`` must be exactly ``known``: nothing new, nothing fixed and still listed."""
    seen = set(found)
    new, fixed = sorted(seen - known), sorted(known - seen)
    assert not new and not fixed, (
        f"{rule}\n"
        + "".join(f"  new (fix it, do not list it): {item}\n" for item in new)
        + "".join(f"  fixed (delete it from the known list): {item}\n" for item in fixed)
    )


def module_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module → the modules of the package it imports (any import: at the top, under TYPE_CHECKING or in a
    function — each is a dependency a reader must follow). ``from a import b`` counts as importing the
    module ``a.b`` when there is one, else ``a``."""
    root = package.parent
    files = {".".join(module_of(path, root)): path for path in sorted(package.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        targets: set[str] = set()
        for name in imports_of(path, root=root, with_names=True):
            target = name
            while target and target not in files:  # ``a.b.Thing`` → ``a.b``; ``json`` → nothing of ours
                target = target.rpartition(".")[0]
            if target and target != module:
                targets.add(target)
        graph[module] = targets
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted: every module in one
    can reach every other by imports, so none of them can be read, tested or moved alone."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(components)


MAX_CLASS_LINES = 400


def long_classes(path: Path, source: str | None = None, limit: int = MAX_CLASS_LINES) -> list[str]:
    """``file::Class`` for each class (nested ones too) longer than ``limit`` lines, decorators excluded."""
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source)
    where = path.relative_to(PACKAGE).as_posix() if path.is_relative_to(PACKAGE) else path.name
    return [
        f"{where}::{node.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and (node.end_lineno or node.lineno) - node.lineno + 1 > limit
    ]


def _is_kind(node: ast.expr) -> bool:
    """``kind``, ``message_kind``, ``message.kind``: an expression that names a kind."""
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name == "kind" or name.endswith("_kind")


def _is_text_constant(node: ast.expr) -> bool:
    """A string literal, a literal collection of them, or a named constant (``RETURN_KINDS``)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return bool(node.elts) and all(_is_text_constant(element) for element in node.elts)
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name.isupper()


SWITCH_OPERATORS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


class _KindSwitches(ast.NodeVisitor):
    """Comparisons of a kind with strings, string tests on a kind, and ``match`` on a kind with string
    cases; each named by the enclosing function and the code (as ``ast.unparse`` writes it), so a moved
    line keeps its name and an edit elsewhere in the file does not rename it."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.scope: list[str] = []
        self.found: list[str] = []

    def _add(self, node: ast.AST, code: str) -> None:
        name = f"{self.where}::{'.'.join(self.scope) or '<module>'}: {code}"
        repeats = sum(1 for seen in self.found if seen == name or seen.startswith(name + " #"))
        self.found.append(name if not repeats else f"{name} #{repeats + 1}")

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def visit_Compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            if isinstance(op, SWITCH_OPERATORS) and (
                (_is_kind(left) and _is_text_constant(right)) or (_is_kind(right) and _is_text_constant(left))
            ):
                self._add(node, ast.unparse(node))
                break
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr in ("startswith", "endswith")
            and _is_kind(func.value)
        ):
            self._add(node, ast.unparse(node))
        self.generic_visit(node)

    def visit_Match(self, node: ast.Match) -> None:
        strings = [
            case
            for case in node.cases
            for pattern in ast.walk(case.pattern)
            if isinstance(pattern, ast.MatchValue) and _is_text_constant(pattern.value)
        ]
        if _is_kind(node.subject) and strings:
            self._add(node, f"match {ast.unparse(node.subject)}")
        self.generic_visit(node)


def kind_switches(path: Path, source: str | None = None) -> list[str]:
    """Every place a file decides by comparing a kind with strings (see ``_KindSwitches``)."""
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source)
    visitor = _KindSwitches(
        path.relative_to(PACKAGE).as_posix() if path.is_relative_to(PACKAGE) else path.name
    )
    visitor.visit(tree)
    return visitor.found


# Modules on an import cycle today: none. The core's service ↔ returns ↔ service_desk cycle ended when
# the mixins became collaborators over typed protocols (core/service/), sim's world ↔ faults ↔
# service_desk when faults and the desk took narrow protocols.
KNOWN_IMPORT_CYCLES: frozenset[str] = frozenset()

# Classes in core/ over 400 lines today: none (IntegrationCore became a facade over core/service's rooms).
KNOWN_LONG_CLASSES: frozenset[str] = frozenset()

# Decisions by a kind's string outside core/adapters/ today: none (the command registry decides).
KNOWN_KIND_SWITCHES: frozenset[str] = frozenset()


def test_no_new_import_cycle_anywhere_in_retailsim() -> None:
    cycles = import_cycles(module_graph())
    assert_ratchet(
        (module for cycle in cycles for module in cycle),
        KNOWN_IMPORT_CYCLES,
        "modules on an import cycle: " + "; ".join(" ↔ ".join(cycle) for cycle in cycles),
    )


def test_no_new_class_in_core_over_400_lines() -> None:
    found = [name for path in python_files("core") for name in long_classes(path)]
    assert_ratchet(found, KNOWN_LONG_CLASSES, f"classes in core/ over {MAX_CLASS_LINES} lines (split them)")


def test_no_new_kind_switch_outside_the_adapters() -> None:
    found = [
        switch
        for path in python_files("core")
        if "adapters" not in path.relative_to(PACKAGE / "core").parts
        for switch in kind_switches(path)
    ]
    assert_ratchet(
        found, KNOWN_KIND_SWITCHES, "kind compared with strings outside core/adapters/ (use the registry)"
    )


def test_the_ratchet_fails_on_a_new_violation_and_on_a_fixed_one_still_listed() -> None:
    assert_ratchet(["a", "b"], frozenset({"a", "b"}), "rule")
    with pytest.raises(AssertionError, match=r"new \(fix it, do not list it\): c"):
        assert_ratchet(["a", "b", "c"], frozenset({"a", "b"}), "rule")
    with pytest.raises(AssertionError, match=r"fixed \(delete it from the known list\): b"):
        assert_ratchet(["a"], frozenset({"a", "b"}), "rule")


def test_the_cycle_finder_sees_a_cycle_through_relative_and_from_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    for name, source in {
        "__init__.py": "",
        "a.py": "from . import b\n",  # a → b, relative
        "b.py": "def f():\n    from pkg.sub.c import thing\n",  # b → c, inside a function
        "sub/__init__.py": "",
        "sub/c.py": "from ..a import x\nimport json\n",  # c → a: closes the loop
        "d.py": "import pkg.a\n",  # d → a: depends on the cycle, is not on it
        "e.py": "from pkg import d\n",  # e → d (a module named in a from-import)
    }.items():
        (package / name).write_text(source)
    graph = module_graph(package)
    assert graph["pkg.e"] == {"pkg.d"} and graph["pkg.d"] == {"pkg.a"}
    assert import_cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c"]]
    (package / "sub" / "c.py").write_text("import json\n")  # the loop broken: no cycle left
    assert import_cycles(module_graph(package)) == []


def test_the_class_length_check_counts_lines_from_class_to_last_statement() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_CLASS_LINES - 1))  # + the class line: the limit
    source = f"class Fits:\n{body}\n\nclass TooLong:\n{body}    one_more = 1\n"
    path = PACKAGE / "core" / "synthetic.py"
    assert long_classes(path, source) == ["core/synthetic.py::TooLong"]


def test_the_kind_switch_check_sees_every_form_and_spares_the_registry() -> None:
    source = (
        "KINDS = frozenset({'A'})\n"
        "def render(message, kind, registry, status, other):\n"
        "    if kind == 'A': pass\n"
        "    if 'B' != message.kind: pass\n"
        "    if message.kind in ('C', 'D'): pass\n"
        "    if command_kind not in KINDS: pass\n"
        "    if kind.startswith('Post'): pass\n"
        "    match message.kind:\n"
        "        case 'E' | 'F': pass\n"
        "        case _: pass\n"
        "    spec = registry[kind]\n"  # the registry way: no string comparison
        "    if status == 'A' or kind == other: pass\n"  # not a kind; not a string
        "    if kind == 'A': pass\n"
    )
    found = kind_switches(PACKAGE / "core" / "synthetic.py", source)
    assert found == [
        "core/synthetic.py::render: kind == 'A'",
        "core/synthetic.py::render: 'B' != message.kind",
        "core/synthetic.py::render: message.kind in ('C', 'D')",
        "core/synthetic.py::render: command_kind not in KINDS",
        "core/synthetic.py::render: kind.startswith('Post')",
        "core/synthetic.py::render: match message.kind",
        "core/synthetic.py::render: kind == 'A' #2",
    ]
