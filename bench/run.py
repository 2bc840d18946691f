"""Entry point of the benchmarks: `python -m bench.run [--quick]`.

Runs every measurement with its baselines in this one run, prints one table with the targets,
writes `bench/results/latest.json`, and (full run only) `docs/benchmarks.md` with a plot. The
full run takes a few minutes; `--quick` runs the same code on small budgets in well under a
minute, so that a test can keep the harness from rotting. Servers run in processes of their own;
this process is the client.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import itertools
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from median.v1 import median_pb2
from median_server.median_finder import MedianFinder
from median_server.sessions import Limits, SessionStore
from median_server.storage import FILE_NAME, open_journal

from bench import ghz, inprocess, load, report
from bench.baselines import ClassicMedianFinder
from bench.measure import Budget, LatencySummary, random_numbers, server_cpu
from bench.redis_baseline import RedisServer, RedisUnavailableError, start_redis
from bench.servers import LoopStall, ServerProcess, ServerSettings, running

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "latest.json"
DOCS = ROOT / "docs"
BATCHES = (1, 100, 1_000, 10_000)
SORTED_BATCHES = (1_000, 10_000)  # in process, ascending and descending input
RUNNING_BATCHES = (1, 1_000)
CONCURRENCY = (1, 16)
INGEST_BATCH = 100_000
GROWTH_BATCH = 1_000
SHORT_SEGMENTS_END = 100_000  # segments up to here are short and repeated on scratch sessions
SESSION_NUMBERS = 100
QUERY_SESSION_NUMBERS = 100_000
DEFAULT_TTL = 3600.0
WARM_UP_SESSIONS = 100
READ_BACK_BATCH = 10_000  # numbers per journal row in the read-back folder
MIN_CPU_SECONDS = 0.1  # psutil reads CPU time in 10 ms ticks; less is too coarse to report


@dataclass(frozen=True)
class Plan:
    """How much each measurement may do; `full` and `quick` differ only in these."""

    name: str
    rounds: int  # measurements alternate between targets, round after round; best counts
    inprocess_numbers: int
    add_budgets: dict[int, Budget]  # per batch size: numbers, seconds
    running_budgets: dict[int, Budget]  # per batch size: round trips, seconds
    query_budget: Budget  # GetMedian calls, seconds
    ingest: Budget  # numbers and seconds another client streams while GetMedian is timed
    growth_top: int  # the session grows from 10^3 to this
    growth_repeats: (
        int  # extra runs of the short segments, on scratch sessions, for steadier figures
    )
    sessions: int
    sessions_seconds: float
    store_probe_sessions: int
    ghz_calls: int
    redis_memory_numbers: int
    memory_sessions: int  # many sessions of `memory_session_numbers` each, for bytes per number
    memory_session_numbers: int
    read_back_numbers: int  # numbers in the data folder that is read back


FULL = Plan(
    name="full",
    rounds=3,
    inprocess_numbers=1_000_000,
    add_budgets={
        1: Budget(12_000, 2.5),
        100: Budget(300_000, 2.5),
        1_000: Budget(2_000_000, 2.5),
        10_000: Budget(5_000_000, 2.5),
    },
    running_budgets={1: Budget(4_000, 1.5), 1_000: Budget(2_000, 1.5)},
    query_budget=Budget(20_000, 3.0),
    ingest=Budget(20_000_000, 4.0),
    growth_top=10_000_000,
    growth_repeats=12,
    sessions=100_000,
    sessions_seconds=150.0,
    store_probe_sessions=100_000,
    ghz_calls=20_000,
    redis_memory_numbers=1_000_000,
    memory_sessions=1_000,
    memory_session_numbers=100_000,
    read_back_numbers=10_000_000,
)

QUICK = Plan(
    name="quick",
    rounds=1,
    inprocess_numbers=100_000,
    add_budgets={
        1: Budget(1_500, 0.4),
        100: Budget(30_000, 0.4),
        1_000: Budget(300_000, 0.4),
        10_000: Budget(600_000, 0.4),
    },
    running_budgets={1: Budget(400, 0.4), 1_000: Budget(200, 0.4)},
    query_budget=Budget(1_000, 0.5),
    ingest=Budget(6_000_000, 1.5),
    growth_top=1_000_000,
    growth_repeats=3,
    sessions=2_000,
    sessions_seconds=10.0,
    store_probe_sessions=10_000,
    ghz_calls=2_000,
    redis_memory_numbers=100_000,
    memory_sessions=20,
    memory_session_numbers=20_000,
    read_back_numbers=500_000,
)


# The server under test may hold the query session plus what the ingesting client adds to it.
SERVERS = (
    ServerSettings("median", max_session_numbers=30_000_000),
    ServerSettings("classic"),
    ServerSettings("floor"),
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def section(name: str) -> Iterator[None]:
    log(f"-- {name} ...")
    start = time.perf_counter()
    yield
    log(f"   {name}: {time.perf_counter() - start:.1f} s")


class Targets:
    """The servers under test (and Redis, when it runs), with a blocking client for each."""

    def __init__(self, servers: list[ServerProcess], redis_server: RedisServer | None) -> None:
        self.ours, self.classic, self.floor = (load.Client(server) for server in servers)
        self.redis = redis_server

    def grpc_clients(self) -> dict[str, load.Client]:
        return {"ours": self.ours, "classic": self.classic, "floor": self.floor}

    def close(self) -> None:
        for client in self.grpc_clients().values():
            client.close()


def check_medians(targets: Targets) -> dict[str, Any]:
    """Every implementation gives the exact median of the same data, or the bench stops."""
    numbers = random_numbers(10_001, seed=3)
    expected = statistics.median(numbers)
    finder, classic = MedianFinder(), ClassicMedianFinder()
    finder.add_many(numbers)
    for number in numbers:
        classic.add_num(number)
    found = {"in_process": finder.median(), "classic_in_process": classic.find_median()}
    for name, client in (("ours", targets.ours), ("classic", targets.classic)):
        session_id = client.create_session()
        client.fill(session_id, numbers, batch=1_000)
        answer = client.stub.GetMedian(median_pb2.GetMedianRequest(session_id=session_id))
        found[name] = answer.median
        client.delete_session(session_id)
    if targets.redis:
        targets.redis.add("check", numbers, 1_000)
        found["redis"] = targets.redis.median("check")
        targets.redis.client.delete("check")
    wrong = {name: value for name, value in found.items() if value != expected}
    if wrong:
        raise RuntimeError(f"median should be {expected!r}; these disagree: {wrong}")
    return {"numbers": len(numbers), "median": expected, "agree": sorted(found)}


def measure_in_process(plan: Plan) -> dict[str, Any]:
    rows = inprocess.measure(
        BATCHES, SORTED_BATCHES, plan.inprocess_numbers, plan.rounds, seconds=120.0
    )
    return {"rows": [row.as_dict() for row in rows]}


def best_of(rounds: int, measures: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Each measure's best over `rounds`, the measures alternating within each round."""
    best = dict.fromkeys(measures, 0.0)
    for _ in range(rounds):
        for name, measure in measures.items():
            best[name] = max(best[name], measure())
    return best


