"""The two-heap running median: a max-heap of the lower half and a min-heap of the upper half.

Pure data structure; it knows nothing of sessions or gRPC. Batches are added with the loops kept
inside C: list comprehensions and heapq.

Only the numbers near the median need to be ordered, so once a session is large the heaps hold a
*window* of numbers around the median, ``[bottom, top]``, and every number outside it waits in a
*reserve*, unsorted and untouched, in the chunks it arrived in. A batch then costs two passes:
one picks out the numbers inside the window (they are split against the median and pushed, as
usual), one counts those below it; the batch itself is filed in the reserve as it came, the
numbers inside the window included. Each chunk of the reserve remembers the window it was filed
under (``claimed``): its numbers inside that range are accounted for elsewhere (in a heap, or
filed again by a later spill), and only those outside it are *pending*.

When a heap runs dry (the median has moved past the window's edge), it is refilled with the next
numbers in order from the reserve, and the reserve is compacted; when a heap grows too large, its
far end is spilled back into the reserve. Both are rare on random input and cost time linear in
what they touch; on sorted input a refill sorts an already sorted reserve, which is linear too.
"""

from __future__ import annotations

import gc
import math
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterable, Sequence
from functools import partial
from heapq import heapify, heappop, heappush, heappushpop
from typing import NamedTuple

SMALL_BATCH = 8  # up to this many numbers, one heappushpop per number beats splitting the batch
MIN_WINDOW = 2048  # heaps smaller than 4x this are never spilled; refills take at least this many
OPEN_CHUNK = 65_536  # numbers filed in the open chunk before it is sealed
_INF = math.inf


class _Chunk(NamedTuple):
    """Numbers filed in the reserve: those below ``low`` or above ``high`` are pending.

    A *whole* chunk holds pending numbers of one side only, every one of them: below ``low``
    (``high`` is +inf) or above ``high`` (``low`` is -inf). Any other chunk is a sealed open chunk,
    whose numbers inside ``[low, high]`` went to the heaps.
    """

    numbers: tuple[float, ...]  # a tuple of floats, so the garbage collector soon stops tracking it
    low: float
    high: float
    whole: bool


