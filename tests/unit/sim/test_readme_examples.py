"""The README's scenario examples are valid scenario files: the user's manual cannot drift from the schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from retailsim.scenarios import load

README = Path(__file__).resolve().parents[3] / "README.md"
#: Scenario examples; a sweep file (a ``[sweep]`` table) is planned by tests/sim/test_sweep_plan.py instead.
BLOCKS = [
    block
    for block in re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    if not re.search(r"^\[sweep\]", block, flags=re.M)
]


def test_the_readme_has_toml_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_each_toml_example_loads(index: int, tmp_path: Path) -> None:
    text = BLOCKS[index]
    if not re.search(r"^name\s*=", text, flags=re.M):
        text = 'name = "readme-example"\n' + text  # a fragment, e.g. one [[faults]] table
    path = tmp_path / "example.toml"
    path.write_text(text, encoding="utf-8")
    load(str(path))


def test_the_readme_scenario_example_holds_every_invariant_at_a_small_size(tmp_path: Path) -> None:
    """The manual's own scenario (stores, returns, exchanges, cases) passes with every invariant judged.

    Hero stock is cut so that the promotion sells out and exchanges are delivered out of returned units:
    the ERP must have booked those back before it is asked to deliver them again (it issued fewer units
    than the warehouse shipped when the replacement was ordered at receipt)."""
    from retailsim.sim.runner import run_scenario

    text = next(block for block in BLOCKS if re.search(r"^name\s*=", block, flags=re.M))
    path = tmp_path / "example.toml"
    path.write_text(text, encoding="utf-8")
    scenario = load(
        str(path), ["workload.orders=400", "workload.hero_stock=30", "cases.wrong_item_share=0.3"]
    )
    record = run_scenario(scenario, 7).record
    failing = [(r.name, r.status, r.examples[:2]) for r in record.invariants if r.fails_run]
    assert not failing
    assert record.kpis["exchanges"]
