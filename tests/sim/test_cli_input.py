"""Every input gets an honest answer from the command line (issue 13, items 10-14 and 18).

Bad input is exit 2 with one line naming the cause, found *before* a run spends its time (the output
folder, the scenario file, the port); the printed replay command runs as pasted into a shell and
reproduces the digest; the default output folder tells runs with different overrides apart; text in
brackets survives rich's markup. Each test starts the CLI in a fresh interpreter, as a shell would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "retailsim.sim.cli"]
#: A workload that would run for minutes: an input error must come back long before.
HUGE = "workload.orders=1000000"


def retailsim(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def assert_bad_input(result: subprocess.CompletedProcess[str], cause: str) -> None:
    """Exit 2, one line on stderr that names the cause, no traceback, nothing run."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert cause in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert "orders:" not in result.stdout


# ---- item 10: input errors before the run --------------------------------------------------------


def test_out_pointing_at_an_existing_file_is_exit_2_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "taken.txt").write_text("mine\n")
    result = retailsim("run", "baseline", "--set", HUGE, "--out", "taken.txt", "--quiet", cwd=tmp_path, timeout=60)
    assert_bad_input(result, "--out taken.txt: exists and is not a directory")
    assert (tmp_path / "taken.txt").read_text() == "mine\n"


def test_out_that_cannot_be_created_is_exit_2_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "taken.txt").write_text("mine\n")
    result = retailsim(
        "run", "baseline", "--set", HUGE, "--out", "taken.txt/run", "--quiet", cwd=tmp_path, timeout=60
    )  # fmt: skip
    assert_bad_input(result, "--out taken.txt/run: cannot write there")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_in_a_read_only_folder_is_exit_2_before_the_run(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = retailsim("run", "baseline", "--set", HUGE, "--out", "locked/run", "--quiet", cwd=tmp_path, timeout=60)
    assert_bad_input(result, "cannot write there")


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00", "plan.toml: not a text file"),
        (b"", "plan.toml: empty scenario file"),
        (b"[workload]\norders = 5\n", "plan.toml: name: Field required"),
    ],
    ids=["binary", "empty", "no-name"],
)
@pytest.mark.parametrize("command", ["run", "check"])
def test_a_file_that_is_no_scenario_is_exit_2(command: str, content: bytes, cause: str, tmp_path: Path) -> None:
    (tmp_path / "plan.toml").write_bytes(content)
    result = retailsim(command, "plan.toml", *(["--quiet"] if command == "run" else []), cwd=tmp_path, timeout=60)
    assert_bad_input(result, cause)
    assert not (tmp_path / "retailsim-out").exists()


def test_a_directory_is_not_a_scenario_file(tmp_path: Path) -> None:
    (tmp_path / "plans").mkdir()
    result = retailsim("run", "plans", "--quiet", cwd=tmp_path, timeout=60)
    assert_bad_input(result, "plans: is a directory, not a scenario file")


# ---- item 11: the replay command runs as printed -------------------------------------------------


def test_the_printed_replay_command_runs_in_a_shell_and_gives_the_same_digest(tmp_path: Path) -> None:
    shims = tmp_path / "bin"
    shims.mkdir()
    shim = shims / "retailsim"  # `retailsim` on PATH is this checkout, whatever else is installed
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m retailsim.sim.cli "$@"\n')
    shim.chmod(0o755)
    first = retailsim(
        "run", "baseline", "--seed", "2", "--set", "workload.orders=20",
        "--set", 'expect.invariants=["no_lost_orders","dlq_accounted"]', "--out", "first", "--quiet",
        cwd=tmp_path,
    )  # fmt: skip
    assert first.returncode == 1, first.stdout + first.stderr  # dlq_accounted had nothing to check
    [replay] = [line.removeprefix("replay: ") for line in first.stderr.splitlines() if line.startswith("replay: ")]

    again = subprocess.run(
        ["/bin/sh", "-c", f"{replay} --out again --quiet"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}"},
    )  # fmt: skip
    assert again.returncode == 1, again.stdout + again.stderr
    original = json.loads((tmp_path / "first" / "summary.json").read_text())
    replayed = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert replayed["digest"] == original["digest"]
    assert replayed["replay"] == original["replay"] == replay


# ---- item 12: the default output folder -----------------------------------------------------------


def test_runs_with_other_overrides_get_their_own_default_folder(tmp_path: Path) -> None:
    base = ["run", "flash-sale", "--seed", "3", "--set", "workload.orders=40", "--quiet"]
    realtime = retailsim(*base, cwd=tmp_path)
    batch = retailsim(*base, "--set", "systems.storefront.inventory_sync=batch", cwd=tmp_path)
    assert realtime.returncode in (0, 1) and batch.returncode in (0, 1), realtime.stderr + batch.stderr
    folders = sorted(p.name for p in (tmp_path / "retailsim-out").iterdir())
    assert len(folders) == 2, folders
    assert all(name.startswith("flash-sale-3-") for name in folders)
    replays = [json.loads((tmp_path / "retailsim-out" / name / "summary.json").read_text())["replay"] for name in folders]
    syncs = {"inventory_sync=batch" in replay for replay in replays}
    assert syncs == {True, False}


def test_a_plain_run_keeps_the_documented_folder(tmp_path: Path) -> None:
    from retailsim.sim.cli import default_out_dir

    assert default_out_dir("flash-sale", 7, [], "real") == Path("retailsim-out/flash-sale-7")
    assert default_out_dir("flash-sale", 7, [], "no-retry") != Path("retailsim-out/flash-sale-7")


# ---- item 13: rich markup ------------------------------------------------------------------------


def test_a_name_pattern_in_brackets_prints_intact(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('name = "Bad Name"\n')
    result = retailsim("check", "bad.toml", cwd=tmp_path)
    assert_bad_input(result, r"name: String should match pattern '^[a-z0-9][a-z0-9\-_]*$'")


# ---- item 14: serve on a busy port ---------------------------------------------------------------


def test_serve_on_a_busy_port_says_so_and_exits_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = retailsim("serve", "baseline", "--store", "memory", "--port", str(port), cwd=tmp_path, timeout=60)
    assert_bad_input(result, f"port {port} in use on 127.0.0.1")
    assert "listening on" not in result.stdout


# ---- item 18: check takes --set -------------------------------------------------------------------


def test_check_applies_set_overrides_with_the_same_validation(tmp_path: Path) -> None:
    ok = retailsim("check", "flash-sale", "--set", "workload.orders=123", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "123 orders" in ok.stdout
    bad = retailsim("check", "flash-sale", "--set", "workload.orders=abc", cwd=tmp_path)
    assert bad.returncode == 2 and "workload.orders" in bad.stderr
