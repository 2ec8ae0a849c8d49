"""The runtime's rooms (sim/world.py's docstring), as a test: the fault plan and the service desk know no
world, and no class of the rooms grows past about 400 lines.

No import cycle in sim/ is the architecture test's ratchet (tests/architecture, for all of retailsim/);
this file reuses its readers of the syntax tree, so relative imports and imports under ``TYPE_CHECKING``
count here too.
"""

from __future__ import annotations

import pytest

from tests.architecture.test_dependency_rule import PACKAGE, imports_of, long_classes

SIM = PACKAGE / "sim"
# Modules of sim/ that other areas own (live mode, scale-out, the deliberately broken cores).
NOT_ROOMS = frozenset({"live.py", "scaleout.py", "broken_cores.py"})


@pytest.mark.parametrize("module", ["faults.py", "service_desk.py"])
def test_the_fault_plan_and_the_desk_know_no_world(module: str) -> None:
    imported = imports_of(SIM / module)
    assert not [name for name in imported if name.startswith("retailsim.sim.world")], imported


def test_no_room_has_a_class_over_400_lines() -> None:
    rooms = [path for path in sorted(SIM.glob("*.py")) if path.name not in NOT_ROOMS]
    assert [name for path in rooms for name in long_classes(path)] == []
