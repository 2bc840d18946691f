"""The cluster section of `make bench`: one shard direct, one through Envoy, two through Envoy.

    python -m bench.cluster [--quick]

For `GetMedian` (16 concurrent clients, each on a session of its own, so that two shards share
the load) and `AddNumbers` (streams of batches of 1,000 into several sessions), it measures the
proxy's cost as a ratio to calling the shard directly, and the scaling from one shard to two.
The three setups run side by side, measured in alternation round after round, each keeping its
best round (load from elsewhere only slows a measurement down). The load comes from client
processes of their own; every process's CPU time is read meanwhile (psutil), so that the report
can say which process the two CPUs went to. Writes `bench/results/cluster.json` and, on a full
run, `docs/cluster-benchmarks.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import grpc
import psutil
from median.v1 import median_pb2, median_pb2_grpc

from bench.measure import random_numbers
from bench.report import cpu_count, git_state
from deploy.cluster import ROUTING_HEADER, LocalCluster, free_ports

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "cluster.json"
PAGE = ROOT / "docs" / "cluster-benchmarks.md"
QUERY_CLIENTS = 16
LOAD_PROCESSES = 2  # client processes; each runs half of the clients
INGEST_SESSIONS = 4  # AddNumbers streams at once, one session each
INGEST_BATCH = 1_000
SESSION_NUMBERS = 10_000
CALL_TIMEOUT = 120.0


@dataclass(frozen=True)
class Setup:
    """One way to reach the shards: a name, the target clients call, the processes serving."""

    name: str
    target: str
    processes: tuple[psutil.Process, ...]  # the shards, and Envoy when there is one
    envoy: psutil.Process | None


@dataclass(frozen=True)
class Figure:
    """One measurement: its rate, and the CPU seconds each kind of process spent on it."""

    per_second: float
    calls: int
    seconds: float
    cpu: dict[str, float]  # "shards", "envoy", "load"


def _cpu_seconds(processes: Sequence[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        times = process.cpu_times()
        total += times.user + times.system
    return total


async def _query_loop(target: str, sessions: list[str], seconds: float) -> int:
    channels = [grpc.aio.insecure_channel(target) for _ in sessions]
    try:
        stubs = [median_pb2_grpc.MedianServiceStub(channel) for channel in channels]
        for stub, session_id in zip(stubs, sessions, strict=True):  # connect before the clock
            await stub.GetMedian(
                median_pb2.GetMedianRequest(session_id=session_id),
                metadata=((ROUTING_HEADER, session_id),),
                timeout=CALL_TIMEOUT,
            )
        done = 0
        stop_at = time.perf_counter() + seconds

        async def client(stub: Any, session_id: str) -> None:
            nonlocal done
            request = median_pb2.GetMedianRequest(session_id=session_id)
            metadata = ((ROUTING_HEADER, session_id),)
            while time.perf_counter() < stop_at:
                await stub.GetMedian(request, metadata=metadata, timeout=CALL_TIMEOUT)
                done += 1

        await asyncio.gather(*(client(s, i) for s, i in zip(stubs, sessions, strict=True)))
        return done
    finally:
        for channel in channels:
            await channel.close(None)


def _query_worker(target: str, sessions: list[str], seconds: float) -> int:
    return asyncio.run(_query_loop(target, sessions, seconds))


def _ingest_worker(target: str, session_id: str, seconds: float) -> int:
    numbers = random_numbers(64 * INGEST_BATCH, seed=len(session_id))
    pool = [
        median_pb2.AddNumbersRequest(numbers=numbers[i : i + INGEST_BATCH])
        for i in range(0, len(numbers), INGEST_BATCH)
    ]
    stop_at = time.perf_counter() + seconds

    def requests() -> Iterator[median_pb2.AddNumbersRequest]:
        yield median_pb2.AddNumbersRequest(session_id=session_id, numbers=pool[0].numbers)
        index = 1
        while time.perf_counter() < stop_at:
            yield pool[index % len(pool)]
            index += 1

    metadata = ((ROUTING_HEADER, session_id),)
    with grpc.insecure_channel(target) as channel:
        stub = median_pb2_grpc.MedianServiceStub(channel)
        try:
            answer = stub.AddNumbers(requests(), metadata=metadata, timeout=CALL_TIMEOUT)
            stub.DeleteSession(  # its memory back before the next measurement
                median_pb2.DeleteSessionRequest(session_id=session_id),
                metadata=metadata,
                timeout=CALL_TIMEOUT,
            )
        except grpc.RpcError as error:  # a gRPC error does not pickle back to the pool
            raise RuntimeError(f"AddNumbers into {session_id}: {error}") from None
    return int(answer.added_count)


def _measure(setup: Setup, pool: Any, work: str, sessions: list[str], seconds: float) -> Figure:
    """Runs one load against `setup` from the worker pool; its rate and CPU split."""
    load = [psutil.Process(child.pid) for child in multiprocessing.active_children()]
    shards = [p for p in setup.processes if p is not setup.envoy]
    before = (_cpu_seconds(shards), _cpu_seconds([setup.envoy] if setup.envoy else []))
    load_before = _cpu_seconds(load)
    start = time.perf_counter()
    if work == "get_median":
        share = [sessions[i::LOAD_PROCESSES] for i in range(LOAD_PROCESSES)]
        counts = pool.starmap(_query_worker, [(setup.target, s, seconds) for s in share])
    else:
        counts = pool.starmap(_ingest_worker, [(setup.target, s, seconds) for s in sessions])
    elapsed = time.perf_counter() - start
    cpu = {
        "shards": _cpu_seconds(shards) - before[0],
        "envoy": (_cpu_seconds([setup.envoy]) - before[1]) if setup.envoy else 0.0,
        "load": _cpu_seconds(load) - load_before,
    }
    total = sum(counts)
    return Figure(total / elapsed, total, elapsed, cpu)


def _make_sessions(target: str, prefix: str, count: int) -> list[str]:
    """`count` sessions through `target`, each with SESSION_NUMBERS numbers."""
    sessions = [f"{prefix}-{i:02d}" for i in range(count)]
    numbers = random_numbers(SESSION_NUMBERS, seed=7)
    with grpc.insecure_channel(target) as channel:
        stub = median_pb2_grpc.MedianServiceStub(channel)
        for session_id in sessions:
            metadata = ((ROUTING_HEADER, session_id),)
            stub.CreateSession(
                median_pb2.CreateSessionRequest(session_id=session_id),
                metadata=metadata,
                timeout=CALL_TIMEOUT,
            )
            request = median_pb2.AddNumbersRequest(session_id=session_id, numbers=numbers)
            stub.AddNumbers(iter([request]), metadata=metadata, timeout=CALL_TIMEOUT)
    return sessions


@contextmanager
def _clusters(folder: Path) -> Iterator[tuple[LocalCluster, LocalCluster]]:
    """A cluster of one shard and one of two, each behind its own Envoy, running side by side."""
    with ExitStack() as stack:
        clusters = []
        for shards in (1, 2):
            cluster = LocalCluster(
                free_ports(shards + 1),
                folder / f"{shards}-shards",
                server_flags=[
                    *("--session-ttl", "0", "--log-level", "warning"),
                    *("--max-session-numbers", "1000000000", "--max-total-numbers", "1000000000"),
                ],
            )
            cluster.folder.mkdir()
            stack.callback(cluster.stop)
            clusters.append(cluster.start())
        yield clusters[0], clusters[1]


def _setups(one: LocalCluster, two: LocalCluster) -> list[Setup]:
    def processes(cluster: LocalCluster) -> tuple[psutil.Process, ...]:
        return tuple(psutil.Process(p.popen.pid) for p in cluster.processes())

    def envoy(cluster: LocalCluster) -> psutil.Process:
        assert cluster.envoy is not None
        return psutil.Process(cluster.envoy.popen.pid)

    one_shard = tuple(psutil.Process(p.popen.pid) for p in one.shards.values())
    return [
        Setup("one shard, direct", one.addresses[0], one_shard, None),
        Setup("one shard through Envoy", one.target, processes(one), envoy(one)),
        Setup("two shards through Envoy", two.target, processes(two), envoy(two)),
    ]


def run(seconds: float, rounds: int) -> dict[str, Any]:
    """Every setup, every load, `rounds` times in alternation; the best round of each."""
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="median-bench-cluster-") as folder,
        _clusters(Path(folder)) as (one, two),
        multiprocessing.get_context("spawn").Pool(max(LOAD_PROCESSES, INGEST_SESSIONS)) as pool,
    ):
        setups = _setups(one, two)
        query_sessions = {
            one.target: _make_sessions(one.target, "query", QUERY_CLIENTS),
            two.target: _make_sessions(two.target, "query", QUERY_CLIENTS),
        }
        query_sessions[one.addresses[0]] = query_sessions[one.target]
        best: dict[tuple[str, str], Figure] = {}
        for round_number in range(rounds):
            for work in ("get_median", "add_numbers"):
                for number, setup in enumerate(setups):
                    if work == "get_median":
                        sessions = query_sessions[setup.target]
                    else:
                        sessions = _make_sessions(
                            setup.target, f"ingest-{round_number}-{number}", INGEST_SESSIONS
                        )
                    figure = _measure(setup, pool, work, sessions, seconds)
                    key = (setup.name, work)
                    if key not in best or figure.per_second > best[key].per_second:
                        best[key] = figure
        for (name, work), figure in best.items():
            results.setdefault(work, {})[name] = asdict(figure)
    return results


def _ratios(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    ratios: dict[str, dict[str, float]] = {}
    for work, figures in results.items():
        direct = figures["one shard, direct"]["per_second"]
        proxied = figures["one shard through Envoy"]["per_second"]
        two = figures["two shards through Envoy"]["per_second"]
        ratios[work] = {"proxy_vs_direct": proxied / direct, "two_vs_one_shard": two / proxied}
    return ratios


def _cpu_per_call_us(figure: dict[str, Any], kind: str) -> float:
    return 1e6 * float(figure["cpu"][kind]) / max(1, int(figure["calls"]))


def _projection(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """What the CPU per call predicts with a core for every process: each shard's rate alone is
    1 / (its CPU per call), and N shards give N times that while Envoy and the clients have
    cores to spare."""
    projected = {}
    for work, figures in results.items():
        proxied = figures["one shard through Envoy"]
        shard_us = _cpu_per_call_us(proxied, "shards")
        envoy_us = _cpu_per_call_us(proxied, "envoy")
        projected[work] = {
            "shard_cpu_us_per_call": shard_us,
            "envoy_cpu_us_per_call": envoy_us,
            "load_cpu_us_per_call": _cpu_per_call_us(proxied, "load"),
            "one_shard_per_second": 1e6 / shard_us if shard_us else 0.0,
            "envoy_core_per_second": 1e6 / envoy_us if envoy_us else 0.0,
        }
    return projected


UNITS = {"get_median": "calls/s", "add_numbers": "numbers/s"}
TITLES = {
    "get_median": f"GetMedian, {QUERY_CLIENTS} clients (one session each)",
    "add_numbers": f"AddNumbers, batches of {INGEST_BATCH:,}, {INGEST_SESSIONS} sessions at once",
}


def _rate(value: float) -> str:
    for scale, suffix in ((1e6, " M"), (1e3, " k")):
        if value >= scale:
            return f"{value / scale:.2f}{suffix}"
    return f"{value:.0f}"


def render(results: dict[str, Any], meta: dict[str, Any]) -> str:
    """The generated page: figures and ratios only; the explanation is a page of its own."""
    ratios = _ratios(results)
    projected = _projection(results)
    lines = [
        "# Cluster benchmarks",
        "",
        "Made by `make bench` (`python -m bench.cluster`); do not edit by hand. What the figures "
        "mean, and what to expect on more cores: [cluster-performance.md](cluster-performance.md).",
        "",
        f"Run of {meta['time']} (commit {meta['commit']}) on {meta['cpus']} CPUs, Python "
        f"{meta['python']}, {meta['rounds']} rounds of {meta['seconds']:g} s per figure, best "
        "round kept. Load average "
        f"{meta['load_before']:.1f} at the start and {meta['load_after']:.1f} at the end.",
        "",
        "| load | setup | rate | vs | CPU per call or number: shards / Envoy / clients |",
        "| --- | --- | ---: | --- | --- |",
    ]
    for work, figures in results.items():
        for name, figure in figures.items():
            if name == "one shard through Envoy":
                versus = f"{ratios[work]['proxy_vs_direct']:.0%} of direct"
            elif name == "two shards through Envoy":
                versus = f"{ratios[work]['two_vs_one_shard']:.2f}x one shard through Envoy"
            else:
                versus = ""
            scale, unit = (1.0, "µs") if work == "get_median" else (1000.0, "ns")
            cpu = " / ".join(
                f"{scale * _cpu_per_call_us(figure, kind):.1f} {unit}"
                for kind in ("shards", "envoy", "load")
            )
            lines.append(
                f"| {TITLES[work]} | {name} | {_rate(figure['per_second'])} {UNITS[work]} | "
                f"{versus} | {cpu} |"
            )
    lines += [
        "",
        "CPU per call is per GetMedian call, or per number for AddNumbers. With a core for each "
        "process, the CPU per call through Envoy predicts (a shard's gRPC threads let it use "
        "somewhat more than one core, so these are conservative):",
        "",
        "| load | one core of shard | N shards | one Envoy core |",
        "| --- | ---: | ---: | ---: |",
    ]
    for work, figures in projected.items():
        lines.append(
            f"| {TITLES[work]} | {_rate(figures['one_shard_per_second'])} {UNITS[work]} | "
            f"N x {_rate(figures['one_shard_per_second'])} | "
            f"{_rate(figures['envoy_core_per_second'])} {UNITS[work]} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small budgets; no page written")
    args = parser.parse_args(argv)
    seconds, rounds = (1.0, 1) if args.quick else (5.0, 3)
    load_before = os.getloadavg()[0]
    results = run(seconds, rounds)
    meta = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": git_state(ROOT),
        "cpus": cpu_count(),
        "python": platform.python_version(),
        "seconds": seconds,
        "rounds": rounds,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }
    document = {
        "meta": meta,
        "results": results,
        "ratios": _ratios(results),
        "projection": _projection(results),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    page = render(results, meta)
    sys.stdout.write(page)
    if not args.quick:
        PAGE.write_text(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
