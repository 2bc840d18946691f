"""Writes the shared client vectors: one JSON file per case, expected results from a reference.

The expected counts and medians come from a sorted list and exact rational arithmetic, never from
the server, so the vectors check the server and every client against an independent answer.
Run `python tests/vectors/generate.py` after changing a case; a test fails when the committed
files and this script disagree.
"""

from __future__ import annotations

import json
import math
import random
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LARGEST = sys.float_info.max
SMALLEST_SUBNORMAL = 5e-324


def reference_median(numbers: list[float]) -> float:
    """The exact median: middle number, or the mean of the two middle ones rounded once."""
    ordered = sorted(numbers)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return float((Fraction(ordered[middle - 1]) + Fraction(ordered[middle])) / 2)


def parse_token(token: str) -> float:
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(token) or float(
        token
    )


def expected_lines(numbers: list[float], batches: list[list[float]], running: bool) -> list[str]:
    """What a client prints after the `session=` line, for requests that all succeed."""
    seen: list[float] = []
    lines = []
    for batch in batches:
        seen.extend(batch)
        if running:
            lines.append(status_line(seen))
    return lines if running else [status_line(numbers)]


def status_line(numbers: list[float]) -> str:
    if not numbers:
        return "count=0"
    return f"count={len(numbers)} median={reference_median(numbers)!r}"


def batches_of(numbers: list[float], size: int) -> list[list[float]]:
    """The requests a client sends: at most `size` numbers each, and one empty one if none."""
    return [numbers[i : i + size] for i in range(0, len(numbers), size)] or [[]]


def header(name: str, description: str, stdin: str, batch: int) -> dict[str, Any]:
    """The fields a case made from stdin starts with; the client makes its own session."""
    return {
        "name": name,
        "description": description,
        "stdin": stdin,
        "batch": batch,
        "session": None,
    }


def success_case(name: str, description: str, stdin: str, batch: int) -> dict[str, Any]:
    numbers = [parse_token(token) for token in stdin.split()]
    batches = batches_of(numbers, batch)
    return {
        **header(name, description, stdin, batch),
        "plain": {"exit": 0, "lines": expected_lines(numbers, batches, running=False)},
        "running": {"exit": 0, "lines": expected_lines(numbers, batches, running=True)},
    }


def refused_case(name: str, description: str, stdin: str, batch: int) -> dict[str, Any]:
    """A stream whose first request with a NaN or an infinity is refused with INVALID_ARGUMENT."""
    numbers = [parse_token(token) for token in stdin.split()]
    batches = batches_of(numbers, batch)
    applied: list[list[float]] = []
    for request in batches:
        if not all(math.isfinite(x) for x in request):
            break
        applied.append(request)
    flat = [x for request in applied for x in request]
    return {
        **header(name, description, stdin, batch),
        "plain": {"exit": 1, "lines": [], "error": "INVALID_ARGUMENT"},
        "running": {
            "exit": 1,
            "lines": expected_lines(flat, applied, running=True),
            "error": "INVALID_ARGUMENT",
        },
    }


def cases() -> list[dict[str, Any]]:
    rng = random.Random(20261126)
    many = " ".join(repr(rng.uniform(-1e6, 1e6)) for _ in range(2500))
    ints_with_duplicates = " ".join(str(rng.randint(-20, 20)) for _ in range(301))
    return [
        success_case("odd_count", "An odd count: the median is the middle number.", "3 1 2", 1000),
        success_case(
            "even_count_mean",
            "An even count: the mean of the two middle numbers.",
            "1 2 3 4",
            2,
        ),
        success_case(
            "one_number_per_request",
            "Batch size 1: one request per number.",
            "5 1 4 2 3",
            1,
        ),
        success_case(
            "whitespace_of_any_kind",
            "Numbers separated by spaces, tabs and newlines, with blank lines.",
            "\n 10\t20\n\n30  40 \t50\n",
            2,
        ),
        success_case(
            "number_formats",
            "Tokens as the shortest round-trip formatting of each language writes them.",
            "1e-07 1.0E-7 0.0000001 2.5 .5 5. +3 1E+2 -4e0 7",
            3,
        ),
        success_case(
            "fractions_round_trip",
            "A median that needs all 17 digits to round-trip.",
            "0.1 0.2",
            1000,
        ),
        success_case(
            "duplicates_and_negatives",
            "Repeated and negative numbers.",
            "-5 -5 0 -5 7 7 -5 7",
            3,
        ),
        success_case(
            "small_integers_many_duplicates",
            "301 small integers with many duplicates, in batches of 50.",
            ints_with_duplicates,
            50,
        ),
        success_case(
            "largest_doubles_no_overflow",
            "Two numbers near the largest double: their mean must not overflow to infinity.",
            f"{LARGEST!r} {LARGEST!r} {-LARGEST!r} {LARGEST!r}",
            2,
        ),
        success_case(
            "subnormal_mean_rounded_once",
            "The mean of two subnormals, rounded once (halving each first rounds twice).",
            f"{SMALLEST_SUBNORMAL!r} {2 * SMALLEST_SUBNORMAL!r}",
            1000,
        ),
        success_case("negative_zero", "A lone -0: the median keeps its sign.", "-0", 1000),
        success_case(
            "ascending",
            "Ascending input moves the median on every request.",
            " ".join(str(i) for i in range(1, 26)),
            4,
        ),
        success_case(
            "descending",
            "Descending input.",
            " ".join(str(i) for i in range(25, 0, -1)),
            4,
        ),
        success_case(
            "random_2500_batches_of_1000",
            "2,500 random doubles in three requests.",
            many,
            1000,
        ),
        success_case(
            "empty_input",
            "No numbers: one empty request; the session stays empty.",
            "  \n",
            1000,
        ),
        refused_case(
            "nan_refused_after_applied_request",
            "NaN in the second request: the first stays applied, the second is refused.",
            "1 2 NaN 4",
            2,
        ),
        refused_case(
            "infinity_refused",
            "+Infinity in the only request: nothing is applied.",
            "1 Infinity 3",
            1000,
        ),
        refused_case(
            "negative_infinity_refused",
            "-Infinity in the third request.",
            "1 2 3 4 -Infinity",
            2,
        ),
        {
            "name": "unknown_session",
            "description": "A session that was never made: NOT_FOUND, nothing printed on stdout.",
            "stdin": "1 2 3",
            "batch": 1000,
            "session": "no-such-session-in-the-vectors",
            "plain": {"exit": 1, "lines": [], "error": "NOT_FOUND"},
            "running": {"exit": 1, "lines": [], "error": "NOT_FOUND"},
        },
        *(
            {
                "name": f"bad_token_{label}",
                "description": f"The token {token!r} is not a number: exit 2, nothing sent.",
                "stdin": f"1 2 {token} 4",
                "batch": 1000,
                "session": None,
                "plain": {"exit": 2, "lines": [], "bad_token": token},
                "running": {"exit": 2, "lines": [], "bad_token": token},
            }
            for label, token in [
                ("word", "abc"),
                ("hex", "0x10"),
                ("lowercase_inf", "inf"),
                ("lowercase_nan", "nan"),
                ("comma_decimal", "1,5"),
            ]
        ),
    ]


def main() -> None:
    for old in HERE.glob("*.json"):
        old.unlink()
    for case in cases():
        path = HERE / f"{case['name']}.json"
        path.write_text(json.dumps(case, indent=2) + "\n")
    print(f"wrote {len(cases())} vectors to {HERE}")


if __name__ == "__main__":
    main()