def _stream_measure(
    client: load.Client,
    pool: list[median_pb2.AddNumbersRequest],
    budget: Budget,
    cpu: dict[str, list[float]],
    name: str,
) -> float:
    """AddNumbers numbers/s into a fresh session; adds up the server's CPU and the numbers."""
    rate = load.fresh_stream_rate(client, pool, budget)
    spent = cpu.setdefault(name, [0.0, 0.0])
    spent[0] += rate.server_cpu_seconds
    spent[1] += rate.numbers
    return rate.per_second


def _cpu_per_number(cpu: dict[str, list[float]]) -> dict[str, float]:
    """Server CPU ns per number, where enough CPU time was spent to read it (10 ms ticks)."""
    return {
        name: seconds / numbers * 1e9
        for name, (seconds, numbers) in cpu.items()
        if seconds >= MIN_CPU_SECONDS
    }


def _stall_figures(stall: LoopStall) -> dict[str, float]:
    """A round's longest loop stall, the CPU meanwhile, and its longest GC (if one ran)."""
    figures = {
        "server_loop_stall_ms": stall.ms,
        "server_cpu_during_stall_ms": stall.process_cpu_ms,
        "loop_thread_cpu_during_stall_ms": stall.loop_thread_cpu_ms,
    }
    if stall.collections:
        figures["gc_runs"] = stall.collections
        figures["longest_gc_ms"] = stall.longest_collection_ms
    return figures


def _redis_ingest(
    redis_server: RedisServer, numbers: list[float], batch: int, budget: Budget
) -> float:
    key = f"add-{batch}"
    rate = redis_server.ingest_rate(key, numbers, batch, budget)
    redis_server.client.delete(key)
    return rate


