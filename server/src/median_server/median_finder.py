"""The two-heap running median: a max-heap of the lower half and a min-heap of the upper half.

Pure data structure; it knows nothing of sessions or gRPC. Numbers come in as numpy float64
arrays (or any sequence of floats), and only those near the median ever become Python floats.

Once a session is large the heaps hold a *window* of numbers around the median, ``[bottom,
top]``, and every number outside it waits in a *reserve*, one per side: numpy float64 arrays,
8 bytes a number, which the garbage collector never visits. A batch then costs a few vectorised
passes: those below the window are filed in the lower reserve, those above it in the upper one,
and only those inside it are split against the median and pushed onto the heaps.

When a heap runs dry (the median has moved past the window's edge), it is refilled in bulk from
its side's reserve with ``numpy.partition``; when the heaps grow too large, each heap's far end
is spilled back into its reserve the same way. Both are rare on random input and cost time
linear in what they touch; on sorted input each refill takes a quarter of its side, so every
number is touched a constant number of times.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from functools import partial
from heapq import heapify, heappop, heappush, heappushpop
from typing import Any

import numpy as np
import numpy.typing as npt

Numbers = npt.NDArray[np.float64]

SMALL_BATCH = 8  # up to this many numbers, one heappushpop per number beats array passes
MIN_WINDOW = 512  # heaps smaller than 4x this are never spilled; refills take at least this many
WINDOW_FRACTION = 256  # a heap keeps 1/256 of all numbers after a spill (at least MIN_WINDOW)
SPILL_FRACTION = 64  # the heaps are cut down once they hold more than 1/64 of all numbers
SHIFT_MIN = 32  # a move of at least this many numbers may replace the receiving heap outright
SINGLES = 1024  # numbers added one at a time wait in a short list before they become an array
CHUNK = 65_536  # reserve arrays smaller than this are merged once they add up to this many
SAMPLE = 65_536  # numbers sampled to find the middle of a large first batch
_INF = math.inf
_EMPTY: Numbers = np.empty(0, dtype=np.float64)
# Selections use numpy.compress: on arrays fresh from the wire it is several times faster than
# boolean indexing (x[mask]) here, which mispredicts a branch per element.


class _Reserve:
    """One side's pending numbers as *keys* (see `_Side`): float64 arrays, 8 bytes a number.

    Most keys lie in a *pool*, unordered: arrays of at least CHUNK keys are kept as they are,
    smaller ones are merged once they add up to CHUNK (so the per-array overhead stays under
    1%), and keys filed one at a time wait in a short list (at most SINGLES). The keys nearest
    the middle may also wait in a sorted *run*, every one of them smaller than every key of the
    pool: a refill then takes the run's next keys with a slice, and a refill that finds no run
    sorts a quarter of the side into one, so that sorted input costs O(1) per number.
    """

    __slots__ = ("_chunks", "_run", "_singles", "_small", "_small_count", "count")

    def __init__(self) -> None:
        self._chunks: list[Numbers] = []
        self._small: list[Numbers] = []
        self._small_count = 0
        self._singles: list[float] = []
        self._run: Numbers = _EMPTY
        self.count = 0  # keys held, the run's included

    def file(self, keys: Numbers) -> None:
        """Files an array of keys; the reserve keeps it (a view is copied first)."""
        if not len(keys):
            return
        if len(self._run) and keys.min() <= self._run[-1]:
            self._dissolve_run()
        self.count += len(keys)
        self._pool(keys)

    def file_one(self, key: float) -> None:
        if len(self._run) and key <= self._run[-1]:
            self._dissolve_run()
        self.count += 1
        self._singles.append(key)
        if len(self._singles) >= SINGLES:
            self._flush_singles()

    def take_nearest(self, take: int) -> tuple[Numbers, float]:
        """Removes the ``take`` smallest keys, and every copy of the largest of them.

        Returns them sorted, and the largest (the *cut*): every key left is above it.
        """
        if not len(self._run):
            self._sort_run(take)
        run = self._run
        cut = run[min(take, len(run)) - 1]
        end = int(np.searchsorted(run, cut, side="right"))
        self._run = run[end:]
        self.count -= end
        return run[:end], float(cut)

    def arrays(self) -> list[Numbers]:
        """Every array of keys the reserve holds, the waiting singles included (for tests)."""
        self._flush_singles()
        return [*self._chunks, *self._small, *([self._run] if len(self._run) else [])]

    def _sort_run(self, take: int) -> None:
        """Sorts at least ``take`` of the pool's smallest keys, and a quarter of it, into a run."""
        self._flush_singles()
        parts = self._chunks + self._small
        self._chunks, self._small, self._small_count = [], [], 0
        pool = np.concatenate(parts) if len(parts) > 1 else parts[0].copy()
        size = max(take, len(pool) // 4)
        if size >= len(pool):
            self._run = np.sort(pool)
            return
        pool.partition(size - 1)
        cut = pool[size - 1]
        rest = pool[size:]
        beyond = rest > cut
        self._run = np.sort(np.concatenate((pool[:size], np.compress(~beyond, rest))))
        self._pool(np.compress(beyond, rest))

    def _dissolve_run(self) -> None:
        """A key at or below the run's end arrived: the run goes back into the pool."""
        run, self._run = self._run, _EMPTY
        self._pool(run)

    def _pool(self, keys: Numbers) -> None:
        if keys.base is not None:
            keys = keys.copy()  # a view would keep its whole base alive
        if len(keys) >= CHUNK:
            self._chunks.append(keys)
            return
        self._small.append(keys)
        self._small_count += len(keys)
        if self._small_count >= CHUNK:
            self._chunks.append(np.concatenate(self._small))
            self._small.clear()
            self._small_count = 0

    def _flush_singles(self) -> None:
        if self._singles:
            singles = np.fromiter(self._singles, np.float64, len(self._singles))
            self._singles.clear()
            self._pool(singles)


class _Side:
    """One half of the numbers, as *keys*: the numbers themselves for the upper half, their
    negations for the lower half, so that on both sides a smaller key is nearer the middle
    and heapq's min-heap serves both (negation is exact for every double, -0.0 included).

    The half is ``heap`` plus ``reserve.count`` pending keys, all > ``edge`` >= every key of
    the heap; ``edge`` is +inf exactly when nothing is pending.
    """

    __slots__ = ("edge", "heap", "reserve")

    def __init__(self) -> None:
        self.heap: list[float] = []
        self.edge = _INF
        self.reserve = _Reserve()

    def __len__(self) -> int:
        return len(self.heap) + self.reserve.count

    def file(self, keys: Numbers) -> None:
        """Files keys that are all > edge (pending)."""
        self.reserve.file(keys)

    def refill(self, take: int) -> None:
        """Fills the empty heap with the ``take`` nearest pending keys (and copies of the cut)."""
        taken, cut = self.reserve.take_nearest(take)
        self.heap[:] = taken.tolist()  # sorted, so a valid heap
        self.edge = cut if self.reserve.count else _INF

    def spill(self, keep: int) -> None:
        """Keeps about ``keep`` of the heap's nearest keys; files the rest as pending."""
        spilled, cut = _split_heap(self.heap, keep)
        if len(spilled):
            self.reserve.file(spilled)
            self.edge = cut

    def receive(self, keys: list[float]) -> None:
        """Takes keys, in ascending order, that are all <= every key this side holds.

        A move of many keys replaces the heap outright: the old heap's keys above the new
        ones' largest become pending, so that on sorted input each number is pushed onto a
        heap once and converted back to an array once, rather than sifted through the heap.
        """
        heap = self.heap
        if len(keys) < SHIFT_MIN or len(keys) < len(heap):
            _push_all(heap, keys)
            return
        edge = keys[-1]
        if heap:
            old = np.fromiter(heap, np.float64, len(heap))
            beyond = old > edge
            self.reserve.file(np.compress(beyond, old))
            keys = keys + np.compress(~beyond, old).tolist()  # copies of edge: still in order
        heap[:] = keys
        if self.reserve.count:
            self.edge = edge


class MedianFinder:
    """Holds numbers and answers their exact median in O(1).

    Invariants: every number of the lower half is <= every number of the upper half, and the
    halves differ in size by 0 or 1 (the lower one may be larger). The lower half is a
    max-heap (``_lower``, stored negated) plus pending numbers, all < ``_bottom`` <= the heap's
    numbers; the upper half is a min-heap (``_upper``) plus pending numbers, all > ``_top`` >=
    the heap's numbers. A half that is not empty has a heap that is not empty, so both tops are
    always at hand. ``_bottom`` is -inf exactly when nothing is pending below, ``_top`` +inf
    exactly when nothing is pending above.
    """

    __slots__ = ("_low", "_lower", "_min_window", "_spill_at", "_up", "_upper")

    def __init__(self, min_window: int = MIN_WINDOW) -> None:
        self._low = _Side()  # keys: negated numbers; -_lower[0] is the lower half's largest
        self._up = _Side()  # keys: the numbers; _upper[0] is the upper half's smallest
        self._lower = self._low.heap
        self._upper = self._up.heap
        self._min_window = max(1, min_window)
        self._spill_at = 4 * self._min_window  # heaps together larger than this are cut down

    @property
    def _bottom(self) -> float:
        return -self._low.edge

    @property
    def _top(self) -> float:
        return self._up.edge

    @property
    def _below(self) -> int:
        return self._low.reserve.count

    @property
    def _above(self) -> int:
        return self._up.reserve.count

    def __len__(self) -> int:
        low, up = self._low, self._up
        return len(low.heap) + low.reserve.count + len(up.heap) + up.reserve.count

    def median(self) -> float | None:
        """The median, or None when empty: the middle number, or the mean of the middle two."""
        low, up = self._low, self._up
        lower = low.heap
        if len(lower) + low.reserve.count > len(up.heap) + up.reserve.count:
            return -lower[0]
        if not lower:
            return None
        return midpoint(-lower[0], up.heap[0])

    def add(self, number: float) -> None:
        """Adds one number in O(log w): it enters the half that is shorter, by way of the other."""
        low, up = self._low, self._up
        lower, upper = low.heap, up.heap
        balanced = len(lower) + low.reserve.count == len(upper) + up.reserve.count
        if -number > low.edge:
            low.reserve.file_one(-number)
            if not balanced:  # the lower half is two ahead: its largest number moves up
                heappush(upper, -heappop(lower))
                if not lower:
                    low.refill(self._window_size())
                    self._spill_later()
        elif number > up.edge:
            up.reserve.file_one(number)
            if balanced:  # the upper half is one ahead: its smallest number moves down
                heappush(lower, -heappop(upper))
                if not upper:
                    up.refill(self._window_size())
                    self._spill_later()
        else:
            if balanced:
                heappush(lower, -heappushpop(upper, number))
            else:
                heappush(upper, -heappushpop(lower, -number))
            if len(lower) + len(upper) > self._spill_at:
                self._spill()

    def add_many(self, numbers: Numbers | Sequence[float]) -> None:
        """Adds a batch in O(k) array work plus O(j log w) for the j numbers inside the window.

        ``numbers``: a 1-D numpy float64 array (read, never kept: the finder copies what it
        files), or any sequence of floats. The numbers must be finite.
        """
        if len(numbers) <= SMALL_BATCH:
            for number in numbers.tolist() if isinstance(numbers, np.ndarray) else numbers:
                self.add(float(number))
            return
        batch = np.asarray(numbers, dtype=np.float64)
        low, up = self._low, self._up
        lower, upper = low.heap, up.heap
        if not lower:
            self._build(batch)
            return
        bottom, top = -low.edge, up.edge
        if bottom != -_INF or top != _INF:
            outside = None
            if bottom != -_INF:
                below = batch < bottom
                if below.any():
                    keys = np.compress(below, batch)
                    low.file(np.negative(keys, out=keys))
                    outside = below
            if top != _INF:
                above = batch > top
                if above.any():
                    up.file(np.compress(above, batch))
                    outside = above if outside is None else outside | above
            if outside is not None:
                batch = np.compress(~outside, batch)
        if len(batch):
            boundary = -lower[0]
            to_lower = batch <= boundary
            _push_all(lower, np.negative(np.compress(to_lower, batch)).tolist())
            _push_all(upper, np.compress(~to_lower, batch).tolist())
        surplus = len(low) - (len(self) + 1) // 2
        if surplus:
            self._move(abs(surplus), up=surplus > 0)
        if len(lower) + len(upper) > self._spill_at:
            self._spill()

    def _build(self, batch: Numbers) -> None:
        """Fills an empty finder: a window around the middle in the heaps, the rest pending.

        No sort of the whole batch: `_split_middle` finds the numbers around the middle in
        O(n), and only those are sorted (a sorted list is a valid heap). Every copy of an edge
        number goes to the heap, so that pending numbers are strictly past the edges.
        """
        count = len(batch)
        half = (count + 1) // 2
        window = self._window_size(count)
        if count <= 4 * window:
            ordered = np.sort(batch)
            self._lower[:] = np.negative(ordered[:half][::-1]).tolist()  # ascending once negated
            self._upper[:] = ordered[half:].tolist()
            self._spill_later()
            return
        below, middle, above = _split_middle(batch, half - window, half + window - 1)
        start = half - window - len(below)  # the window's first number, within middle
        end = half + window - 1 - len(below)  # and its last
        bottom, top = float(middle[start]), float(middle[end])
        first = int(np.searchsorted(middle, bottom, side="left"))
        last = int(np.searchsorted(middle, top, side="right"))
        lower_count = half - len(below) - first  # numbers of the lower half in the window
        inside = middle[first:last]
        self._lower[:] = np.negative(inside[:lower_count][::-1]).tolist()
        self._upper[:] = inside[lower_count:].tolist()
        if len(below) or first:
            self._low.file(np.negative(below, out=below))  # below is the finder's own
            self._low.file(np.negative(middle[:first]))
            self._low.edge = -bottom
        if len(above) or last < len(middle):
            self._up.file(above)
            self._up.file(middle[last:])
            self._up.edge = top
        self._spill_later()

    def _move(self, count: int, up: bool) -> None:
        """Moves the ``count`` numbers nearest the middle from one half to the other.

        Up: the largest numbers of the lower half; down: the smallest of the upper half. They
        come off one side's heap in ascending key order (refilled from its reserve if it runs
        dry), and their negations, in reverse, are the other side's keys in ascending order.
        """
        source, target = (self._low, self._up) if up else (self._up, self._low)
        heap = source.heap
        moved: list[float] = []
        while count:
            taken = _pop_smallest(heap, count)
            moved += taken
            count -= len(taken)
            if not heap and source.reserve.count:
                source.refill(self._window_size())
        moved.reverse()
        target.receive([-x for x in moved])

    def _window_size(self, count: int | None = None) -> int:
        """How many numbers a half's heap keeps after a spill, and at least takes in a refill."""
        return max(self._min_window, (len(self) if count is None else count) // WINDOW_FRACTION)

    def _spill(self) -> None:
        """Cuts each heap larger than twice the window size down to it, filing its far end."""
        keep = self._window_size()
        for side in (self._up, self._low):
            if len(side.heap) > 2 * keep:
                side.spill(keep)
        self._spill_later()

    def _spill_later(self) -> None:
        """Next time when the heaps hold 1/64 of all numbers, or twice what they hold now.

        Twice what they hold now, if that is more: a heap just refilled is not cut down again at
        once, and heaps of one repeated number (which no cut can split) are tried ever less often.
        """
        heaps = len(self._lower) + len(self._upper)
        self._spill_at = max(4 * self._min_window, len(self) // SPILL_FRACTION, 2 * heaps)

    def pending(self) -> tuple[list[Numbers], list[Numbers]]:
        """The numbers waiting below the window and above it, as the arrays that hold them."""
        return [np.negative(keys) for keys in self._low.reserve.arrays()], self._up.reserve.arrays()


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
    elif items:
        deque(map(partial(heappush, heap), items), maxlen=0)


def _pop_smallest(heap: list[float], count: int) -> list[float]:
    """Removes and returns the ``count`` smallest items of a heap (fewer if it runs out)."""
    if count >= len(heap) // 8:
        heap.sort()  # a sorted list is a valid heap, and so is its tail
        taken = heap[:count]
        del heap[:count]
        return taken
    return [heappop(heap) for _ in range(count)]


def _split_middle(batch: Numbers, first: int, last: int) -> tuple[Numbers, Numbers, Numbers]:
    """Splits a batch around the ranks ``first`` to ``last`` (0-based, in sorted order).

    Returns (below, middle, above): ``middle`` sorted and holding every rank from ``first`` to
    ``last``, ``below`` all smaller than it and ``above`` all larger, both unordered. Two
    values read off a sorted sample bracket the ranks (with a margin for the sample's error),
    so the batch is only compared and selected, never partitioned; should the sample miss,
    an exact ``numpy.partition`` does the split.
    """
    count = len(batch)
    if count >= 4 * SAMPLE:
        sample = np.sort(batch[:: count // SAMPLE])
        size = len(sample)
        margin = 4 * int(math.sqrt(size)) + 1
        low = sample[max(0, first * size // count - margin)]
        high = sample[min(size - 1, last * size // count + margin)]
        smaller, larger = batch < low, batch > high
        below = np.compress(smaller, batch)
        above = np.compress(larger, batch)
        if len(below) <= first and count - len(above) > last:
            middle = np.sort(np.compress(~(smaller | larger), batch))
            return below, middle, above
    work = np.partition(batch, (first, last))
    low, high = work[first], work[last]
    head, tail = work[:first], work[last + 1 :]
    ties_low, ties_high = head >= low, tail <= high
    middle = np.sort(
        np.concatenate(
            (np.compress(ties_low, head), work[first : last + 1], np.compress(ties_high, tail))
        )
    )
    return np.compress(~ties_low, head), middle, np.compress(~ties_high, tail)


def _split_heap(heap: list[float], keep: int) -> tuple[Numbers, float]:
    """Keeps about ``keep`` of a heap's smallest items in it; returns the rest and the cut.

    Every item <= the cut stays (so the heap's top does, and every copy of the cut); the rest,
    all > cut, is returned as an array.
    """
    items = np.fromiter(heap, np.float64, len(heap))
    items.partition(keep - 1)
    cut = float(items[keep - 1])
    spilled = items[keep:]
    beyond = spilled > cut
    if not beyond.any():
        return _EMPTY, cut
    staying = np.concatenate((items[:keep], np.compress(~beyond, spilled)))
    staying.sort()  # a sorted list is a valid heap, and cheap to pop a prefix from
    heap[:] = staying.tolist()
    return np.compress(beyond, spilled), cut


def as_numbers(numbers: Any) -> Numbers:
    """A 1-D float64 array of ``numbers`` (an array, a sequence of floats): no copy if it is one."""
    if type(numbers) is np.ndarray and numbers.dtype == np.float64 and numbers.ndim == 1:
        return numbers
    return np.asarray(numbers, dtype=np.float64).reshape(-1)
