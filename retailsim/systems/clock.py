"""Simulated time as the products print it: ISO-8601 from a fixed epoch, never the wall clock.

The mocks stamp nearly every record and event with ``iso_time``, so it is written for speed: the date
part is worked out once per simulated day and the time of day by arithmetic, which gives exactly what
``(EPOCH + timedelta(seconds=s)).isoformat(timespec="seconds")`` gives (the epoch is a midnight).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(2026, 11, 27, tzinfo=UTC)  # Black Friday 2026, 00:00 UTC
_DAYS: dict[int, str] = {}  # day number since the epoch → "YYYY-MM-DD" (a run spans a few days)


def iso_time(seconds: float) -> str:
    elapsed = timedelta(seconds=seconds)  # rounds to the microsecond, as the datetime sum did
    day = _DAYS.get(elapsed.days)
    if day is None:
        day = _DAYS[elapsed.days] = (EPOCH + timedelta(days=elapsed.days)).date().isoformat()
    of_day = elapsed.seconds
    return f"{day}T{of_day // 3600:02d}:{of_day // 60 % 60:02d}:{of_day % 60:02d}Z"


def epoch_seconds(seconds: float) -> int:
    return int((EPOCH + timedelta(seconds=seconds)).timestamp())
