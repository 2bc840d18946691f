"""Servers under test, each in a process of its own on a free loopback port.

`median` is the real server, built by `median_server.server.start_server`; `classic` and `floor`
are the bench-only servicers of `bench.baselines` on a plain grpc.aio server with the same
message-size limit. The parent keeps a `ServerProcess` handle: its address, and the process's
CPU time and resident memory, read with psutil, so that a measurement can say what the server
spent on it; on request, a task inside the server process measures its event loop's stalls.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType

import grpc
import psutil
from median.v1 import median_pb2_grpc
from median_server.config import Config
from median_server.server import start_server

from bench.baselines import ClassicServicer, CountingServicer

HOST = "127.0.0.1"
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # the server's default, for every kind
START_TIMEOUT = 60.0  # seconds for a process to import grpc and bind its port
KINDS = ("median", "classic", "floor")
LAG_TICK = 0.005  # seconds between the loop-lag watcher's wake-ups


@dataclass(frozen=True)
class ServerSettings:
    """What a server process is started with; limits apply to the `median` kind only."""

    kind: str
    max_sessions: int = 10_000
    max_session_numbers: int = 10_000_000
    max_total_numbers: int = 100_000_000
    session_ttl: float = 3600.0


class ServerProcess:
    """A running server process: `target` to dial, and its CPU time and memory."""

    def __init__(self, process: BaseProcess, conn: Connection, settings: ServerSettings) -> None:
        self._process = process
        self._conn = conn
        self.settings = settings
        self.port = 0
        self._ps: psutil.Process | None = None

    @property
    def target(self) -> str:
        return f"{HOST}:{self.port}"

    def wait_started(self) -> None:
        if not self._conn.poll(START_TIMEOUT):
            self.stop()
            raise RuntimeError(f"the {self.settings.kind} server did not start in time")
        message = self._conn.recv()
        if not isinstance(message, int):
            self.stop()
            raise RuntimeError(f"the {self.settings.kind} server failed to start: {message}")
        self.port = message
        assert self._process.pid is not None
        self._ps = psutil.Process(self._process.pid)

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server process has used so far."""
        assert self._ps is not None
        times = self._ps.cpu_times()
        return float(times.user + times.system)

    def rss_bytes(self) -> int:
        """The server process's resident memory now."""
        assert self._ps is not None
        return int(self._ps.memory_info().rss)

    @contextlib.contextmanager
    def loop_lag(self) -> Iterator[list[LoopStall]]:
        """The longest event-loop stall in the server during the block (filled in after it).

        A task in the server process sleeps 5 ms at a time and notes how late it wakes: a late
        wake-up means the loop was busy with something else, or the process had no CPU.
        """
        found: list[LoopStall] = []
        self._conn.send("lag-start")
        try:
            yield found
        finally:
            self._conn.send("lag-stop")
            if not self._conn.poll(30):
                raise RuntimeError(f"the {self.settings.kind} server did not report its loop lag")
            stall = self._conn.recv()
            if not isinstance(stall, LoopStall):
                raise RuntimeError(f"the {self.settings.kind} server answered {stall!r}")
            found.append(stall)

    def full_collection_ms(self) -> float:
        """How long one full garbage collection takes in the server now, in ms.

        The collector runs on the event loop's thread, so this is also how long the server
        stops answering whenever Python decides to collect its oldest generation.
        """
        self._conn.send("collect")
        if not self._conn.poll(120):
            raise RuntimeError(f"the {self.settings.kind} server did not report its collection")
        return float(self._conn.recv())

    def stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self._conn.send("stop")
        self._process.join(timeout=15)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)
        self._conn.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start(*settings: ServerSettings) -> list[ServerProcess]:
    """Starts one process per settings, all at once, and waits until every one listens."""
    context = multiprocessing.get_context("spawn")  # no fork: gRPC's threads do not survive it
    servers = []
    for one in settings:
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(one, child), daemon=True)
        process.start()
        child.close()
        servers.append(ServerProcess(process, parent, one))
    try:
        for server in servers:
            server.wait_started()
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


