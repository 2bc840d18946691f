"""The two-heap running median: a max-heap of the lower half and a min-heap of the upper half.

Pure data structure; it knows nothing of sessions or gRPC. Batches are added with the loops kept
inside heapq's C code: the batch is split against the current boundary between the halves, each
part is pushed (or merged and re-heapified when it is large next to its heap), and surplus tops are
moved across so that the halves differ in size by at most one.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from functools import partial
from heapq import heapify, heappop, heappush, heappushpop

SMALL_BATCH = 8  # up to this many numbers, one heappushpop per number beats splitting the batch


class MedianFinder:
    """Holds numbers and answers their exact median in O(1).

    Invariants: every number in the lower half is <= every number in the upper half, and
    ``len(lower) - len(upper)`` is 0 or 1. The lower half is stored negated, so that heapq's
    min-heap serves as a max-heap; negation is exact for every double, -0.0 included.
    """

    __slots__ = ("_lower", "_upper")

    def __init__(self) -> None:
        self._lower: list[float] = []  # negated: -_lower[0] is the largest number of the lower half
        self._upper: list[float] = []  # _upper[0] is the smallest number of the upper half

    def __len__(self) -> int:
        return len(self._lower) + len(self._upper)

    def add(self, number: float) -> None:
        """Adds one number in O(log n): it enters the half that is shorter, by way of the other."""
        lower, upper = self._lower, self._upper
        if len(lower) == len(upper):
            heappush(lower, -heappushpop(upper, number))
        else:
            heappush(upper, -heappushpop(lower, -number))

    def add_many(self, numbers: Sequence[float]) -> None:
        """Adds a batch of numbers in O(k log n), or O(n + k) when the batch is large."""
        if len(numbers) <= SMALL_BATCH:
            for number in numbers:
                self.add(number)
            return
        lower, upper = self._lower, self._upper
        if not lower:
            # Empty: sort the batch once; a sorted list is already a valid heap.
            ordered = sorted(numbers)
            half = (len(ordered) + 1) // 2
            lower[:] = [-x for x in reversed(ordered[:half])]
            upper[:] = ordered[half:]
            return
        boundary = -lower[0]
        _push_all(lower, [-x for x in numbers if x <= boundary])
        _push_all(upper, [x for x in numbers if x > boundary])
        self._rebalance()

    def median(self) -> float | None:
        """The median, or None when empty: the middle number, or the mean of the middle two."""
        lower, upper = self._lower, self._upper
        if len(lower) > len(upper):
            return -lower[0]
        if not lower:
            return None
        return midpoint(-lower[0], upper[0])

    def _rebalance(self) -> None:
        lower, upper = self._lower, self._upper
        surplus = len(lower) - (len(lower) + len(upper) + 1) // 2
        if surplus > 0:
            _push_all(upper, [-x for x in _pop_smallest(lower, surplus)])
        elif surplus < 0:
            _push_all(lower, [-x for x in _pop_smallest(upper, -surplus)])


def midpoint(a: float, b: float) -> float:
    """The mean of two finite doubles, rounded once and never overflowing.

    ``a + b`` rounds once and halving it is exact unless the sum overflowed; the sum of two
    doubles whose result is in the subnormal range is exact, so that case is covered too. Only
    when the sum overflows are both halves taken first, which is exact for numbers that large.
    """
    total = a + b
    if math.isinf(total):
        return a / 2 + b / 2
    return total / 2


def _push_all(heap: list[float], items: list[float]) -> None:
    """Pushes items onto a heap: one C-level push loop, or extend + heapify for big batches."""
    if len(items) > len(heap) // 4:
        heap.extend(items)
        heapify(heap)
    else:
        deque(map(partial(heappush, heap), items), maxlen=0)


def _pop_smallest(heap: list[float], count: int) -> list[float]:
    """Removes and returns the ``count`` smallest items of a heap."""
    if count > len(heap) // 8:
        heap.sort()  # a sorted list is a valid heap, and so is its tail
        taken = heap[:count]
        del heap[:count]
        return taken
    return [heappop(heap) for _ in range(count)]
