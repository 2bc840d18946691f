"""MedianFinder against a sorted-list reference: property tests and the edge cases by name."""

from __future__ import annotations

import sys
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st
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


def assert_invariants(finder: MedianFinder, numbers: list[float]) -> None:
    lower = [-x for x in finder._lower]
    upper = list(finder._upper)
    assert len(lower) - len(upper) in (0, 1), "halves differ in size by at most one"
    if lower and upper:
        assert max(lower) <= min(upper), "every lower number is <= every upper number"
    assert sorted(lower + upper) == sorted(numbers), "nothing lost, nothing counted twice"
    assert len(finder) == len(numbers)
    if lower:
        assert -finder._lower[0] == max(lower), "the lower heap's top is its largest number"
    if upper:
        assert finder._upper[0] == min(upper), "the upper heap's top is its smallest number"


finite = st.floats(allow_nan=False, allow_infinity=False)
few_values = st.sampled_from([-3.0, -1.0, 0.5, 2.0, 2.0, 7.0])  # many duplicates
extremes = st.sampled_from([LARGEST, -LARGEST, 5e-324, -5e-324, LARGEST / 2, 1.0])
number = st.one_of(finite, few_values, extremes)
batch = st.lists(number, max_size=300)
arrangement = st.sampled_from(["as given", "ascending", "descending"])


@settings(max_examples=300, deadline=None)
@given(batches=st.lists(st.tuples(batch, arrangement), max_size=12))
def test_batches_give_the_reference_median_and_keep_the_invariants(
    batches: list[tuple[list[float], str]],
) -> None:
    finder = MedianFinder()
    seen: list[float] = []
    for numbers, order in batches:
        if order != "as given":
            numbers = sorted(numbers, reverse=order == "descending")
        finder.add_many(numbers)
        seen.extend(numbers)
        assert_invariants(finder, seen)
        assert finder.median() == reference_median(seen)


@settings(max_examples=100, deadline=None)
@given(numbers=st.lists(number, max_size=200))
def test_one_number_at_a_time_matches_the_reference_after_each(numbers: list[float]) -> None:
    finder = MedianFinder()
    for i, x in enumerate(numbers):
        finder.add(x)
        assert finder.median() == reference_median(numbers[: i + 1])
    assert_invariants(finder, numbers)


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
