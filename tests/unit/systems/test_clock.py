"""Simulated time prints as ISO-8601 from the fixed epoch, exactly as the datetime arithmetic would.

What it is for: systems/clock.py computes the text by hand for speed; this checks it against the
reference formula on times that stress it (day boundaries, microsecond rounding, negatives, weeks).
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from retailsim.systems.clock import EPOCH, iso_time


def reference(seconds: float) -> str:
    return (EPOCH + timedelta(seconds=seconds)).isoformat(timespec="seconds").replace("+00:00", "Z")


@pytest.mark.parametrize(
    "seconds",
    [0.0, 0.4, 59.9999994, 59.9999996, 3599.5, 86399.9999999, 86400.0, 86400.0000001, 14 * 86400 + 0.25,
     -0.5, -86400.0, -86400.5, 1e7 + 0.123],
)
def test_edge_times_print_as_the_reference_does(seconds: float) -> None:
    assert iso_time(seconds) == reference(seconds)


def test_random_times_print_as_the_reference_does() -> None:
    rng = random.Random(11)
    for _ in range(20_000):
        seconds = rng.uniform(-2 * 86400, 30 * 86400)
        assert iso_time(seconds) == reference(seconds), seconds


def test_the_epoch_is_black_friday_midnight_utc() -> None:
    assert iso_time(0.0) == "2026-11-27T00:00:00Z"
    assert iso_time(86400 + 3723.9) == "2026-11-28T01:02:03Z"
