"""Which sampling rate to use: predicted overhead and error from a stats-mode size histogram.

Pure functions over :class:`~heapprof_nb.stats.SizeHistogram`; ``%heapprof_stats`` shows the
result and ``%%heapprof --rate auto`` uses it.

The model, per second of the measured run:

- samples per second at rate ``R``: ``S(R) = expected_samples(R) / seconds`` (an allocation of
  mean size ``s`` is sampled with probability ``1 - exp(-s/R)``);
- overhead: ``S(R) * COST_PER_SAMPLE / (A * COST_PER_ALLOCATION + baseline)`` where ``A`` is
  allocations per second and ``baseline`` is the program's other work, in seconds per second;
  from a measurement ``baseline = max(0, 1 - A * COST_PER_ALLOCATION)``, so the denominator is
  the measured second unless the allocation work alone would take longer (then it is that);
- error: the estimator's variance is ``sum over allocations of s**2 (1 - p) / p``; a peak of
  ``B`` bytes made of the same mix has relative one-sigma error
  ``sqrt(variance * B / total) / B``, which is ``sqrt(R / B)`` for objects much smaller than ``R``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from ._units import format_bytes
from .sampling import sample_probability, sample_variance, standard_error
from .stats import SizeHistogram

__all__ = [
    "COST_PER_SAMPLE",
    "COST_PER_ALLOCATION",
    "DEFAULT_BUDGET",
    "CANDIDATE_RATES",
    "Recommendation",
    "baseline",
    "samples_per_second",
    "predicted_overhead",
    "predicted_variance",
    "predicted_error",
    "parse_budget",
    "recommend",
]

# Cost constants of the overhead model, in seconds. Starting numbers: the [bench] issue
# measures them on the engine (benchmarks/) and replaces them here, in this one place.
#: Time the sampler spends on one sampled allocation (frame walk, interning, log record).
COST_PER_SAMPLE = 2e-6
#: Python work that goes with one allocation in an allocation-bound program.
COST_PER_ALLOCATION = 60e-9

#: Default overhead budget (a fraction: 0.03 is 3%).
DEFAULT_BUDGET = 0.03


def parse_budget(text: str | None) -> float:
    """``--budget`` text as a fraction: ``3%`` and ``0.03`` are 0.03, a bare ``5`` is 5%;
    None is the default. Raises ValueError with a message for the user."""
    if text is None:
        return DEFAULT_BUDGET
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(f"--budget {text!r} is not a percentage: write e.g. 3% or 0.03") from None
    if not raw.endswith("%") and value >= 1:
        value /= 100  # "--budget 5" means 5%
    if not 0 < value < 10 or value != value:
        raise ValueError(f"--budget {text!r} must be above 0%, e.g. 3%")
    return value


#: Rates the recommendation chooses from: 1 (every allocation) and powers of two from 16 B.
CANDIDATE_RATES: tuple[int, ...] = (1,) + tuple(2**k for k in range(4, 41))


def baseline(hist: SizeHistogram, cost_per_allocation: float = COST_PER_ALLOCATION) -> float:
    """The program's work other than its allocations, in seconds per second of the run.

    0 when the run's duration is unknown (then the model treats the program as allocation-bound,
    the worst case for overhead).
    """
    if hist.seconds <= 0:
        return 0.0
    return max(0.0, 1.0 - hist.allocations_per_second * cost_per_allocation)


def samples_per_second(hist: SizeHistogram, rate: int) -> float:
    """Expected samples per second of the run at ``rate`` (all samples when ``seconds`` is 0)."""
    _check_rate(rate)
    n = float(hist.total_count) if rate == 1 else hist.expected_samples(rate)
    return n / hist.seconds if hist.seconds > 0 else n


def predicted_overhead(
    hist: SizeHistogram,
    rate: int,
    *,
    cost_per_sample: float = COST_PER_SAMPLE,
    cost_per_allocation: float = COST_PER_ALLOCATION,
) -> float:
    """Predicted slowdown at ``rate`` as a fraction (0.02 is 2% slower)."""
    if hist.total_count == 0:
        return 0.0
    if hist.seconds > 0:
        work = hist.allocations_per_second * cost_per_allocation + baseline(hist, cost_per_allocation)
    else:  # per allocation instead of per second: the allocation-bound worst case
        work = hist.total_count * cost_per_allocation
    return samples_per_second(hist, rate) * cost_per_sample / work


def predicted_variance(hist: SizeHistogram, rate: int) -> float:
    """Variance (bytes squared) of the estimate of all of the histogram's bytes at ``rate``."""
    _check_rate(rate)
    if rate == 1:
        return 0.0
    total = 0.0
    for count, nbytes in zip(hist.counts, hist.bytes):
        if count <= 0 or nbytes <= 0:
            continue
        mean = nbytes / count
        total += count * sample_variance(mean, sample_probability(mean, rate))
    return total


