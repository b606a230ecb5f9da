"""The sampling maths in one place (``docs/sampling.md`` derives it; the engine's
``native/hp_sampler.h`` draws the gaps).

Byte sampling at rate ``R``: each thread counts down an exponential gap of mean ``R`` bytes, so
an allocation of ``s`` bytes is sampled with probability ``p = 1 - exp(-s/R)`` (computed as
``-expm1(-s/R)``, which keeps small sizes precise). A sample then stands for ``1/p`` objects and
``s/p`` bytes: every estimate is a sum of such weights, unbiased. One sample's contribution to
the variance of a byte estimate is ``w * (w - s)`` for its weight ``w = s/p`` (what the digest
sums per stack); the one-sigma error of an estimate is the square root of its variance, which
for ``B`` bytes of objects much smaller than ``R`` is about ``sqrt(R * B)``, a relative error of
``sqrt(R / B)``. ``R = 1`` records every allocation: ``p = 1``, no error.
"""

from __future__ import annotations

import math

__all__ = [
    "sample_probability",
    "sample_weights",
    "sample_variance",
    "standard_error",
]


def sample_probability(size: float, rate: float) -> float:
    """Probability that byte sampling at ``rate`` samples an allocation of ``size`` bytes."""
    if rate == 1:
        return 1.0
    return -math.expm1(-size / rate)


def sample_weights(size: float, probability: float) -> tuple[float, float]:
    """``(bytes, objects)`` one sample of ``size`` bytes taken with ``probability`` stands for."""
    return size / probability, 1.0 / probability


def sample_variance(size: float, probability: float) -> float:
    """Variance (bytes squared) one allocation of ``size`` bytes adds to a byte estimate:
    ``s**2 * (1 - p) / p``, the expectation of ``w * (w - s)`` over whether it is sampled."""
    return size * size * (1.0 - probability) / probability


def standard_error(variance: float) -> float:
    """One-sigma error from a variance (negative rounding residue counts as none)."""
    return math.sqrt(max(0.0, variance))
