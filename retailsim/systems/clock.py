"""Simulated time as the products print it: ISO-8601 from a fixed epoch, never the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(2026, 11, 27, tzinfo=UTC)  # Black Friday 2026, 00:00 UTC


def iso_time(seconds: float) -> str:
    return (EPOCH + timedelta(seconds=seconds)).isoformat(timespec="seconds").replace("+00:00", "Z")


def epoch_seconds(seconds: float) -> int:
    return int((EPOCH + timedelta(seconds=seconds)).timestamp())