def predicted_error(hist: SizeHistogram, rate: int, peak_bytes: float | None = None) -> float:
    """Relative one-sigma error of a peak of ``peak_bytes`` made of this allocation mix.

    ``peak_bytes`` defaults to all the bytes allocated (the smallest error a peak can have).
    For small objects this is ``sqrt(rate / peak_bytes)``.
    """
    total = hist.total_bytes
    if total <= 0:
        return 0.0
    peak = float(total) if peak_bytes is None or peak_bytes <= 0 else float(peak_bytes)
    # A peak of ``peak`` bytes of the same mix holds ``peak/total`` of each bucket.
    return standard_error(predicted_variance(hist, rate) * peak / total) / peak


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The rate to use and why.

    ``rate`` is the mean bytes between samples; ``overhead`` the predicted slowdown (fraction);
    ``error`` the predicted relative one-sigma error of a peak of ``peak_bytes``;
    ``samples_per_second`` at that rate; ``within_budget`` False when even the coarsest
    candidate rate exceeds the budget; ``reason`` is one sentence saying all that.
    """

    rate: int
    budget: float
    overhead: float
    error: float
    peak_bytes: float
    samples_per_second: float
    within_budget: bool
    reason: str

    @property
    def rate_text(self) -> str:
        """The rate as ``%%heapprof --rate`` accepts it (``64KiB``)."""
        return rate_text(self.rate)


def rate_text(rate: int) -> str:
    """``64KiB``-style text for a power-of-two rate (plain bytes otherwise)."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if rate >= size and rate % size == 0:
            return f"{rate // size}{unit}"
    return str(rate)


def recommend(
    hist: SizeHistogram,
    budget: float = DEFAULT_BUDGET,
    *,
    peak_bytes: float | None = None,
    cost_per_sample: float = COST_PER_SAMPLE,
    cost_per_allocation: float = COST_PER_ALLOCATION,
    candidates: Sequence[int] = CANDIDATE_RATES,
) -> Recommendation:
    """The finest candidate rate whose predicted overhead stays within ``budget``.

    Finer rates give smaller errors, so the finest rate under the budget is the best one. When
    no candidate fits, the coarsest is returned with ``within_budget=False``.
    """
    if isinstance(budget, bool) or not isinstance(budget, (int, float)):
        raise TypeError(f"budget must be a number, not {type(budget).__name__}")
    if not (0.0 < budget < 10.0) or not math.isfinite(budget):
        raise ValueError(f"budget must be a fraction in (0, 10), e.g. 0.03 for 3%, got {budget!r}")
    if not candidates:
        raise ValueError("candidates must not be empty")
    ordered = sorted(set(candidates))
    for r in ordered:
        _check_rate(r)

    def overhead(r: int) -> float:
        return predicted_overhead(
            hist, r, cost_per_sample=cost_per_sample, cost_per_allocation=cost_per_allocation
        )

    chosen, fits = ordered[-1], False
    for r in ordered:
        if overhead(r) <= budget:
            chosen, fits = r, True
            break
    peak = float(hist.total_bytes) if peak_bytes is None or peak_bytes <= 0 else float(peak_bytes)
    ovh = overhead(chosen)
    err = predicted_error(hist, chosen, peak)
    sps = samples_per_second(hist, chosen)
    return Recommendation(
        rate=chosen,
        budget=float(budget),
        overhead=ovh,
        error=err,
        peak_bytes=peak,
        samples_per_second=sps,
        within_budget=fits,
        reason=_reason(hist, chosen, budget, ovh, err, peak, sps, fits),
    )


def _reason(
    hist: SizeHistogram,
    rate: int,
    budget: float,
    overhead: float,
    error: float,
    peak: float,
    sps: float,
    fits: bool,
) -> str:
    if hist.total_count == 0:
        return (
            "No allocations were seen, so any rate costs nothing; "
            "rate 1 records every allocation exactly."
        )
    per = "per second" if hist.seconds > 0 else "in the run"
    cost = (
        f"{_rate_words(rate)} takes about {_count(sps)} samples {per} out of "
        f"{_count(hist.allocations_per_second if hist.seconds > 0 else hist.total_count)} "
        f"allocations, a predicted overhead of {_pct(overhead)}"
    )
    if not fits:
        cost += f", still above the {_pct(budget)} budget at the coarsest rate"
    elif rate == 1:
        cost += f" within the {_pct(budget)} budget even with every allocation recorded"
    else:
        cost += f", the finest rate within the {_pct(budget)} budget"
    if rate == 1:
        accuracy = "and the estimate is exact"
    else:
        accuracy = (
            f"and it estimates a peak of {format_bytes(peak)} of this allocation mix "
            f"to ±{_pct(error)} (one sigma)"
        )
    return f"{cost}, {accuracy}."


def _rate_words(rate: int) -> str:
    return "Rate 1 (every allocation)" if rate == 1 else f"Sampling every {rate_text(rate)}"


def _pct(x: float) -> str:
    """A fraction as a percentage with two significant digits (``3%``, ``0.15%``)."""
    if x == 0:
        return "0%"
    return f"{x * 100:.2g}%" if x < 0.1 else f"{x * 100:.0f}%"


def _count(x: float) -> str:
    return f"{x:,.0f}" if x >= 10 else f"{x:.2g}"


def _check_rate(rate: int) -> None:
    if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
        raise ValueError(f"rate must be a positive int, got {rate!r}")
