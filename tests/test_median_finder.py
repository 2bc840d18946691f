"""MedianFinder against a sorted-list reference: property tests and the edge cases by name."""

from __future__ import annotations

import math
import sys
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from median_server import median_finder
from median_server.median_finder import MedianFinder, midpoint

LARGEST = sys.float_info.max


def reference_median(numbers: list[float]) -> float | None:
    ordered = sorted(numbers)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return float((Fraction(ordered[middle - 1]) + Fraction(ordered[middle])) / 2)


def heap_ordered(heap: list[float]) -> bool:
    return all(heap[(i - 1) // 2] <= heap[i] for i in range(1, len(heap)))


def pending(finder: MedianFinder) -> tuple[list[float], list[float]]:
    """The numbers waiting in the reserve, below the window and above it."""
    below_arrays, above_arrays = finder.pending()
    for array in below_arrays + above_arrays:
        assert array.dtype == np.float64, "the reserve holds unboxed doubles"
    below = [x for array in below_arrays for x in array.tolist()]
    above = [x for array in above_arrays for x in array.tolist()]
    return below, above


def assert_invariants(finder: MedianFinder, numbers: list[float]) -> None:
    lower = [-x for x in finder._lower]
    upper = list(finder._upper)
    below, above = pending(finder)
    assert heap_ordered(finder._lower)
    assert heap_ordered(finder._upper)
    assert (len(below), len(above)) == (finder._below, finder._above), "pending counts are exact"
    lower_half, upper_half = lower + below, upper + above
    assert len(lower_half) - len(upper_half) in (0, 1), "halves differ in size by at most one"
    assert sorted(lower_half + upper_half) == sorted(numbers), "nothing lost, nothing twice"
    assert len(finder) == len(numbers)
    if lower_half and upper_half:
        assert max(lower_half) <= min(upper_half), "every lower number is <= every upper one"
    assert bool(lower) == bool(lower_half), "the lower half's top is at hand"
    assert bool(upper) == bool(upper_half), "the upper half's top is at hand"
    if lower:
        assert -finder._lower[0] == max(lower_half), "the lower heap's top is its largest number"
        assert all(x < finder._bottom for x in below)
        assert finder._bottom <= min(lower)
    if upper:
        assert finder._upper[0] == min(upper_half), "the upper heap's top is its smallest number"
        assert all(x > finder._top for x in above)
        assert finder._top >= max(upper)
    assert (finder._bottom == -math.inf) == (not below), "an edge is set only with numbers past it"
    assert (finder._top == math.inf) == (not above)


finite = st.floats(allow_nan=False, allow_infinity=False)
few_values = st.sampled_from([-3.0, -1.0, 0.5, 2.0, 2.0, 7.0])  # many duplicates
extremes = st.sampled_from([LARGEST, -LARGEST, 5e-324, -5e-324, LARGEST / 2, 1.0, -0.0, 0.0])
number = st.one_of(finite, few_values, extremes)
batch = st.lists(number, max_size=300)
arrangement = st.sampled_from(["as given", "ascending", "descending"])
window = st.sampled_from([1, 2, 3, 8, 64])  # tiny windows: every spill and refill path runs


@settings(max_examples=400, deadline=None)
@given(
    batches=st.lists(st.tuples(batch, arrangement, st.booleans()), max_size=12),
    min_window=window,
)
def test_batches_give_the_reference_median_and_keep_the_invariants(
    batches: list[tuple[list[float], str, bool]], min_window: int
) -> None:
    finder = MedianFinder(min_window)
    seen: list[float] = []
    for numbers, order, as_array in batches:
        if order != "as given":
            numbers = sorted(numbers, reverse=order == "descending")
        finder.add_many(np.array(numbers, dtype=np.float64) if as_array else numbers)
        seen.extend(numbers)
        assert_invariants(finder, seen)
        assert finder.median() == reference_median(seen)


@settings(max_examples=150, deadline=None)
@given(numbers=st.lists(number, max_size=200), min_window=window)
def test_one_number_at_a_time_matches_the_reference_after_each(
    numbers: list[float], min_window: int
) -> None:
    finder = MedianFinder(min_window)
    for i, x in enumerate(numbers):
        finder.add(x)
        assert finder.median() == reference_median(numbers[: i + 1])
    assert_invariants(finder, numbers)


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.tuples(st.booleans(), batch, arrangement), max_size=15),
    min_window=window,
)
def test_single_numbers_and_batches_mixed_keep_the_invariants(
    steps: list[tuple[bool, list[float], str]], min_window: int
) -> None:
    finder = MedianFinder(min_window)
    seen: list[float] = []
    for one_at_a_time, numbers, order in steps:
        if order != "as given":
            numbers = sorted(numbers, reverse=order == "descending")
        if one_at_a_time:
            for x in numbers:
                finder.add(x)
        else:
            finder.add_many(numbers)
        seen.extend(numbers)
        assert_invariants(finder, seen)
        assert finder.median() == reference_median(seen)


@settings(max_examples=200)
@given(a=finite, b=finite)
def test_midpoint_is_the_exact_mean_rounded_once(a: float, b: float) -> None:
    assert midpoint(a, b) == float((Fraction(a) + Fraction(b)) / 2)


def test_empty_finder_has_no_median() -> None:
    finder = MedianFinder()
    finder.add_many([])
    assert finder.median() is None
    assert len(finder) == 0


