"""In process, no gRPC: numbers/s of MedianFinder's batch path against the classic addNum loop.

Both finders read the median after every batch, as a running median would. Each gets its
batches in the form its server hands them over: MedianFinder numpy float64 arrays (what the
wire reader makes of a request), the classic loop lists of floats (it works on Python floats
one at a time). Input comes in three orders: random, ascending and descending. The two are
measured in alternation, round after round, and each keeps its best round, so that a burst of
load from another process on this machine cannot favour one of them. Also here: a probe of the
session store's create rate at a given store size.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass

import numpy as np
from median_server.median_finder import MedianFinder
from median_server.sessions import Limits, SessionStore

from bench.baselines import ClassicMedianFinder
from bench.measure import Deadline, batches, random_numbers

ORDERS = ("random", "ascending", "descending")


@dataclass(frozen=True)
class InProcessRow:
    order: str
    batch: int
    numbers: int
    ours: float  # numbers/s
    classic: float

    def as_dict(self) -> dict[str, float | str]:
        return {
            "order": self.order,
            "batch": self.batch,
            "numbers": self.numbers,
            "ours": self.ours,
            "classic": self.classic,
            "ratio": self.ours / self.classic,
        }


def _ours(chunks: list[np.ndarray]) -> float:
    finder = MedianFinder()
    count = 0
    start = time.perf_counter()
    for chunk in chunks:
        finder.add_many(chunk)
        finder.median()
        count += len(chunk)
    return count / (time.perf_counter() - start)


def _classic(chunks: list[list[float]]) -> float:
    finder = ClassicMedianFinder()
    add_num = finder.add_num
    count = 0
    start = time.perf_counter()
    for chunk in chunks:
        for number in chunk:
            add_num(number)
        finder.find_median()
        count += len(chunk)
    return count / (time.perf_counter() - start)


def measure(
    batch_sizes: tuple[int, ...],
    sorted_batch_sizes: tuple[int, ...],
    numbers: int,
    rounds: int,
    seconds: float,
) -> list[InProcessRow]:
    """Best-of-`rounds` rates per order and batch size (random input: every size in
    `batch_sizes`; sorted input: those in `sorted_batch_sizes`); batch 1 uses a tenth of the
    numbers (it is slow)."""
    random_data = random_numbers(numbers, seed=1)
    data = {
        "random": random_data,
        "ascending": sorted(random_data),
        "descending": sorted(random_data, reverse=True),
    }
    rows = []
    for order in ORDERS:
        for size in batch_sizes if order == "random" else sorted_batch_sizes:
            count = numbers if size > 1 else max(1, numbers // 10)
            chunks = batches(data[order][:count], size)
            arrays = [np.array(chunk, dtype=np.float64) for chunk in chunks]
            best_ours = best_classic = 0.0
            deadline = Deadline(seconds)
            for round_index in range(rounds):
                if round_index and deadline.passed():
                    break
                gc.collect()
                best_ours = max(best_ours, _ours(arrays))
                gc.collect()
                best_classic = max(best_classic, _classic(chunks))
            rows.append(InProcessRow(order, size, count, best_ours, best_classic))
    return rows


def store_create_rate(sessions: int, session_ttl: float, probes: int) -> float:
    """SessionStore.create calls/s once the store already holds `sessions` sessions.

    The store is filled with the time-to-live off (fast), then the probe runs with the given
    time-to-live, so that the cost of create's idle-session scan shows at any store size.
    """
    store = SessionStore(Limits(max_sessions=sessions + probes, session_ttl=0))
    for _ in range(sessions):
        store.create(None)
    store.limits = Limits(max_sessions=sessions + probes, session_ttl=session_ttl)
    start = time.perf_counter()
    for _ in range(probes):
        store.create(None)
    return probes / (time.perf_counter() - start)