def _redis_round_trips(redis_server: RedisServer, batch: int, budget: Budget) -> float:
    rate = redis_server.round_trips("running", batch, budget)
    redis_server.client.delete("running")
    return rate


def measure_add_numbers(plan: Plan, targets: Targets) -> dict[str, Any]:
    rows = []
    for batch in BATCHES:
        budget = plan.add_budgets[batch]
        pool = load.request_pool(batch, budget.count, seed=batch)
        cpu: dict[str, list[float]] = {}
        measures: dict[str, Callable[[], float]] = {
            name: functools.partial(_stream_measure, client, pool, budget, cpu, name)
            for name, client in targets.grpc_clients().items()
        }
        for client in targets.grpc_clients().values():  # warm up each stream path
            load.fresh_stream_rate(client, pool, budget.scaled(0.05))
        if targets.redis:
            numbers = random_numbers(min(budget.count, 1_000_000), seed=batch)
            measures["redis"] = functools.partial(
                _redis_ingest, targets.redis, numbers, batch, budget
            )
        row: dict[str, Any] = {"batch": batch, **best_of(plan.rounds, measures)}
        row["server_cpu_ns_per_number"] = _cpu_per_number(cpu)
        rows.append(row)
        log(f"   batch {batch}: " + report.rates_line(row))
    return {"rows": rows}


def measure_running_median(plan: Plan, targets: Targets) -> dict[str, Any]:
    rows = []
    for batch in RUNNING_BATCHES:
        budget = plan.running_budgets[batch]
        measures: dict[str, Callable[[], float]] = {
            name: functools.partial(
                load.running_median_round_trips, client.server.target, batch, budget
            )
            for name, client in targets.grpc_clients().items()
        }
        if targets.redis:
            measures["redis"] = functools.partial(_redis_round_trips, targets.redis, batch, budget)
        row: dict[str, Any] = {"batch": batch, **best_of(plan.rounds, measures)}
        rows.append(row)
        log(f"   batch {batch}: " + report.rates_line(row))
    return {"rows": rows}


def measure_get_median(plan: Plan, targets: Targets) -> dict[str, Any]:
    numbers = random_numbers(QUERY_SESSION_NUMBERS, seed=4)
    ours_session = targets.ours.create_session()
    targets.ours.fill(ours_session, numbers)
    floor_session = targets.floor.create_session()
    if targets.redis:
        targets.redis.add("query", numbers, 10_000)
    rows = []
    for clients in CONCURRENCY:
        runs: dict[str, tuple[Callable[[], LatencySummary], ServerProcess | None]] = {
            "ours": (
                functools.partial(
                    load.get_median_load,
                    targets.ours.server.target,
                    ours_session,
                    clients,
                    plan.query_budget,
                ),
                targets.ours.server,
            ),
            "floor": (
                functools.partial(
                    load.get_median_load,
                    targets.floor.server.target,
                    floor_session,
                    clients,
                    plan.query_budget,
                ),
                targets.floor.server,
            ),
        }
        if targets.redis:
            runs["redis"] = (
                functools.partial(targets.redis.query_latency, "query", clients, plan.query_budget),
                None,
            )
        best: dict[str, dict[str, float]] = {}
        for _ in range(plan.rounds):
            for name, (run, server) in runs.items():
                with server_cpu(server) as cpu:
                    summary = run().as_dict()
                if server is not None and cpu.seconds >= MIN_CPU_SECONDS:
                    summary["server_cpu_us_per_call"] = cpu.seconds / summary["calls"] * 1e6
                if summary["per_second"] > best.get(name, {}).get("per_second", 0.0):
                    best[name] = summary
        rows.append({"clients": clients, **best})
        log(f"   {clients} clients: " + report.rates_line(rows[-1]))
    with section("GetMedian under ingest"):
        rounds = []
        for _ in range(plan.rounds):
            session_id = targets.ours.create_session()  # fresh each round: it grows a lot
            targets.ours.fill(session_id, numbers)
            under = load.get_median_under_ingest(
                targets.ours.server, session_id, INGEST_BATCH, plan.ingest, max_calls=1_000_000
            )
            after = targets.ours.stub.GetMedian(median_pb2.GetMedianRequest(session_id=session_id))
            targets.ours.delete_session(session_id)
            rounds.append((under, after.number_count - len(numbers)))
            log(
                f"   max {under.latency.max_ms:.1f} ms, p99 {under.latency.p99_ms:.1f} ms, "
                f"server loop stall {under.server_loop_stall.ms:.1f} ms "
                f"({under.server_loop_stall.process_cpu_ms:.1f} ms of server CPU meanwhile), "
                f"longest GC {under.server_loop_stall.longest_collection_ms:.1f} ms"
            )
        # The worst round counts: the garbage collector's pauses are the server's own, and
        # whether one falls into a round is chance.
        under, ingested = max(rounds, key=lambda found: found[0].latency.max_ms)
    targets.ours.delete_session(ours_session)
    targets.floor.delete_session(floor_session)
    if targets.redis:
        targets.redis.client.delete("query")
    return {
        "rows": rows,
        "under_ingest": {
            **under.latency.as_dict(),
            "batch": INGEST_BATCH,
            "ingested_numbers": ingested,
            "ingest_per_second": ingested / under.ingest_seconds,
            **_stall_figures(under.server_loop_stall),
            "rounds": [
                {"max_ms": found.latency.max_ms, **_stall_figures(found.server_loop_stall)}
                for found, _ in rounds
            ],
        },
    }


