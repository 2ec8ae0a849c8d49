"""Suite-wide collection rule: tests marked ``slow`` (long soaks, campaigns, sweeps) run only when asked
for with ``-m slow``; otherwise they are deselected, so ``make test`` keeps to its time budget."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.getoption("markexpr") or ""):
        return
    kept = [item for item in items if item.get_closest_marker("slow") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept
