"""Streaming monitors, the workload's arrivals and the seeded random streams.

What it is for: the monitors must keep quantiles accurate in bounded memory and the trace digest must be
a faithful fingerprint of the trace (DESIGN.md, "Monitors", "Determinism"); the workload must place the
orders it was asked for, inside its window, with the shape it was given; and a run's random streams must
depend only on the seed and the stream's name.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence

import pytest

from retailsim.scenarios.schema import WorkloadSpec
from retailsim.sim.monitors import BucketCounter, Tally, TraceDigest
from retailsim.sim.seeds import Streams
from retailsim.sim.workload import arrival_times

SHAPES = ("steady", "flash_sale", "ramp", "diurnal")


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def tally_of(values: list[float]) -> Tally:
    tally = Tally()
    for value in values:
        tally.add(value)
    return tally


# ---- Tally ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        [1.0 + 99.0 * i / 99_999 for i in range(100_000)],  # uniform on [1, 100]
        [random.Random(4).lognormvariate(2.0, 1.0) for _ in range(100_000)],
    ],
    ids=["uniform-1-100", "lognormal"],
)
@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_tally_quantiles_are_within_two_percent_of_exact(values: list[float], q: float) -> None:
    exact = exact_quantile(values, q)
    estimate = tally_of(values).quantile(q)
    assert estimate is not None
    assert abs(estimate - exact) / exact < 0.02, (q, exact, estimate)


@pytest.mark.parametrize("q", [0.5, 0.9])
def test_tally_quantiles_of_sub_second_values_are_within_two_percent(q: float) -> None:
    values = [0.01 + 0.98 * i / 99_999 for i in range(100_000)]  # uniform on [0.01, 0.99]: latencies
    exact = exact_quantile(values, q)
    estimate = tally_of(values).quantile(q)
    assert estimate is not None
    assert abs(estimate - exact) / exact < 0.02, (q, exact, estimate)


def test_tally_memory_is_bounded_by_the_range_not_the_count() -> None:
    rng = random.Random(11)
    tally = Tally()
    for _ in range(100_000):
        tally.add(rng.uniform(1.0, 100.0))
    buckets = len(tally._buckets)  # the only state that could grow with the number of values
    # 50 buckets per e-fold over [1, 100] is about 231 buckets, whatever the count.
    assert buckets <= 50 * math.log(100.0) + 2
    for _ in range(100_000):
        tally.add(rng.uniform(1.0, 100.0))
    assert len(tally._buckets) <= buckets + 2
    assert tally.count == 200_000


def test_tally_summary_counts_max_and_mean() -> None:
    tally = tally_of([1.0, 2.0, 3.0, 10.0])
    summary = tally.summary()
    assert summary["count"] == 4.0
    assert summary["max"] == 10.0
    assert summary["mean"] == pytest.approx(4.0)
    assert summary["p99"] is not None and summary["p99"] <= 10.0


def test_one_sample_is_its_own_p50_and_p99() -> None:
    # issue 13 item 16: a bucket edge (0.3716) was reported for the one value 0.3737.
    summary = tally_of([0.3737]).summary()
    assert summary["p50"] == summary["p90"] == summary["p99"] == 0.3737


def test_small_samples_report_exact_nearest_rank_quantiles() -> None:
    values = [random.Random(8).lognormvariate(-1.0, 0.8) for _ in range(Tally.EXACT_LIMIT)]
    tally = tally_of(values)
    for q in (0.5, 0.9, 0.99, 1.0):
        assert tally.quantile(q) == exact_quantile(values, q)
    tally.add(1.0)  # one past the limit: the exact values are let go, memory stays bounded
    assert tally._exact is None
    estimate = tally.quantile(0.5)
    assert estimate is not None and abs(estimate - exact_quantile([*values, 1.0], 0.5)) / estimate < 0.02


def test_an_empty_tally_has_no_quantiles() -> None:
    summary = Tally().summary()
    assert summary["count"] == 0.0
    assert summary["p50"] is None and summary["p99"] is None and summary["max"] is None
    assert summary["mean"] is None


def test_a_tally_quantile_never_exceeds_the_maximum_seen() -> None:
    tally = tally_of([5.0] * 1000)
    assert tally.quantile(0.99) == 5.0


# ---- BucketCounter -------------------------------------------------------------------------------


def test_bucket_counter_counts_per_bucket_and_in_total() -> None:
    counter = BucketCounter(60.0)
    counter.add("checkout", 0.0)
    counter.add("checkout", 59.9)
    counter.add("checkout", 60.0)
    counter.add("checkout", 150.0, n=4)
    counter.add("shipped", 61.0)
    assert counter.series("checkout", 4) == (2.0, 1.0, 4.0, 0.0)
    assert counter.series("shipped", 2) == (0.0, 1.0)
    assert counter.totals == {"checkout": 7, "shipped": 1}


def test_bucket_counter_series_of_an_unknown_name_is_zeros() -> None:
    assert BucketCounter(60.0).series("nothing", 3) == (0.0, 0.0, 0.0)


# ---- TraceDigest ---------------------------------------------------------------------------------


def digest_of(events: Sequence[tuple[object, ...]]) -> TraceDigest:
    digest = TraceDigest()
    for event in events:
        digest.record(*event)
    return digest


TRACE: list[tuple[object, ...]] = [
    ("0.500000", "checkout", "00000001", 202),
    ("1.250000", "status", "00000001", "stock_reserved"),
]


def test_the_same_trace_gives_the_same_digest() -> None:
    first, second = digest_of(TRACE), digest_of(list(TRACE))
    assert first.hexdigest() == second.hexdigest()
    assert first.events == second.events == 2
    assert len(first.hexdigest()) == 16 and int(first.hexdigest(), 16) >= 0


@pytest.mark.parametrize(
    "other",
    [
        [TRACE[0], ("1.250000", "status", "00000001", "payment_authorized")],  # a different status
        [TRACE[0], ("1.250001", "status", "00000001", "stock_reserved")],  # a different time
        list(reversed(TRACE)),  # the same events in another order
        TRACE[:1],  # an event missing
    ],
    ids=["status", "time", "order", "missing"],
)
def test_a_different_trace_gives_a_different_digest(other: list[tuple[object, ...]]) -> None:
    assert digest_of(other).hexdigest() != digest_of(TRACE).hexdigest()


def test_the_digest_is_the_hash_of_the_lines_however_they_are_chunked() -> None:
    events = [(f"{i:.6f}", "reply", "erp", i % 7) for i in range(2 * TraceDigest._CHUNK + 5)]
    expected = hashlib.sha256("".join("|".join(map(str, e)) + "\n" for e in events).encode())
    digest = digest_of(events[:10])
    assert digest.hexdigest() == hashlib.sha256(
        "".join("|".join(map(str, e)) + "\n" for e in events[:10]).encode()
    ).hexdigest()[:16]
    for event in events[10:]:  # a digest read midway goes on hashing the same stream
        digest.record(*event)
    assert digest.hexdigest() == expected.hexdigest()[:16]
    assert digest.events == len(events)


def test_a_record_at_a_time_hashes_and_taps_the_line_a_formatted_record_does() -> None:
    times = [0.0, 0.5, 1 / 3, 86_400.1234567]
    formatted, timed = TraceDigest(), TraceDigest()
    tapped: list[str] = []
    timed.tap = tapped.append
    for at in times:
        formatted.record(f"{at:.6f}", "webhook", "wms", None)
        timed.record_at(at, "webhook", "wms", None)
    formatted.record(f"{times[-1]:.6f}")
    timed.record_at(times[-1])
    assert timed.hexdigest() == formatted.hexdigest()
    assert tapped[1] == "0.500000|webhook|wms|None" and tapped[-1] == "86400.123457"
    timed.record_at(2.0, "webhook")
    assert timed.hexdigest() != formatted.hexdigest()


# ---- workload arrivals ---------------------------------------------------------------------------


def spec(shape: str, orders: int = 1000, **extra: object) -> WorkloadSpec:
    return WorkloadSpec(
        orders=orders, shape=shape, duration=14_400.0, spike_start=3600.0, spike_duration=1200.0, **extra
    )


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_arrivals_fall_inside_the_window_in_time_order_and_near_the_target(shape: str, seed: int) -> None:
    workload = spec(shape)
    times = list(arrival_times(workload, random.Random(seed)))
    assert all(0.0 <= t <= workload.duration for t in times)
    assert times == sorted(times)
    assert 0.9 * workload.orders <= len(times) <= workload.orders


@pytest.mark.parametrize("shape", SHAPES)
def test_arrivals_are_exactly_the_orders_asked_for(shape: str) -> None:
    workload = spec(shape)
    counts = {seed: len(list(arrival_times(workload, random.Random(seed)))) for seed in range(10)}
    assert set(counts.values()) == {workload.orders}, counts


def test_the_flash_sale_spike_is_about_spike_factor_times_denser() -> None:
    workload = spec("flash_sale", orders=20_000, spike_factor=30.0)
    times = list(arrival_times(workload, random.Random(5)))
    start, end = workload.spike_start, workload.spike_start + workload.spike_duration
    in_spike = sum(1 for t in times if start <= t < end)
    spike_density = in_spike / workload.spike_duration
    base_density = (len(times) - in_spike) / (workload.duration - workload.spike_duration)
    assert 20.0 < spike_density / base_density < 40.0


def test_a_ramp_ends_busier_than_it_starts() -> None:
    workload = spec("ramp", orders=20_000)
    times = list(arrival_times(workload, random.Random(5)))
    quarter = workload.duration / 4
    first = sum(1 for t in times if t < quarter)
    last = sum(1 for t in times if t >= 3 * quarter)
    assert 1.3 < last / first < 2.1  # the rate rises linearly to twice the start: about 1.7


@pytest.mark.parametrize("shape", SHAPES)
def test_the_same_seed_gives_the_same_arrivals_and_another_seed_others(shape: str) -> None:
    workload = spec(shape, orders=300)
    first = list(arrival_times(workload, random.Random(9)))
    assert first == list(arrival_times(workload, random.Random(9)))
    assert first != list(arrival_times(workload, random.Random(10)))


# ---- Streams -------------------------------------------------------------------------------------


def draws(rng: random.Random, n: int = 5) -> list[float]:
    return [rng.random() for _ in range(n)]


def test_the_same_seed_and_name_give_the_same_sequence() -> None:
    assert draws(Streams(42)("arrivals")) == draws(Streams(42)("arrivals"))


def test_a_stream_does_not_depend_on_which_streams_were_created_or_used_before() -> None:
    plain = Streams(42)
    expected = draws(plain("arrivals"))
    busy = Streams(42)
    draws(busy("carts"), 100)
    draws(busy("payment"), 7)
    assert draws(busy("arrivals")) == expected


def test_streams_differ_by_name_and_by_seed() -> None:
    assert draws(Streams(42)("arrivals")) != draws(Streams(42)("carts"))
    assert draws(Streams(42)("arrivals")) != draws(Streams(43)("arrivals"))


def test_asking_twice_for_a_stream_continues_it_rather_than_restarting_it() -> None:
    streams = Streams(42)
    first = draws(streams("arrivals"), 3)
    second = draws(streams("arrivals"), 3)
    assert first + second == draws(Streams(42)("arrivals"), 6)