def measure_ghz(plan: Plan, targets: Targets) -> dict[str, Any]:
    tool = ghz.ensure_ghz(install=plan is FULL)
    numbers = random_numbers(1_000, seed=6)
    ours_session = targets.ours.create_session()
    targets.ours.fill(ours_session, numbers)
    floor_session = targets.floor.create_session()
    result: dict[str, Any] = {"version": ghz.GHZ_VERSION, "concurrency": 16}
    for name, client, session_id in (
        ("ours", targets.ours, ours_session),
        ("floor", targets.floor, floor_session),
    ):
        run = ghz.run_ghz(tool, client.server.target, session_id, 16, plan.ghz_calls, 300.0)
        result[name] = run.as_dict()
    targets.ours.delete_session(ours_session)
    targets.floor.delete_session(floor_session)
    return result


def _grow(
    plan: Plan, marks: list[int], sessions: int
) -> tuple[list[list[tuple[int, float]]], int, int, float]:
    """Grows `sessions` sessions through `marks` on a fresh server, one after the other.

    Returns the crossings of each run, the numbers the last session holds at the end, the
    growth of the server's resident memory over the runs (measured after the warm-up), and
    how long a full garbage collection takes in the server at the end.
    """
    settings = ServerSettings("median", max_session_numbers=plan.growth_top)
    rss: list[int] = []
    with running(settings) as (server,):
        client = load.Client(server)
        try:
            runs = [(client.create_session(), marks) for _ in range(sessions)]
            crossings = load.growth(
                server.target,
                runs,
                GROWTH_BATCH,
                seconds=600.0,
                warm_session=client.create_session(),
                after_warm_up=lambda: rss.append(server.rss_bytes()),
            )
            rss.append(server.rss_bytes())
            last = runs[-1][0]
            final = client.stub.GetMedian(median_pb2.GetMedianRequest(session_id=last))
            collection_ms = server.full_collection_ms()
        finally:
            client.close()
    return crossings, final.number_count, rss[1] - rss[0], collection_ms


def measure_growth(plan: Plan, redis_server: RedisServer | None) -> dict[str, Any]:
    """Numbers/s as one session grows from 10^3 to the plan's top, and its memory at the top.

    The short segments (up to 10^5 numbers, a few milliseconds each) are also measured on
    scratch sessions of a server of their own, and each segment's figure is the median over
    the runs that cover it. The long run has a fresh server to itself, so that its memory is
    its own.
    """
    marks = [10**power for power in range(3, 8) if 10**power <= plan.growth_top]
    short_marks = [mark for mark in marks if mark <= SHORT_SEGMENTS_END]
    short_runs, _, _, _ = _grow(plan, short_marks, plan.growth_repeats)
    (main_run,), stored, grown, collection_ms = _grow(plan, marks, 1)
    runs = [(marks, main_run)] + [(short_marks, run) for run in short_runs]
    points = []
    for low, high in itertools.pairwise(marks):
        rates = []
        for run_marks, run in runs:
            at = dict(zip(run_marks, run, strict=False))
            if low in at and high in at:
                rates.append((at[high][0] - at[low][0]) / (at[high][1] - at[low][1]))
        if rates:
            points.append(
                {
                    "from": low,
                    "to": high,
                    "per_second": statistics.median(rates),
                    "runs": len(rates),
                }
            )
    result: dict[str, Any] = {
        "batch": GROWTH_BATCH,
        "points": points,
        "stored_numbers": stored,
        "bytes_per_number": grown / stored,
        "full_gc_ms": collection_ms,
    }
    if redis_server:
        result["redis_bytes_per_number"] = redis_memory(redis_server, plan.redis_memory_numbers)
        result["redis_numbers"] = plan.redis_memory_numbers
    return result