class MedianFinder:
    """Holds numbers and answers their exact median in O(1).

    Invariants: every number of the lower half is <= every number of the upper half, and the
    halves differ in size by 0 or 1 (the lower one may be larger). The lower half is its heap
    (stored negated, so that heapq's min-heap serves as a max-heap; negation is exact for every
    double, -0.0 included) plus ``_below`` pending numbers, all < ``_bottom`` <= the heap's
    numbers; the upper half is its heap plus ``_above`` pending numbers, all > ``_top`` >= the
    heap's numbers. A half that is not empty has a heap that is not empty, so both tops are
    always at hand. ``_bottom`` is -inf exactly when nothing is pending below, ``_top`` +inf
    exactly when nothing is pending above.
    """

    __slots__ = (
        "_above",
        "_below",
        "_bottom",
        "_chunks",
        "_lower",
        "_min_window",
        "_open",
        "_spill_at",
        "_top",
        "_upper",
    )

    def __init__(self, min_window: int = MIN_WINDOW) -> None:
        self._lower: list[float] = []  # negated: -_lower[0] is the largest number of the lower half
        self._upper: list[float] = []  # _upper[0] is the smallest number of the upper half
        self._bottom = -_INF
        self._top = _INF
        self._below = 0  # pending numbers < _bottom, part of the lower half
        self._above = 0  # pending numbers > _top, part of the upper half
        self._chunks: list[_Chunk] = []  # the sealed reserve
        self._open: list[float] = []  # the open chunk: filed under the current window
        self._min_window = max(1, min_window)
        self._spill_at = 4 * self._min_window  # heaps together larger than this are cut down

    def __len__(self) -> int:
        return len(self._lower) + len(self._upper) + self._below + self._above

    def median(self) -> float | None:
        """The median, or None when empty: the middle number, or the mean of the middle two."""
        lower, upper = self._lower, self._upper
        if len(lower) + self._below > len(upper) + self._above:
            return -lower[0]
        if not lower:
            return None
        return midpoint(-lower[0], upper[0])

    def add(self, number: float) -> None:
        """Adds one number in O(log w): it enters the half that is shorter, by way of the other."""
        lower, upper = self._lower, self._upper
        balanced = len(lower) + self._below == len(upper) + self._above
        if number < self._bottom:
            self._file((number,))
            self._below += 1
            if not balanced:  # the lower half is two ahead: its largest number moves up
                heappush(upper, -heappop(lower))
                if not lower:
                    self._refill_lower()
        elif number > self._top:
            self._file((number,))
            self._above += 1
            if balanced:  # the upper half is one ahead: its smallest number moves down
                heappush(lower, -heappop(upper))
                if not upper:
                    self._refill_upper()
        else:
            if balanced:
                heappush(lower, -heappushpop(upper, number))
            else:
                heappush(upper, -heappushpop(lower, -number))
            if len(lower) + len(upper) > self._spill_at:
                self._spill()

    def add_many(self, numbers: Sequence[float]) -> None:
        """Adds a batch of numbers in O(k log w) for a window of w numbers, or O(n + k) at worst."""
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
            self._spill()
            return
        bottom, top = self._bottom, self._top
        if bottom != -_INF or top != _INF:
            near = [x for x in numbers if x <= top if x >= bottom]
            if len(near) < len(numbers):
                below = len([1 for x in numbers if x < bottom]) if bottom != -_INF else 0
                self._below += below
                self._above += len(numbers) - len(near) - below
                self._file(numbers)  # those inside the window are claimed by the heaps
                numbers = near
        boundary = -lower[0]
        _push_all(lower, [-x for x in numbers if x <= boundary])
        _push_all(upper, [x for x in numbers if x > boundary])
        surplus = len(lower) + self._below - (len(self) + 1) // 2
        if surplus:
            self._move(abs(surplus), up=surplus > 0)
        if len(lower) + len(upper) > self._spill_at:
            self._spill()

    # Moving numbers across the middle.

    def _move(self, count: int, up: bool) -> None:
        """Moves the ``count`` numbers nearest the middle from one half to the other.

        Up: the largest numbers of the lower half; down: the smallest of the upper half. Popping
        them off one heap (refilled from the reserve if it runs dry) and pushing them negated
        onto the other keeps both heaps' orders, since the lower heap holds negated numbers.
        """
        source, target = (self._lower, self._upper) if up else (self._upper, self._lower)
        refill = self._refill_lower if up else self._refill_upper
        moved = []
        while count:
            taken = _pop_smallest(source, count)
            moved += taken
            count -= len(taken)
            if not source and (self._below if up else self._above):
                refill()
        _push_all(target, [-x for x in moved])

    # The window: spilling a heap's far end into the reserve, refilling a heap from it.

    def _window_size(self) -> int:
        """How many numbers a half's heap keeps after a spill, and at least takes in a refill."""
        return max(self._min_window, len(self) // 32)

    def _spill(self) -> None:
        """Cuts each heap larger than the window size down to it, filing its far end as pending."""
        keep = self._window_size()
        if len(self._upper) > 2 * keep:
            cut, spilled = _split_heap(self._upper, keep)
            if spilled:
                self._seal()
                self._chunks.append(_chunk(spilled, -_INF, cut, whole=True))
                self._top = cut
                self._above += len(spilled)
        if len(self._lower) > 2 * keep:
            cut, spilled = _split_heap(self._lower, keep)
            if spilled:
                self._seal()
                self._chunks.append(_chunk([-x for x in spilled], -cut, _INF, whole=True))
                self._bottom = -cut
                self._below += len(spilled)
        self._spill_later()

    def _spill_later(self) -> None:
        """Next time when the heaps hold an eighth of all numbers, or twice what they hold now.

        Twice what they hold now, if that is more: a heap just refilled is not cut down again at
        once, and heaps of one repeated number (which no cut can split) are tried ever less often.
        """
        heaps = len(self._lower) + len(self._upper)
        self._spill_at = max(4 * self._min_window, len(self) // 8, 2 * heaps)

    def _refill_upper(self) -> None:
        """Moves the smallest pending numbers above the window into the empty upper heap."""
        above = self._gather(upper=True)
        above.sort()
        take = max(self._window_size(), len(above) // 4)
        end = bisect_right(above, above[take - 1]) if take < len(above) else len(above)
        self._upper[:] = above[:end]  # sorted, so a valid heap; every copy of the edge comes along
        if end < len(above):
            top = above[end - 1]
            self._chunks.append(_chunk(above[end:], -_INF, top, whole=True))
            self._top, self._above = top, len(above) - end
        else:
            self._top, self._above = _INF, 0
        self._spill_later()

    def _refill_lower(self) -> None:
        """Moves the largest pending numbers below the window into the empty lower heap."""
        below = self._gather(upper=False)
        below.sort()
        take = max(self._window_size(), len(below) // 4)
        start = bisect_left(below, below[-take]) if take < len(below) else 0
        self._lower[:] = [-x for x in reversed(below[start:])]  # ascending once negated: a heap
        if start:
            bottom = below[start]
            self._chunks.append(_chunk(below[:start], bottom, _INF, whole=True))
            self._bottom, self._below = bottom, start
        else:
            self._bottom, self._below = -_INF, 0
        self._spill_later()

    def _gather(self, upper: bool) -> list[float]:
        """Takes every pending number of one side out of the reserve, in no particular order.

        Chunks wholly of the other side stay as they are; the other side's parts of the mixed
        chunks are filed again together, as one chunk of that side.
        """
        self._seal()
        gathered: list[float] = []
        others: list[float] = []
        kept: list[_Chunk] = []
        for chunk in self._chunks:
            numbers, low, high, whole = chunk
            if whole:
                if (high != _INF) == upper:
                    gathered += numbers
                else:
                    kept.append(chunk)
                continue
            if high != _INF and min(numbers) > high:
                above, below = list(numbers), []
            else:
                above = [x for x in numbers if x > high] if high != _INF else []
                below = [x for x in numbers if x < low] if low != -_INF else []
            gathered += above if upper else below
            others += below if upper else above
        if others:  # all pending, so all past the current window's edge on their side
            kept.append(
                _chunk(others, self._bottom, _INF, whole=True)
                if upper
                else _chunk(others, -_INF, self._top, whole=True)
            )
        self._chunks[:] = kept
        return gathered

    def _file(self, numbers: Sequence[float]) -> None:
        """Files numbers in the open chunk, under the current window."""
        self._open += numbers
        if len(self._open) >= OPEN_CHUNK:
            self._seal()

    def _seal(self) -> None:
        """Closes the open chunk: the window it was filed under is about to change."""
        if self._open:
            self._chunks.append(_chunk(self._open, self._bottom, self._top, whole=False))
            self._open.clear()


def _chunk(numbers: Iterable[float], low: float, high: float, whole: bool) -> _Chunk:
    """A chunk for the reserve, its numbers already out of the garbage collector's way.

    A tuple of floats can hold no reference cycle, and the collector stops tracking such a
    tuple the first time it examines it in a young collection. Left to itself, that may be long
    after the tuple was made, and a full collection meanwhile would visit every number in it on
    the event loop's thread (over 100 ms at 10^7 numbers). So the young collection is made
    here, once per chunk: chunks are made once per 65,536 numbers filed, or when the window
    moves.
    """
    chunk = _Chunk(tuple(numbers), low, high, whole)
    gc.collect(0)
    return chunk


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
    """Removes and returns the ``count`` smallest items of a heap (fewer if it runs out)."""
    if count >= len(heap) // 8:
        heap.sort()  # a sorted list is a valid heap, and so is its tail
        taken = heap[:count]
        del heap[:count]
        return taken
    return [heappop(heap) for _ in range(count)]


def _split_heap(heap: list[float], keep: int) -> tuple[float, list[float]]:
    """Keeps about ``keep`` of a heap's smallest items in it; returns the cut and the rest.

    The cut is read off a sorted sample, so the split costs two passes and a heapify, not a
    sort. Every item <= the cut stays (so the heap's top does); the rest, all > cut, is returned.
    """
    step = max(1, len(heap) // 512)
    sample = sorted(heap[::step])
    cut = sample[min(len(sample) - 1, keep // step)]
    spilled = [x for x in heap if x > cut]
    if spilled:
        heap[:] = [x for x in heap if x <= cut]
        heapify(heap)
    return cut, spilled
