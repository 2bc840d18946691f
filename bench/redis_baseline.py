"""The Redis baseline: an exact running median on a sorted set, as many users would build it.

Numbers go in with pipelined `ZADD`, each under a unique member so that duplicates count; the
median comes back from a Lua script in one round trip (`ZCARD`, then `ZRANGE` of the middle one
or two ranks). The bench starts its own `redis-server` on a free loopback port, without
persistence, and stops it; when Redis is not installed, `start_redis` says so and the Redis
column is skipped.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psutil
import redis
import redis.asyncio

from bench.measure import Budget, Deadline, LatencySummary, random_numbers
from deploy.cluster import free_port

HOST = "127.0.0.1"
NUMBERS_PER_ROUND_TRIP = 10_000  # pipelined ZADDs are flushed after about this many numbers
MEDIAN_SCRIPT = """
local n = redis.call('ZCARD', KEYS[1])
if n == 0 then return false end
local middle = math.floor((n - 1) / 2)
local last = middle
if n % 2 == 0 then last = middle + 1 end
local found = redis.call('ZRANGE', KEYS[1], middle, last, 'WITHSCORES')
if n % 2 == 1 then return {n, found[2]} end
return {n, found[2], found[4]}
"""


class RedisUnavailableError(RuntimeError):
    """redis-server is not installed or did not start; the message says which."""


def _median_of(answer: Any) -> float | None:
    """The script's answer ([count, middle] or [count, low, high]) as a median."""
    if not answer:
        return None
    if len(answer) == 2:
        return float(answer[1])
    low, high = float(answer[1]), float(answer[2])
    return (low + high) / 2


@dataclass
class RedisServer:
    """A redis-server process of the bench's own, and a client connected to it."""

    process: subprocess.Popen[bytes]
    port: int
    client: redis.Redis
    version: str
    _median_sha: str = ""
    _next_member: int = 0

    @property
    def rss_bytes(self) -> int:
        return int(psutil.Process(self.process.pid).memory_info().rss)

    def used_memory(self) -> int:
        return int(self.client.info("memory")["used_memory"])

    def median_sha(self) -> str:
        if not self._median_sha:
            self._median_sha = str(self.client.script_load(MEDIAN_SCRIPT))
        return self._median_sha

    def median(self, key: str) -> float | None:
        return _median_of(self.client.evalsha(self.median_sha(), 1, key))

    def _members(self, numbers: list[float]) -> list[Any]:
        """ZADD arguments: score, unique member, score, unique member, ..."""
        first = self._next_member
        self._next_member += len(numbers)
        arguments: list[Any] = [None] * (2 * len(numbers))
        arguments[0::2] = numbers
        arguments[1::2] = range(first, first + len(numbers))
        return arguments

    def add(self, key: str, numbers: list[float], batch: int) -> None:
        """Pipelined ZADD of `batch` numbers per command, untimed."""
        self.ingest_rate(key, numbers, batch, Budget(len(numbers), 3600.0))

    def ingest_rate(self, key: str, numbers: list[float], batch: int, budget: Budget) -> float:
        """Numbers/s of pipelined ZADDs of `batch` numbers each, flushed every ~10,000 numbers."""
        commands_per_flush = max(1, NUMBERS_PER_ROUND_TRIP // batch)
        limit = min(budget.count, len(numbers))
        prepared = [
            self._members(numbers[start : start + batch]) for start in range(0, limit, batch)
        ]
        deadline = Deadline(budget.seconds)
        added = 0
        start = time.perf_counter()
        for first in range(0, len(prepared), commands_per_flush):
            if first and deadline.passed():
                break
            pipe = self.client.pipeline(transaction=False)
            command: Callable[..., Any] = pipe.execute_command
            for arguments in prepared[first : first + commands_per_flush]:
                command("ZADD", key, *arguments)
            added += sum(pipe.execute())
        return added / (time.perf_counter() - start)

    def round_trips(self, key: str, batch: int, budget: Budget) -> float:
        """Round trips/s of ZADD of `batch` numbers plus the median script, one pipeline each."""
        numbers = random_numbers(batch * min(budget.count, 64), seed=batch + 7)
        prepared = [
            self._members(numbers[start : start + batch]) for start in range(0, len(numbers), batch)
        ]
        sha = self.median_sha()
        deadline = Deadline(budget.seconds)
        trips = 0
        start = time.perf_counter()
        while trips < budget.count and not deadline.passed():
            pipe = self.client.pipeline(transaction=False)
            command: Callable[..., Any] = pipe.execute_command
            command("ZADD", key, *prepared[trips % len(prepared)])
            pipe.evalsha(sha, 1, key)
            pipe.execute()
            trips += 1
        return trips / (time.perf_counter() - start)

    def query_latency(self, key: str, clients: int, budget: Budget) -> LatencySummary:
        """Median-script calls from `clients` concurrent connections, each in a loop."""
        return asyncio.run(self._query_latency(key, clients, budget))

    async def _query_latency(self, key: str, clients: int, budget: Budget) -> LatencySummary:
        connections = [
            redis.asyncio.Redis(host=HOST, port=self.port, single_connection_client=True)
            for _ in range(clients)
        ]
        sha = self.median_sha()
        try:
            for connection in connections:
                await connection.evalsha(sha, 1, key)
            latencies: list[int] = []
            deadline = Deadline(budget.seconds)

            async def one_client(connection: redis.asyncio.Redis) -> None:
                clock = time.perf_counter_ns
                while len(latencies) < budget.count and not deadline.passed():
                    sent = clock()
                    await connection.evalsha(sha, 1, key)
                    latencies.append(clock() - sent)

            start = time.perf_counter()
            await asyncio.gather(*(one_client(connection) for connection in connections))
            return LatencySummary.of(latencies, time.perf_counter() - start)
        finally:
            for connection in connections:
                await connection.aclose()

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@contextmanager
def start_redis() -> Iterator[RedisServer]:
    """A private redis-server on a free loopback port, stopped when the block ends."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise RedisUnavailableError(
            "redis-server is not installed (Debian: apt-get install redis-server); "
            "the Redis column is skipped"
        )
    port = free_port(HOST)
    settings = {
        "bind": HOST,
        "port": str(port),
        "save": "",  # no snapshots and no append-only file: a bench needs no persistence
        "appendonly": "no",
        "protected-mode": "yes",
        "loglevel": "warning",
    }
    arguments = [part for name, value in settings.items() for part in (f"--{name}", value)]
    process = subprocess.Popen(
        [executable, *arguments],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host=HOST, port=port)
    deadline = Deadline(15.0)
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if process.poll() is not None or deadline.passed():
                process.kill()
                process.wait(timeout=5)
                raise RedisUnavailableError(
                    f"redis-server did not start on {HOST}:{port}; the Redis column is skipped"
                ) from None
            time.sleep(0.05)
    server = RedisServer(process, port, client, str(client.info("server")["redis_version"]))
    try:
        yield server
    finally:
        server.stop()
