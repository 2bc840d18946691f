"""The command-line client: numbers from standard input into a session, count and median out.

    median-client --target HOST:PORT [--session ID] [--batch N] [--running] [--delete]
                  [--token TOKEN] [--tls] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]
                  [--retry-for SECONDS] < numbers

The token is best given in the environment variable MEDIAN_TOKEN, where `ps` does not show it.
After `UNAVAILABLE` or a broken connection the numbers' stream is resumed for up to
`--retry-for` seconds (default 30; 0 turns it off), every number applied exactly once.
Exit status 0 on success, 1 when a call fails (one `error: CODE: message` line on standard
error, then one `detail: ...` line per `google.rpc` detail), 2 for bad arguments, unreadable TLS
files or bad input (nothing is sent then).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc

from median_client.batching import DEFAULT_BATCH_SIZE, batched
from median_client.client import MedianClient
from median_client.errors import MedianError
from median_client.resume import DEFAULT_RETRY_FOR
from median_client.security import check_token
from median_client.tokens import BadTokenError, parse_numbers

EXIT_OK = 0
EXIT_RPC_ERROR = 1
EXIT_USAGE = 2
TOKEN_VARIABLE = "MEDIAN_TOKEN"  # noqa: S105  # the variable's name, not a token


def positive_int(text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def seconds(text: str) -> float:
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more)")
    return float(text)


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
    result.add_argument(
        "--token",
        metavar="TOKEN",
        help=f"bearer token for servers that require one (default: ${TOKEN_VARIABLE}, which "
        "keeps it out of the process list)",
    )
    result.add_argument(
        "--tls",
        action="store_true",
        help="connect over TLS, trusting the system's root certificates (implied by --tls-*)",
    )
    result.add_argument(
        "--tls-ca", metavar="FILE", help="connect over TLS, trusting the CA certificates in FILE"
    )
    result.add_argument(
        "--tls-cert", metavar="FILE", help="client certificate (PEM), for servers that ask for one"
    )
    result.add_argument("--tls-key", metavar="FILE", help="private key (PEM) of --tls-cert")
    result.add_argument(
        "--retry-for",
        type=seconds,
        default=DEFAULT_RETRY_FOR,
        metavar="SECONDS",
        help="how long to keep resuming the stream after UNAVAILABLE or a broken connection, "
        f"resending exactly the unacknowledged requests (default {DEFAULT_RETRY_FOR:g}; 0: off)",
    )
    return result


class UsageError(Exception):
    """The arguments cannot be used; nothing has been sent."""


def _read_pem(flag: str, path: str | None) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise UsageError(f"{flag} {path}: {error.strerror or error}") from None


def client_for(args: argparse.Namespace, environ: dict[str, str]) -> MedianClient:
    """The client that the connection arguments describe."""
    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together: give both or neither")
    token = args.token if args.token is not None else environ.get(TOKEN_VARIABLE)
    if token is not None:
        try:
            check_token(token)
        except ValueError as error:
            source = "--token" if args.token is not None else TOKEN_VARIABLE
            raise UsageError(f"{source}: {error}") from None
    root_certificates = _read_pem("--tls-ca", args.tls_ca)
    certificate_chain = _read_pem("--tls-cert", args.tls_cert)
    private_key = _read_pem("--tls-key", args.tls_key)
    # --tls alone: TLS with the system's roots, which the PEM settings below cannot ask for.
    system_roots = args.tls and root_certificates is None and certificate_chain is None
    return MedianClient(
        args.target,
        credentials=grpc.ssl_channel_credentials() if system_roots else None,
        root_certificates=root_certificates,
        certificate_chain=certificate_chain,
        private_key=private_key,
        token=token,
        retry_for=args.retry_for,
    )


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
    try:
        median_client = client_for(args, dict(os.environ))
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    with median_client as client:
        try:
            run(client, args, numbers)
        except MedianError as error:
            print(f"error: {error}", file=sys.stderr)
            for line in error.detail_lines():
                print(f"detail: {line}", file=sys.stderr)
            return EXIT_RPC_ERROR
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
