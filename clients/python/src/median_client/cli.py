"""The command-line client: numbers from standard input into a session, count and median out.

    median-client --target HOST:PORT [--session ID] [--batch N] [--running] [--delete] < numbers

Exit status 0 on success, 1 when a call fails (one `error: CODE: message` line on standard
error), 2 for bad arguments or input (nothing is sent then).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from median_client.batching import DEFAULT_BATCH_SIZE, batched
from median_client.client import MedianClient
from median_client.errors import MedianError
from median_client.tokens import BadTokenError, parse_numbers

EXIT_OK = 0
EXIT_RPC_ERROR = 1
EXIT_USAGE = 2


def positive_int(text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog="median-client",
        description="Streams the numbers on standard input into a median session and prints "
        "the count and median.",
        allow_abbrev=False,
    )
    result.add_argument("--target", required=True, metavar="HOST:PORT", help="server address")
    result.add_argument(
        "--session", metavar="ID", help="use this existing session instead of creating one"
    )
    result.add_argument(
        "--batch",
        type=positive_int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"numbers per request (default {DEFAULT_BATCH_SIZE})",
    )
    result.add_argument(
        "--running",
        action="store_true",
        help="use RunningMedian and print the count and median after every request",
    )
    result.add_argument("--delete", action="store_true", help="delete the session at the end")
    return result


def count_and_median(count: int, median: float | None) -> str:
    # repr() is the shortest string that parses back to the same double, "-0.0" included.
    return f"count={count}" if median is None else f"count={count} median={median!r}"


def run(client: MedianClient, args: argparse.Namespace, numbers: list[float]) -> None:
    session_id: str
    if args.session is None:
        session_id = client.create_session()
        print(f"session={session_id}", flush=True)
    else:
        session_id = args.session
    if args.running:
        for step in client.running_median(session_id, batched(numbers, args.batch)):
            print(count_and_median(step.count, step.median), flush=True)
    else:
        added = client.add_numbers(session_id, numbers, batch_size=args.batch)
        if added.count == 0:
            print(count_and_median(0, None), flush=True)
        else:
            current = client.get_median(session_id)
            print(count_and_median(current.count, current.median), flush=True)
    if args.delete:
        client.delete_session(session_id)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        numbers = parse_numbers(sys.stdin.buffer.read())
    except BadTokenError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    with MedianClient(args.target) as client:
        try:
            run(client, args, numbers)
        except MedianError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_RPC_ERROR
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