@contextlib.contextmanager
def running(*settings: ServerSettings) -> Iterator[list[ServerProcess]]:
    """Servers for the duration of a block."""
    servers = start(*settings)
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def _serve(settings: ServerSettings, conn: Connection) -> None:
    """The child process: serve until the parent says stop or goes away."""
    logging.basicConfig(level=logging.WARNING)
    try:
        asyncio.run(_serve_async(settings, conn))
    except Exception as error:
        with contextlib.suppress(OSError):
            conn.send(f"{type(error).__name__}: {error}")
        raise


async def _serve_async(settings: ServerSettings, conn: Connection) -> None:
    server: grpc.aio.Server
    if settings.kind == "median":
        config = Config(
            host=HOST,
            port=0,
            max_sessions=settings.max_sessions,
            max_session_numbers=settings.max_session_numbers,
            max_total_numbers=settings.max_total_numbers,
            max_message_bytes=MAX_MESSAGE_BYTES,
            session_ttl=settings.session_ttl,
            log_level="warning",
        )
        median_server = await start_server(config)
        server, port = median_server.grpc_server, median_server.port
    elif settings.kind in ("classic", "floor"):
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)])
        servicer = ClassicServicer() if settings.kind == "classic" else CountingServicer()
        median_pb2_grpc.add_MedianServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port(f"{HOST}:0")
        await server.start()
    else:
        raise ValueError(f"unknown server kind {settings.kind!r}; one of {', '.join(KINDS)}")
    conn.send(port)
    await _obey(conn)
    await server.stop(None)


async def _obey(conn: Connection) -> None:
    """Answers the parent's requests until it says stop or goes away."""
    loop = asyncio.get_running_loop()
    longest = LoopStall()
    watcher: asyncio.Task[None] | None = None
    collections = _CollectionWatch(longest)
    while True:
        try:
            message = await loop.run_in_executor(None, conn.recv)
        except (EOFError, OSError):
            return  # the parent is gone
        if message == "stop":
            return
        if message == "lag-start":
            longest = LoopStall()
            collections = _CollectionWatch(longest)
            gc.callbacks.append(collections)
            watcher = asyncio.create_task(_watch_loop(longest))
        elif message == "collect":
            started = time.perf_counter()
            gc.collect()
            conn.send((time.perf_counter() - started) * 1e3)
        elif message == "lag-stop" and watcher is not None:
            watcher.cancel()
            gc.callbacks.remove(collections)
            conn.send(longest)


@dataclass
class LoopStall:
    """The longest stall of a server's event loop, what the server did meanwhile, and its GC.

    When the process's CPU time during the stall is close to the stall, the server was busy
    (its own work held the loop); when it is much less, the process was waiting for a CPU that
    other processes had. Python's garbage collector runs on the loop's thread and traverses
    every list, so its longest pause is noted too.
    """

    ms: float = 0.0
    process_cpu_ms: float = 0.0
    loop_thread_cpu_ms: float = 0.0
    longest_collection_ms: float = 0.0
    longest_collection_generation: int = -1
    collections: int = 0


class _CollectionWatch:
    """A gc callback that notes the longest garbage collection into a LoopStall."""

    def __init__(self, into: LoopStall) -> None:
        self._into = into
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = (time.perf_counter() - self._started) * 1e3
        self._into.collections += 1
        if took > self._into.longest_collection_ms:
            self._into.longest_collection_ms = took
            self._into.longest_collection_generation = info["generation"]


async def _watch_loop(longest: LoopStall) -> None:
    """Notes the longest time the event loop kept a short sleep waiting past its end."""
    while True:
        wall, process, thread = time.perf_counter(), time.process_time(), time.thread_time()
        await asyncio.sleep(LAG_TICK)
        stall = time.perf_counter() - wall - LAG_TICK
        if stall * 1e3 > longest.ms:
            longest.ms = stall * 1e3
            longest.process_cpu_ms = (time.process_time() - process) * 1e3
            longest.loop_thread_cpu_ms = (time.thread_time() - thread) * 1e3