def redis_memory(redis_server: RedisServer, count: int) -> float:
    """used_memory per number of one sorted set of `count` numbers."""
    before = redis_server.used_memory()
    redis_server.add("memory", random_numbers(count, seed=9), 10_000)
    used = redis_server.used_memory() - before
    redis_server.client.delete("memory")
    return used / count


def measure_sessions(plan: Plan) -> dict[str, Any]:
    """Many small sessions on a fresh server with the time-to-live off (see the probe)."""
    settings = ServerSettings(
        "median",
        max_sessions=plan.sessions + WARM_UP_SESSIONS,
        max_total_numbers=max(100_000_000, plan.sessions * SESSION_NUMBERS),
        session_ttl=0,
    )
    with running(settings) as (server,):
        # Warm-up: the connection and the first allocations are not the sessions' memory.
        load.create_sessions(server.target, WARM_UP_SESSIONS, 30.0)
        rss_start = server.rss_bytes()
        start = time.perf_counter()
        session_ids = load.create_sessions(server.target, plan.sessions, plan.sessions_seconds)
        create_rate = len(session_ids) / (time.perf_counter() - start)
        rss_created = server.rss_bytes()
        numbers = random_numbers(SESSION_NUMBERS, seed=10)
        start = time.perf_counter()
        filled = load.fill_sessions(server.target, session_ids, numbers, plan.sessions_seconds)
        fill_rate = filled / (time.perf_counter() - start)
        rss_filled = server.rss_bytes()
    probe_small = inprocess.store_create_rate(1_000, DEFAULT_TTL, 1_000)
    probe_large = inprocess.store_create_rate(plan.store_probe_sessions, DEFAULT_TTL, 100)
    probe_off = inprocess.store_create_rate(plan.store_probe_sessions, 0, 1_000)
    return {
        "sessions": len(session_ids),
        "numbers_each": SESSION_NUMBERS,
        "server_flags": "--session-ttl 0",
        "create_per_second": create_rate,
        "fill_per_second": fill_rate,
        "filled": filled,
        "bytes_per_empty_session": (rss_created - rss_start) / len(session_ids),
        "bytes_per_session": (rss_filled - rss_start) / len(session_ids),
        "store_create_probe": {
            "default_ttl": DEFAULT_TTL,
            "at_1000_sessions": probe_small,
            "at_many_sessions": probe_large,
            "many_sessions": plan.store_probe_sessions,
            "at_many_sessions_ttl_off": probe_off,
        },
    }


def measure_many_sessions_memory(plan: Plan) -> dict[str, Any]:
    """Resident memory per number of many sessions filled by AddNumbers, on a fresh server."""
    sessions, each = plan.memory_sessions, plan.memory_session_numbers
    total = sessions * each
    settings = ServerSettings(
        "median",
        max_sessions=sessions + WARM_UP_SESSIONS,
        max_total_numbers=total + each,
        session_ttl=0,
    )
    batch = min(10_000, each)
    pool = load.request_pool(batch, each, seed=12)
    budget = Budget(each, 600.0)
    with running(settings) as (server,):
        client = load.Client(server)
        try:
            load.fresh_stream_rate(client, pool, budget)  # warm-up: a session made and deleted
            rss_start = server.rss_bytes()
            start = time.perf_counter()
            stored = 0
            for _ in range(sessions):
                stored += client.add_numbers(client.create_session(), pool, budget).numbers
            elapsed = time.perf_counter() - start
            rss_end = server.rss_bytes()
        finally:
            client.close()
    return {
        "sessions": sessions,
        "numbers_each": each,
        "stored_numbers": stored,
        "bytes_per_number": (rss_end - rss_start) / stored,
        "ingest_per_second": stored / elapsed,
        "batch": batch,
    }


