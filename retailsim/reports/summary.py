"""summary.json: the stable, machine-readable result of a run that tools and CI rely on.

What it is for: turning a :class:`~retailsim.reports.record.RunRecord` into the summary.json contract of
DESIGN.md ("Command line"), plus ``passed``, ``description``, ``latency`` and ``extra``.

Rules it keeps:
- plain data only: standard library and this package's own modules;
- deterministic: the same record gives byte-identical bytes. Key order is fixed (contract keys first, in
  contract order; further keys of orders/returns/dlq/kpis/latency sorted; ``extra`` and ``settings`` keep
  the order they were given in), floats are rounded to 6 decimals, non-finite floats become ``null``,
  sets are sorted, and there is no timestamp;
- every invariant carries ``status`` (``held`` | ``violated`` | ``not_exercised``) and ``required``; one
  with ``checked == 0`` is reported ``"passed": false`` (never a pass by default).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

from retailsim.reports.record import (
    DLQ_KEYS,
    KPI_KEYS,
    LATENCY_STAT_KEYS,
    ORDER_KEYS,
    RETURN_KEYS,
    InvariantResult,
    RunRecord,
)

SUMMARY_FILENAME: Final = "summary.json"
#: At most this many violation examples per invariant go into summary.json.
MAX_EXAMPLES: Final = 5
FLOAT_DIGITS: Final = 6

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


def plain(value: object) -> JsonValue:
    """Convert ``value`` into JSON-ready data, deterministically.

    Floats are rounded to 6 decimals (``-0.0`` becomes ``0.0``; NaN and infinities become ``None``);
    mappings keep their order with keys turned into strings; tuples and lists become lists; sets and
    frozensets become sorted lists; dataclasses become dicts; anything else becomes ``str(value)``.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        rounded = round(value, FLOAT_DIGITS)
        return 0.0 if rounded == 0 else rounded
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((plain(item) for item in value), key=lambda item: json.dumps(item, sort_keys=True))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    return str(value)


def _ordered(section: Mapping[str, object], first: Iterable[str]) -> dict[str, JsonValue]:
    """``first`` keys in that order (those present), then every other key sorted."""
    leading = [key for key in first if key in section]
    rest = sorted(key for key in section if key not in leading)
    return {key: plain(section[key]) for key in (*leading, *rest)}


def _invariant_dict(inv: InvariantResult) -> dict[str, JsonValue]:
    return {
        "name": inv.name,
        "passed": inv.passed,
        "status": inv.status,
        "required": inv.required,
        "checked": inv.checked,
        "violations": inv.violations,
        "examples": [str(example) for example in inv.examples[:MAX_EXAMPLES]],
    }


def summary_dict(record: RunRecord) -> dict[str, JsonValue]:
    """The summary.json document for ``record``, as an ordered dict of JSON-ready values."""
    return {
        "scenario": record.scenario,
        "seed": record.seed,
        "digest": record.digest,
        "sim_time_s": plain(float(record.sim_time_s)),
        "wall_time_s": plain(float(record.wall_time_s)),
        "events": record.events,
        "orders": _ordered(record.orders, ORDER_KEYS),
        "returns": _ordered(record.returns, RETURN_KEYS),
        "dlq": _ordered(record.dlq, DLQ_KEYS),
        "faults": [
            {
                "kind": fault.kind,
                "target": fault.target,
                "start_s": plain(float(fault.start_s)),
                "end_s": plain(float(fault.end_s)),
                "params": {str(key): plain(value) for key, value in fault.params.items()},
            }
            for fault in record.faults
        ],
        "invariants": [_invariant_dict(inv) for inv in record.invariants],
        "kpis": _ordered(record.kpis, KPI_KEYS),
        "replay": record.replay,
        "passed": record.passed,
        "description": record.description,
        "latency": {
            stage: _ordered(stats, LATENCY_STAT_KEYS)
            for stage, stats in _ordered_items(record.latency, ("acceptance", "erp_post"))
        },
        "extra": {str(key): plain(value) for key, value in record.extra.items()},
    }


def _ordered_items(
    section: Mapping[str, Mapping[str, float | None]], first: Iterable[str]
) -> list[tuple[str, Mapping[str, float | None]]]:
    leading = [key for key in first if key in section]
    rest = sorted(key for key in section if key not in leading)
    return [(key, section[key]) for key in (*leading, *rest)]


def summary_json(record: RunRecord) -> str:
    """The exact text of summary.json: 2-space indent, stable key order, trailing newline."""
    return json.dumps(summary_dict(record), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_summary(record: RunRecord, out_dir: Path) -> Path:
    """Write ``out_dir/summary.json`` (creating ``out_dir``) and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / SUMMARY_FILENAME
    path.write_bytes(summary_json(record).encode("utf-8"))
    return path
