"""Scenario files shipped with retailsim, and the loader that validates any scenario file.

A scenario is a shipped name (``flash-sale``) or a path to a TOML file. Loading applies ``--set``
overrides (``workload.orders=20000``; the value is read as TOML, else taken as a string) to the raw
document *before* validation, so an override is checked exactly like the file. A file must be UTF-8
TOML that names its scenario (``name`` is required; an empty file is refused, not run on defaults).
Every failure is a :class:`ScenarioError` naming the file, the key path and the reason. Depends on core (its config model).
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from retailsim.scenarios.schema import Scenario, parse_duration

__all__ = [
    "Scenario",
    "ScenarioError",
    "describe",
    "list_scenarios",
    "load",
    "override",
    "parse_duration",
    "to_toml",
]


class ScenarioError(ValueError):
    """A scenario could not be found, read or validated; the message says where and why."""


def _shipped() -> dict[str, Any]:
    return {
        entry.name.removesuffix(".toml"): entry
        for entry in resources.files(__package__).iterdir()
        if entry.name.endswith(".toml")
    }


def list_scenarios() -> list[tuple[str, str]]:
    """(name, one-line description) of every shipped scenario, sorted by name."""
    result = []
    for name, entry in sorted(_shipped().items()):
        document = tomllib.loads(entry.read_text(encoding="utf-8"))
        lines = str(document.get("description", "")).strip().splitlines()
        result.append((name, lines[0] if lines else ""))
    return result


def _read(source: str) -> tuple[str, dict[str, Any]]:
    shipped = _shipped()
    if source in shipped:
        label, text = f"{source} (shipped)", shipped[source].read_text(encoding="utf-8")
    else:
        path = Path(source)
        if not path.suffix and not path.exists():
            known = ", ".join(sorted(shipped))
            raise ScenarioError(f"unknown scenario {source!r}; shipped scenarios: {known}")
        if path.is_dir():
            raise ScenarioError(f"{source}: is a directory, not a scenario file")
        if not path.is_file():
            raise ScenarioError(f"{source}: no such scenario file")
        label, text = str(path), _read_text(path)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{label}: not valid TOML: {exc}") from exc
    if not document:
        raise ScenarioError(f'{label}: empty scenario file; a scenario needs at least name = "..."')
    return label, document


def _read_text(path: Path) -> str:
    """The file as UTF-8 text, or a ScenarioError saying why it is not one (unreadable, binary)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not a text file (invalid UTF-8 at byte {exc.start})") from exc


def _parse_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def apply_override(document: dict[str, Any], assignment: str) -> None:
    """Apply one ``path=value`` override to a raw scenario document (in place)."""
    if "=" not in assignment:
        raise ScenarioError(f"--set {assignment!r}: expected KEY=VALUE, e.g. workload.orders=20000")
    path, raw = assignment.split("=", 1)
    keys = [k.strip() for k in path.strip().split(".")]
    if not all(keys):
        raise ScenarioError(f"--set {assignment!r}: empty key in {path!r}")
    node = document
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ScenarioError(f"--set {assignment!r}: {key!r} is not a section")
        node = child
    node[keys[-1]] = _parse_value(raw.strip())


def override(key: str, value: Any) -> str:
    """The ``--set`` assignment that gives ``key`` this Python value, written as TOML: a list of tables
    (``faults=[{ kind = "outage", ... }]``) as well as a number or a string."""
    return f"{key}={_toml_value(value)}"


def _format(label: str, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "(top level)"
        reason = error["msg"]
        if error["type"] == "extra_forbidden":
            reason = "unknown key"
        lines.append(f"{label}: {where}: {reason}")
    return "\n".join(lines)


def load(source: str, overrides: list[str] | None = None) -> Scenario:
    """Read, override and validate a scenario; raise ScenarioError naming key and reason."""
    label, document = _read(source)
    for assignment in overrides or []:
        apply_override(document, assignment)
    try:
        return Scenario.model_validate(document)
    except ValidationError as exc:
        raise ScenarioError(_format(label, exc)) from exc


def describe(scenario: Scenario) -> dict[str, Any]:
    """The resolved scenario as plain JSON-able data (for the report's appendix)."""
    return scenario.model_dump(mode="json")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items() if v is not None) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _toml_table(path: list[str], table: dict[str, Any], out: list[str]) -> None:
    scalars = {
        k: v for k, v in table.items() if v is not None and not isinstance(v, dict) and not _is_table_list(v)
    }
    if path:
        out.append(f"\n[{'.'.join(path)}]")
    out.extend(f"{key} = {_toml_value(value)}" for key, value in scalars.items())
    for key, value in table.items():
        if isinstance(value, dict) and not _inline(value):
            _toml_table([*path, key], value, out)
        elif isinstance(value, dict):
            out.append(f"{key} = {_toml_value(value)}")
    for key, value in table.items():
        if _is_table_list(value):
            for item in value:
                out.append(f"\n[[{'.'.join([*path, key])}]]")
                out.extend(f"{k} = {_toml_value(v)}" for k, v in item.items() if v is not None)


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _inline(table: dict[str, Any]) -> bool:
    """Small tables of scalars (latency = {median, p99}; rate_limits) are written inline."""
    return all(not isinstance(v, dict | list) for v in table.values()) and len(table) <= 2


def to_toml(scenario: Scenario) -> str:
    """The resolved scenario as a TOML file that ``load`` reads back to the same scenario."""
    out: list[str] = ["# written by retailsim: the fully resolved scenario (every default spelled out)"]
    _toml_table([], scenario.model_dump(mode="json"), out)
    return "\n".join(out) + "\n"