async def _write_data_folder(folder: Path, numbers: Any, batch: int) -> None:
    """A data folder with one session of `numbers`, one journal row per `batch` numbers."""
    journal = open_journal(folder, sync="batch")
    journal.start()
    journal.create("", "read-back", time.time())
    await journal.barrier()
    commits = [
        journal.append("", "read-back", numbers[start : start + batch], "", time.time())
        for start in range(0, len(numbers), batch)
    ]
    await asyncio.gather(*commits)
    await journal.close()


def measure_read_back(plan: Plan) -> dict[str, Any]:
    """Seconds to open a data folder of one session and read every number back into memory.

    What the server does at start with `--data-dir`: open the database, read every row of
    numbers, check their checksums and build the session's MedianFinder. The folder was just
    written, so the file is in the page cache: this is the read-back without the disk's
    latency, i.e. the part the server's own code decides.
    """
    count = plan.read_back_numbers
    numbers = np.random.default_rng(13).random(count)
    folder = Path(tempfile.mkdtemp(prefix="median-read-back-"))
    try:
        asyncio.run(_write_data_folder(folder, numbers, READ_BACK_BATCH))
        size = (folder / FILE_NAME).stat().st_size
        best = math.inf
        for _ in range(3):
            gc.collect()
            start = time.perf_counter()
            journal = open_journal(folder)
            store = SessionStore(
                Limits(max_session_numbers=count, max_total_numbers=count),
                clock=time.time,
                journal=journal,
            )
            sessions, restored = store.restore()
            elapsed = time.perf_counter() - start
            median = store.snapshot("read-back").median
            asyncio.run(journal.close())
            best = min(best, elapsed)
        if (sessions, restored) != (1, count) or median != float(np.median(numbers)):
            raise RuntimeError(f"read back {restored} numbers with median {median}: wrong")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "numbers": count,
        "rows": math.ceil(count / READ_BACK_BATCH),
        "file_bytes": size,
        "seconds": best,
        "numbers_per_second": count / best,
    }


def run(plan: Plan, results_path: Path, docs: Path | None) -> dict[str, Any]:
    started = time.time()
    results: dict[str, Any] = {
        "meta": {
            "mode": plan.name,
            "python": platform.python_version(),
            "grpcio": grpc.__version__,
            "machine": platform.machine(),
            "cpus": report.cpu_count(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "commit": report.git_state(ROOT),
            "rounds": plan.rounds,
            "load_average": [os.getloadavg()[0]],
            "skipped": {},
        }
    }
    skipped: dict[str, str] = results["meta"]["skipped"]
    with ExitStack() as stack:
        redis_server: RedisServer | None = None
        try:
            redis_server = stack.enter_context(start_redis())
            results["meta"]["redis"] = redis_server.version
        except RedisUnavailableError as error:
            skipped["redis"] = str(error)
            log(f"!! {error}")
        with section("in process"):
            results["in_process"] = measure_in_process(plan)
        with running(*SERVERS) as servers:
            targets = Targets(servers, redis_server)
            try:
                with section("checks"):
                    results["checks"] = check_medians(targets)
                with section("AddNumbers"):
                    results["add_numbers"] = measure_add_numbers(plan, targets)
                with section("RunningMedian"):
                    results["running_median"] = measure_running_median(plan, targets)
                with section("GetMedian"):
                    results["get_median"] = measure_get_median(plan, targets)
                with section("ghz"):
                    try:
                        results["ghz"] = measure_ghz(plan, targets)
                    except ghz.GhzUnavailableError as error:
                        skipped["ghz"] = str(error)
                        log(f"!! {error}")
            finally:
                targets.close()
        with section("growth and memory"):
            results["growth"] = measure_growth(plan, redis_server)
        with section("many sessions"):
            results["sessions"] = measure_sessions(plan)
        with section("memory of many sessions"):
            results["memory"] = measure_many_sessions_memory(plan)
        with section("read-back of a data folder"):
            results["read_back"] = measure_read_back(plan)
    results["meta"]["duration_seconds"] = time.time() - started
    results["meta"]["load_average"].append(os.getloadavg()[0])
    results["targets"] = report.evaluate_targets(results)
    print(report.table(results))
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {results_path}")
    if docs is not None:
        written = report.write_docs(results, docs)
        log("wrote " + ", ".join(str(path) for path in written))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budgets, under a minute")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the JSON")
    parser.add_argument(
        "--docs", type=Path, default=DOCS, help="where the full run writes benchmarks.md and plot"
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    run(plan, args.results, None if args.quick else args.docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