def test_two_largest_doubles_do_not_overflow() -> None:
    finder = MedianFinder()
    finder.add_many([LARGEST, LARGEST])
    assert finder.median() == LARGEST
    finder.add_many([-LARGEST, -LARGEST])
    assert finder.median() == 0.0


def test_mean_of_two_subnormals_is_rounded_once() -> None:
    finder = MedianFinder()
    finder.add_many([5e-324, 1e-323])
    assert finder.median() == 1e-323  # halving each first would give 5e-324


def test_ascending_then_descending_large_batches() -> None:
    finder = MedianFinder()
    first = [float(i) for i in range(10_000)]
    second = [float(i) for i in range(20_000, 10_000, -1)]
    finder.add_many(first)
    finder.add_many(second)
    ascending = [float(i) for i in range(20_000, 30_000)]
    for start in range(0, len(ascending), 1000):
        finder.add_many(ascending[start : start + 1000])
    assert_invariants(finder, first + second + ascending)
    assert finder.median() == reference_median(first + second + ascending) == 15_000.5


def test_a_median_that_drifts_far_from_the_window_refills_it_from_the_reserve() -> None:
    finder = MedianFinder(min_window=16)
    seen: list[float] = []
    for step in range(60):  # the median climbs past the window, then falls back below it
        level = step if step < 30 else 60 - step
        numbers = [level * 100.0 + (i * 37 % 101) for i in range(200)]
        finder.add_many(numbers)
        seen.extend(numbers)
        assert finder.median() == reference_median(seen)
    assert_invariants(finder, seen)
    assert finder._below, "the reserve holds numbers below the window"
    assert finder._above, "and above it"


def test_one_repeated_number_many_times() -> None:
    finder = MedianFinder(min_window=4)
    for _ in range(50):
        finder.add_many([2.5] * 100)
    finder.add_many([1.0] * 10 + [3.0] * 9)
    assert finder.median() == 2.5
    assert_invariants(finder, [2.5] * 5000 + [1.0] * 10 + [3.0] * 9)


def test_a_long_stream_seals_its_open_chunk_and_stays_exact() -> None:
    numbers = [(i * 7919 % 100_003) / 7.0 for i in range(150_000)]  # every residue, shuffled
    finder = MedianFinder(min_window=64)
    for start in range(0, len(numbers), 1000):
        finder.add_many(numbers[start : start + 1000])
        finder.add(numbers[start])
    seen = numbers + numbers[::1000]
    assert finder.median() == reference_median(seen)
    assert_invariants(finder, seen)
    below, above = finder.pending()
    assert len(below) + len(above) >= 2, "the reserve holds arrays on both sides"
    assert sum(map(len, below + above)) > 100_000, "most numbers wait unboxed in the reserve"


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    order=arrangement,
    size=st.sampled_from([1, 7, 100, 1000]),
    min_window=st.sampled_from([1, 4, 32]),
)
def test_long_array_streams_run_every_refill_and_spill_path_exactly(
    seed: int, order: str, size: int, min_window: int
) -> None:
    rng = np.random.default_rng(seed)
    numbers = rng.choice(np.array([-0.0, 0.0, 5e-324, -5e-324, LARGEST, -LARGEST, 1.5]), 3000)
    numbers = np.where(rng.random(3000) < 0.5, rng.normal(size=3000) * 1e300, numbers)
    if order != "as given":
        numbers = np.sort(numbers)[:: -1 if order == "descending" else 1]
    finder = MedianFinder(min_window)
    for start in range(0, len(numbers), size):
        finder.add_many(numbers[start : start + size])
        assert finder.median() == reference_median(numbers[: start + size].tolist())
    assert_invariants(finder, numbers.tolist())


def test_numbers_outside_the_window_are_kept_unboxed() -> None:
    rng = np.random.default_rng(5)
    finder = MedianFinder()
    for _ in range(100):
        finder.add_many(rng.random(5_000))
    heaps = len(finder._lower) + len(finder._upper)
    assert heaps <= len(finder) // 16, "at most a sixteenth of the numbers are Python floats"
    below, above = finder.pending()
    assert sum(a.nbytes for a in below + above) == 8 * (len(finder) - heaps)


@settings(max_examples=300, deadline=None)
@given(
    numbers=st.lists(number, min_size=1, max_size=400),
    order=arrangement,
    min_window=st.sampled_from([1, 2, 5]),
    sample=st.sampled_from([2, 4, 16]),
)
def test_a_first_batch_split_by_a_sample_is_exact(
    numbers: list[float], order: str, min_window: int, sample: int
) -> None:
    # A tiny sample makes every large-batch split go through the sampled path (and, when the
    # sample misses, through the exact fallback).
    if order != "as given":
        numbers = sorted(numbers, reverse=order == "descending")
    saved = median_finder.SAMPLE
    median_finder.SAMPLE = sample
    try:
        finder = MedianFinder(min_window)
        finder.add_many(np.array(numbers))
        assert finder.median() == reference_median(numbers)
        assert_invariants(finder, numbers)
        finder.add_many(numbers[::-1])
        assert finder.median() == reference_median(numbers * 2)
        assert_invariants(finder, numbers * 2)
    finally:
        median_finder.SAMPLE = saved
