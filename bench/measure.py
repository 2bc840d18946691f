"""Small helpers every measurement shares: budgets, test data, percentiles, server CPU time.

A `Budget` bounds a loop twice, by count and by time, so that no measurement can run away on a
slow or busy machine: the rate is then computed over what was actually done.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from bench.servers import ServerProcess


@dataclass(frozen=True)
class Budget:
    """At most `count` items (numbers, calls, rounds) and at most `seconds` of wall time."""

    count: int
    seconds: float

    def scaled(self, factor: float) -> Budget:
        return Budget(max(1, int(self.count * factor)), self.seconds * factor)


@dataclass
class Deadline:
    """A point in time after which a loop stops taking more work."""

    seconds: float
    start: float = field(default_factory=time.perf_counter)

    def passed(self) -> bool:
        return time.perf_counter() - self.start > self.seconds


def random_numbers(count: int, seed: int) -> list[float]:
    """Uniform doubles in [0, 1), the same for the same seed."""
    rng = random.Random(seed)
    return [rng.random() for _ in range(count)]


def batches(numbers: Sequence[float], size: int) -> list[list[float]]:
    """The numbers cut into lists of `size` (the last may be shorter)."""
    return [list(numbers[i : i + size]) for i in range(0, len(numbers), size)]


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (fraction 0.5 is the median)."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class LatencySummary:
    """How many calls, how fast, and how long they took, in milliseconds."""

    calls: int
    per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float

    @staticmethod
    def of(latencies_ns: list[int], elapsed: float) -> LatencySummary:
        ordered = sorted(latencies_ns)
        return LatencySummary(
            calls=len(ordered),
            per_second=len(ordered) / elapsed,
            p50_ms=percentile(ordered, 0.50) / 1e6,
            p99_ms=percentile(ordered, 0.99) / 1e6,
            max_ms=ordered[-1] / 1e6,
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "per_second": self.per_second,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "calls": self.calls,
        }


@dataclass
class ServerCpu:
    """CPU seconds a server process spent during a `with` block."""

    seconds: float = 0.0


@contextmanager
def server_cpu(server: ServerProcess | None) -> Iterator[ServerCpu]:
    spent = ServerCpu()
    before = server.cpu_seconds() if server else 0.0
    yield spent
    spent.seconds = server.cpu_seconds() - before if server else 0.0
