"""What durable sessions cost: ingest speed with `--data-dir` in both `--sync` modes, as ratios to
memory only, all measured in one run on this machine.

Each measurement starts a real `median-server` process on a free loopback port (the durable
modes on a fresh temporary folder) and streams AddNumbers requests of `--batch` numbers into
it until `--numbers` have been sent; the figure is numbers per second from the first request to
the last answer. With one stream, every request waits for its own commit in either mode (a
session's requests are committed in order); with several streams, each into its own session,
`batch` can commit the requests of concurrent streams together. After the last durable
measurement the server is stopped and started again on its folder, and the time it took to read
the numbers back (from its log) is reported too.

    .venv/bin/python -m bench.durability                      # 2,000,000 numbers, 1 and 8 streams
    .venv/bin/python -m bench.durability --numbers 200000 --repeat 1   # a quick look

Modes are measured round-robin, `--repeat` times each, and the median is reported, so that a
slow moment of the machine does not land on one mode only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from median.v1 import median_pb2, median_pb2_grpc

SERVER = Path(sys.executable).with_name("median-server")
LISTENING = re.compile(r"listening on (\S+):(\d+)")
READ_BACK = re.compile(r"read back (\d+) sessions with (\d+) numbers in ([0-9.]+)s")
MODES: dict[str, list[str]] = {
    "memory only": [],
    "--sync batch": ["--sync", "batch"],
    "--sync always": ["--sync", "always"],
}


@dataclass
class Server:
    process: subprocess.Popen[str]
    target: str
    log: list[str]


@contextmanager
def running(flags: Sequence[str]) -> Iterator[Server]:
    """`median-server --port 0 FLAGS...` until the block ends; then SIGTERM, and wait."""
    process = subprocess.Popen(
        [str(SERVER), "--port", "0", *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    log: list[str] = []
    for line in process.stderr:
        log.append(line.rstrip("\n"))
        if match := LISTENING.search(line):
            server = Server(process, f"127.0.0.1:{match.group(2)}", log)
            break
    else:
        process.wait(timeout=30)
        raise RuntimeError("median-server exited before listening:\n" + "\n".join(log))
    stderr = process.stderr
    reader = threading.Thread(target=lambda: log.extend(line.rstrip("\n") for line in stderr))
    reader.start()
    try:
        yield server
    finally:
        process.terminate()
        process.wait(timeout=120)
        reader.join(timeout=30)
        stderr.close()


def make_batches(numbers: int, batch: int) -> list[list[float]]:
    rng = random.Random(0)
    values = [rng.uniform(-1e6, 1e6) for _ in range(numbers)]
    return [values[start : start + batch] for start in range(0, numbers, batch)]


async def stream_into(target: str, session_id: str, batches: list[list[float]]) -> int:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = median_pb2_grpc.MedianServiceStub(channel)
        await stub.CreateSession(median_pb2.CreateSessionRequest(session_id=session_id))
        requests = (
            median_pb2.AddNumbersRequest(session_id=session_id, numbers=batch) for batch in batches
        )
        answer = await stub.AddNumbers(requests)
        return answer.added_count


async def ingest(target: str, batches: list[list[float]], streams: int) -> float:
    """Numbers per second, `streams` streams (sessions) sharing the batches."""
    shares = [batches[index::streams] for index in range(streams)]
    started = time.perf_counter()
    added = await asyncio.gather(
        *(stream_into(target, f"bench-{index}", share) for index, share in enumerate(shares))
    )
    seconds = time.perf_counter() - started
    assert sum(added) == sum(len(batch) for batch in batches), "numbers went missing"
    return sum(added) / seconds


def measure(mode: str, batches: list[list[float]], streams: int, keep: Path | None) -> float:
    folder = Path(tempfile.mkdtemp(prefix="median-durability-"))
    flags = [*MODES[mode], "--data-dir", str(folder)] if MODES[mode] else []
    try:
        with running(flags) as server:
            rate = asyncio.run(ingest(server.target, batches, streams))
        if keep is not None and flags:
            shutil.rmtree(keep, ignore_errors=True)
            folder.rename(keep)
        return rate
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def restart_seconds(folder: Path) -> tuple[int, float, float]:
    """(numbers read back, seconds the server said it took, seconds until it listened)."""
    started = time.perf_counter()
    with running(["--data-dir", str(folder)]) as server:
        listening = time.perf_counter() - started
        for line in server.log:
            if match := READ_BACK.search(line):
                return int(match.group(2)), float(match.group(3)), listening
    raise RuntimeError("the server did not say how long it took to read its folder back")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--numbers", type=int, default=2_000_000, help="numbers per measurement")
    parser.add_argument("--batch", type=int, default=1000, help="numbers per request")
    parser.add_argument(
        "--streams", type=int, nargs="+", default=[1, 8], help="concurrent streams (sessions)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="measurements per mode (median)")
    args = parser.parse_args(argv)

    batches = make_batches(args.numbers, args.batch)
    keep = Path(tempfile.mkdtemp(prefix="median-durability-kept-")) / "data"
    print(
        f"{args.numbers:,} numbers in requests of {args.batch:,}; median of {args.repeat} runs "
        f"per mode; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}"
    )
    try:
        for streams in args.streams:
            rates: dict[str, list[float]] = {mode: [] for mode in MODES}
            for _ in range(args.repeat):
                for mode in MODES:
                    rates[mode].append(measure(mode, batches, streams, keep))
            memory = statistics.median(rates["memory only"])
            print(f"\n{streams} stream{'s' if streams > 1 else ''}:")
            print(f"  {'mode':<15}{'numbers/s':>12}{'vs memory':>11}  runs")
            for mode, runs in rates.items():
                rate = statistics.median(runs)
                shown = ", ".join(f"{r:,.0f}" for r in runs)
                print(f"  {mode:<15}{rate:>12,.0f}{rate / memory:>11.3f}  {shown}")
        numbers, read_back, listening = restart_seconds(keep)
        print(
            f"\nrestart on the last folder ({numbers:,} numbers): read back in {read_back:.2f}s, "
            f"listening {listening:.2f}s after the start"
        )
    finally:
        shutil.rmtree(keep.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
