"""The README's table "bad input → answer" is what the program does (issue 13, item 18).

Every row is run as written (shell words, ``retailsim`` being this checkout's CLI) in a folder holding the
files the rows name, and must exit with the row's code and say the row's words on stderr, in one line.
The busy-port row gets a port that is really taken.
"""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
HEADER = "| bad input | example | exit | stderr says |"


def table_rows() -> list[tuple[str, str, int, str]]:
    text = README.read_text(encoding="utf-8")
    assert HEADER in text, "the README lost its bad-input table"
    block = text.split(HEADER, 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in block.strip().splitlines()[1:]:  # after the |---| line
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        what, example, code, says = cells
        command = re.search(r"`([^`]*)`", example)
        assert command is not None, line
        rows.append((what, command.group(1), int(code), says.strip("`")))
    return rows


ROWS = table_rows()


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    (tmp_path / "notes.txt").write_text("mine\n")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "empty.toml").write_bytes(b"")
    (tmp_path / "unnamed.toml").write_text("[workload]\norders = 5\n")
    (tmp_path / "bad-name.toml").write_text('name = "Peak Sale"\n')
    (tmp_path / "broken.toml").write_text('name = "broken"\n[workload\n')
    (tmp_path / "plans").mkdir()
    return tmp_path


def test_the_table_has_the_rows_the_issue_asks_for() -> None:
    covered = " ".join(what for what, *_ in ROWS)
    for topic in ("directory", "binary", "empty", "`--out` is a file", "busy port", "unknown flag"):
        assert topic in covered, topic


@pytest.mark.parametrize(("what", "command", "code", "says"), ROWS, ids=[row[0] for row in ROWS])
def test_each_row_is_what_the_program_answers(
    what: str, command: str, code: int, says: str, sandbox: Path
) -> None:
    words = shlex.split(command)
    assert words[0] == "retailsim"
    with socket.socket() as busy:
        if "in use" in says:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = str(busy.getsockname()[1])
            words = [port if word == "8080" else word for word in words]
            says = says.replace("8080", port)
        result = subprocess.run(
            [sys.executable, "-m", "retailsim.sim.cli", *words[1:]],
            cwd=sandbox, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == code, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says.removesuffix("...") in lines[0], result.stderr
