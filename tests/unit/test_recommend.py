"""The rate recommendation model (heapprof_nb.recommend): pure, no extension needed."""

from __future__ import annotations

import math
import random

import pytest

from heapprof_nb import recommend as rec
from heapprof_nb.stats import SizeHistogram


def hist_of(sizes: list[int], seconds: float) -> SizeHistogram:
    """A histogram of the given allocation sizes, bucketed the way the engine does."""
    counts = [0] * 66
    nbytes = [0] * 66
    for s in sizes:
        k = s if s <= 1 else (s - 1).bit_length() + 1
        counts[k] += 1
        nbytes[k] += s
    return SizeHistogram(tuple(counts), tuple(nbytes), seconds)


SMALL = hist_of([32] * 1_000_000, 1.0)  # 1M allocations of 32 B in one second


def test_bucket_helper_matches_stats_ranges() -> None:
    h = hist_of([0, 1, 2, 3, 4, 5, 8, 9, 4096, 4097], 1.0)
    for low, high, count, size in h.rows():
        assert count >= 1 and low * count <= size <= high * count


def test_constants_in_one_place() -> None:
    assert rec.COST_PER_SAMPLE == 2e-6
    assert rec.COST_PER_ALLOCATION == 60e-9
    assert rec.DEFAULT_BUDGET == 0.03


def test_samples_per_second_follows_expected_samples() -> None:
    r = 64 * 1024
    assert rec.samples_per_second(SMALL, r) == pytest.approx(SMALL.expected_samples(r) / 1.0)
    # small objects: about B / R samples
    assert rec.samples_per_second(SMALL, r) == pytest.approx(32e6 / r, rel=1e-3)
    assert rec.samples_per_second(SMALL, 1) == 1_000_000


def test_overhead_formula() -> None:
    # allocation work = 1e6 * 60 ns = 0.06 s/s; baseline = 0.94; denominator 1.0
    r = 4096
    expected = SMALL.expected_samples(r) * 2e-6 / (1e6 * 60e-9 + 0.94)
    assert rec.baseline(SMALL) == pytest.approx(0.94)
    assert rec.predicted_overhead(SMALL, r) == pytest.approx(expected)


def test_overhead_allocation_bound_when_work_exceeds_the_second() -> None:
    # 50M allocations in one second: allocation work alone is 3 s/s, the baseline is 0
    h = SizeHistogram((0, 0, 0, 0, 0, 0, 50_000_000), (0, 0, 0, 0, 0, 0, 50_000_000 * 32), 1.0)
    assert rec.baseline(h) == 0.0
    r = 65536
    assert rec.predicted_overhead(h, r) == pytest.approx(h.expected_samples(r) * 2e-6 / 3.0)


def test_overhead_without_duration_is_per_allocation() -> None:
    h = SizeHistogram(SMALL.counts, SMALL.bytes, 0.0)
    r = 1024
    assert rec.predicted_overhead(h, r) == pytest.approx(
        h.expected_samples(r) * 2e-6 / (h.total_count * 60e-9)
    )


def test_overhead_decreases_with_rate() -> None:
    values = [rec.predicted_overhead(SMALL, r) for r in rec.CANDIDATE_RATES]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_error_of_small_objects_is_sqrt_r_over_b() -> None:
    r = 64 * 1024
    b = SMALL.total_bytes
    assert rec.predicted_error(SMALL, r) == pytest.approx(math.sqrt(r / b), rel=0.01)
    # a peak of a quarter of the bytes: twice the relative error
    assert rec.predicted_error(SMALL, r, b / 4) == pytest.approx(2 * math.sqrt(r / b), rel=0.01)


def test_error_zero_when_exact_or_objects_large() -> None:
    assert rec.predicted_error(SMALL, 1) == 0.0
    big = hist_of([64 << 20] * 4, 1.0)
    assert rec.predicted_error(big, 4096) < 1e-6


