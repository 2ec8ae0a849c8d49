"""The README's scenario examples are valid scenario files: the user's manual cannot drift from the schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from retailsim.scenarios import load

README = Path(__file__).resolve().parents[3] / "README.md"
BLOCKS = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


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
