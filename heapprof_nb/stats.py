"""Stats mode results: the exact size histogram and the rate it recommends."""

from __future__ import annotations

from dataclasses import dataclass

from ._units import format_bytes
from .sampling import sample_probability

__all__ = ["SizeHistogram"]


@dataclass(frozen=True, slots=True)
class SizeHistogram:
    """Allocation counts and bytes per power-of-two size bucket, as heapprof printed them.

    ``counts[k]`` and ``bytes[k]`` are for sizes in ``bucket_range(k)``: bucket 0 is size 0,
    bucket 1 is size 1, and bucket k >= 2 holds sizes ``2**(k-2)+1 .. 2**(k-1)``.
    ``seconds`` is how long stats mode ran.
    """

    counts: tuple[int, ...]
    bytes: tuple[int, ...]
    seconds: float

    @staticmethod
    def bucket_range(k: int) -> tuple[int, int]:
        """The smallest and largest size in bucket ``k``."""
        if k <= 1:
            return (k, k)
        return (2 ** (k - 2) + 1, 2 ** (k - 1))

    @property
    def total_count(self) -> int:
        return sum(self.counts)

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes)

    @property
    def allocations_per_second(self) -> float:
        return self.total_count / self.seconds if self.seconds > 0 else 0.0

    @property
    def bytes_per_second(self) -> float:
        return self.total_bytes / self.seconds if self.seconds > 0 else 0.0

    def rows(self) -> list[tuple[int, int, int, int]]:
        """``(low, high, count, bytes)`` for every non-empty bucket, smallest first."""
        return [
            (*self.bucket_range(k), c, b)
            for k, (c, b) in enumerate(zip(self.counts, self.bytes))
            if c
        ]

    def __str__(self) -> str:
        lines = ["-" * 43, "HEAP USAGE SUMMARY", f"{'Size':>19} {'Count':>8} {'Bytes':>10}"]
        for low, high, count, size in self.rows():
            lines.append(f"{f'{low} - {high}':>19} {count:>8} {size:>10}")
        lines.append(
            f"{'TOTAL':>19} {self.total_count:>8} {self.total_bytes:>10}"
        )
        lines.append(
            f"{self.seconds:.3f} s, {self.allocations_per_second:,.0f} allocations/s, "
            f"{format_bytes(self.bytes_per_second)}/s"
        )
        lines.append("-" * 43)
        return "\n".join(lines)

    def expected_samples(self, rate: int) -> float:
        """How many samples byte sampling at ``rate`` would take of these allocations."""
        total = 0.0
        for k, count in enumerate(self.counts):
            if not count:
                continue
            mean = self.bytes[k] / count
            total += count * sample_probability(mean, rate) if mean > 0 else 0.0
        return total