def test_error_matches_simulation() -> None:
    """The predicted error is what byte sampling actually gives (Monte Carlo, seeded)."""
    rng = random.Random(7)
    sizes = [rng.choice((24, 48, 200, 3000)) for _ in range(20000)]
    h = hist_of(sizes, 1.0)
    r = 4096
    estimates = []
    for _ in range(300):
        total = 0.0
        for s in sizes:
            p = -math.expm1(-s / r)
            if rng.random() < p:
                total += s / p
        estimates.append(total)
    mean = sum(estimates) / len(estimates)
    sd = math.sqrt(sum((e - mean) ** 2 for e in estimates) / (len(estimates) - 1))
    assert mean == pytest.approx(h.total_bytes, rel=0.02)
    # bucket means stand in for the sizes, so allow 15%
    assert sd / h.total_bytes == pytest.approx(rec.predicted_error(h, r), rel=0.15)


def test_recommend_picks_finest_rate_within_budget() -> None:
    r = rec.recommend(SMALL)
    assert r.within_budget
    assert r.overhead <= 0.03
    idx = rec.CANDIDATE_RATES.index(r.rate)
    assert rec.predicted_overhead(SMALL, rec.CANDIDATE_RATES[idx - 1]) > 0.03
    assert r.rate_text == "4KiB"
    assert r.samples_per_second == pytest.approx(rec.samples_per_second(SMALL, r.rate))
    assert r.error == pytest.approx(rec.predicted_error(SMALL, r.rate))
    assert r.peak_bytes == SMALL.total_bytes


def test_recommend_budget_changes_rate() -> None:
    loose = rec.recommend(SMALL, budget=0.5)
    tight = rec.recommend(SMALL, budget=0.001)
    assert loose.rate < tight.rate
    assert tight.overhead <= 0.001


def test_recommend_exact_when_few_allocations() -> None:
    h = hist_of([100] * 10, 1.0)
    r = rec.recommend(h)
    assert r.rate == 1 and r.error == 0.0 and r.within_budget
    assert "exact" in r.reason


def test_recommend_empty_histogram() -> None:
    r = rec.recommend(SizeHistogram((0,) * 4, (0,) * 4, 0.5))
    assert r.rate == 1 and r.overhead == 0.0
    assert "No allocations" in r.reason


def test_recommend_over_budget_returns_coarsest() -> None:
    # a million huge allocations per second: each is sampled at every rate
    h = SizeHistogram((0,) * 60 + (1_000_000,), (0,) * 60 + (1_000_000 * (1 << 58),), 1.0)
    r = rec.recommend(h, candidates=(1024, 65536))
    assert not r.within_budget and r.rate == 65536
    assert "above the 3% budget" in r.reason


def test_reason_is_one_sentence_with_the_numbers() -> None:
    r = rec.recommend(SMALL, peak_bytes=100 << 20)
    assert r.reason.count(". ") == 0 and r.reason.endswith(".")
    assert "4KiB" in r.reason and "3% budget" in r.reason
    assert "100.0 MiB" in r.reason and "±" in r.reason
    assert r.peak_bytes == 100 << 20


@pytest.mark.parametrize("budget", [0, -1, float("nan"), float("inf"), 10])
def test_bad_budget(budget: float) -> None:
    with pytest.raises(ValueError):
        rec.recommend(SMALL, budget)


def test_bad_budget_type() -> None:
    with pytest.raises(TypeError):
        rec.recommend(SMALL, "3%")  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", [0, -5, True, 1.5])
def test_bad_rate(rate: int) -> None:
    with pytest.raises(ValueError):
        rec.predicted_overhead(SMALL, rate)


def test_rate_text() -> None:
    assert rec.rate_text(65536) == "64KiB"
    assert rec.rate_text(1 << 20) == "1MiB"
    assert rec.rate_text(3 << 30) == "3GiB"
    assert rec.rate_text(16) == "16"
    assert rec.rate_text(1536) == "1536"
