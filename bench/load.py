"""Client load over gRPC: the calls each end-to-end measurement makes, bounded in count and time.

Requests are built before the clock starts, so that the client spends its time sending. Streams
of batches use the blocking stubs (the fastest Python client for that); lockstep round trips and
concurrent unary calls use grpc.aio. The same code drives the real server and the baselines, so
that their figures differ only by the server.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.synchronize import Event

import grpc
from median.v1 import median_pb2, median_pb2_grpc

from bench.measure import Budget, Deadline, LatencySummary, random_numbers
from bench.servers import LoopStall, ServerProcess

POOL_NUMBERS = 1 << 18  # distinct numbers prebuilt per batch size; streams cycle through them
CALL_TIMEOUT = 120.0  # seconds; no single call of the bench may hang longer
WARM_UP_NUMBERS = 200_000  # streamed on a channel before its timed streams


@dataclass(frozen=True)
class StreamRate:
    """Numbers/s of one stream, and the server CPU time it cost."""

    per_second: float
    numbers: int
    server_cpu_seconds: float


def request_pool(batch: int, total: int, seed: int) -> list[median_pb2.AddNumbersRequest]:
    """Prebuilt AddNumbers requests of `batch` numbers each, at most POOL_NUMBERS in all."""
    count = max(1, min(total, POOL_NUMBERS) // batch)
    numbers = random_numbers(count * batch, seed)
    return [
        median_pb2.AddNumbersRequest(numbers=numbers[i * batch : (i + 1) * batch])
        for i in range(count)
    ]


class Client:
    """Blocking stubs on one channel to one server, kept for the whole run."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.channel = grpc.insecure_channel(server.target)
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = median_pb2_grpc.MedianServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def create_session(self) -> str:
        answer = self.stub.CreateSession(median_pb2.CreateSessionRequest(), timeout=CALL_TIMEOUT)
        return answer.session_id

    def delete_session(self, session_id: str) -> None:
        self.stub.DeleteSession(
            median_pb2.DeleteSessionRequest(session_id=session_id), timeout=CALL_TIMEOUT
        )

    def add_numbers(
        self,
        session_id: str,
        pool: list[median_pb2.AddNumbersRequest],
        budget: Budget,
    ) -> StreamRate:
        """One AddNumbers stream of up to `budget.count` numbers, cycling through `pool`."""
        batch = len(pool[0].numbers)
        requests = max(1, budget.count // batch)
        first = median_pb2.AddNumbersRequest(session_id=session_id, numbers=pool[0].numbers)
        deadline = Deadline(budget.seconds)

        def stream() -> Iterator[median_pb2.AddNumbersRequest]:
            yield first
            for index in range(1, requests):
                if deadline.passed():
                    return
                yield pool[index % len(pool)]

        cpu_before = self.server.cpu_seconds()
        start = time.perf_counter()
        answer = self.stub.AddNumbers(stream(), timeout=CALL_TIMEOUT)
        elapsed = time.perf_counter() - start
        cpu = self.server.cpu_seconds() - cpu_before
        added = answer.added_count
        if added < batch:
            raise RuntimeError(f"AddNumbers added {added} numbers; at least {batch} were sent")
        return StreamRate(added / elapsed, added, cpu)

    def fill(self, session_id: str, numbers: list[float], batch: int = 10_000) -> None:
        """Adds numbers to a session, untimed: set-up for the measurements that need data."""

        def stream() -> Iterator[median_pb2.AddNumbersRequest]:
            for start in range(0, len(numbers), batch):
                yield median_pb2.AddNumbersRequest(
                    session_id=session_id, numbers=numbers[start : start + batch]
                )

        self.stub.AddNumbers(stream(), timeout=CALL_TIMEOUT)


def fresh_stream_rate(
    client: Client, pool: list[median_pb2.AddNumbersRequest], budget: Budget
) -> StreamRate:
    """AddNumbers into a new session, which is deleted afterwards to give its memory back."""
    session_id = client.create_session()
    try:
        return client.add_numbers(session_id, pool, budget)
    finally:
        client.delete_session(session_id)


async def _running_median_round_trips(target: str, batch: int, budget: Budget) -> float:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = median_pb2_grpc.MedianServiceStub(channel)
        created = await stub.CreateSession(median_pb2.CreateSessionRequest(), timeout=CALL_TIMEOUT)
        session_id = created.session_id
        pool = [
            median_pb2.RunningMedianRequest(numbers=request.numbers)
            for request in request_pool(batch, budget.count * batch, seed=batch + 7)
        ]
        call = stub.RunningMedian(None, timeout=CALL_TIMEOUT)
        await call.write(median_pb2.RunningMedianRequest(session_id=session_id))
        await call.read()  # the stream is open and bound; time what follows
        deadline = Deadline(budget.seconds)
        trips = 0
        start = time.perf_counter()
        while trips < budget.count and not deadline.passed():
            await call.write(pool[trips % len(pool)])
            answer = await call.read()
            if not isinstance(answer, median_pb2.RunningMedianResponse):
                raise RuntimeError("RunningMedian ended early")
            trips += 1
        elapsed = time.perf_counter() - start
        await call.done_writing()
        if await call.code() != grpc.StatusCode.OK:
            raise RuntimeError(f"RunningMedian failed: {await call.details()}")
        await stub.DeleteSession(
            median_pb2.DeleteSessionRequest(session_id=session_id), timeout=CALL_TIMEOUT
        )
        return trips / elapsed


def running_median_round_trips(target: str, batch: int, budget: Budget) -> float:
    """Round trips/s on one RunningMedian stream: write a request, read its answer, repeat."""
    return asyncio.run(_running_median_round_trips(target, batch, budget))


async def _get_median_load(
    target: str, session_id: str, clients: int, budget: Budget, until: Event | None
) -> LatencySummary:
    channels = [grpc.aio.insecure_channel(target) for _ in range(clients)]
    try:
        stubs = [median_pb2_grpc.MedianServiceStub(channel) for channel in channels]
        request = median_pb2.GetMedianRequest(session_id=session_id)
        for stub in stubs:  # connect every channel before the clock starts
            await stub.GetMedian(request, timeout=CALL_TIMEOUT)
        latencies: list[int] = []
        deadline = Deadline(budget.seconds)

        async def one_client(stub: median_pb2_grpc.MedianServiceAsyncStub) -> None:
            clock = time.perf_counter_ns
            while len(latencies) < budget.count and not deadline.passed():
                if until is not None and until.is_set():
                    return
                sent = clock()
                await stub.GetMedian(request, timeout=CALL_TIMEOUT)
                latencies.append(clock() - sent)

        start = time.perf_counter()
        await asyncio.gather(*(one_client(stub) for stub in stubs))
        elapsed = time.perf_counter() - start
        if not latencies:
            raise RuntimeError("no GetMedian call finished within the budget")
        return LatencySummary.of(latencies, elapsed)
    finally:
        for channel in channels:
            await channel.close(None)


def get_median_load(
    target: str, session_id: str, clients: int, budget: Budget, until: Event | None = None
) -> LatencySummary:
    """GetMedian calls from `clients` concurrent clients (one channel each), each in a loop."""
    return asyncio.run(_get_median_load(target, session_id, clients, budget, until))


def _ingest(
    target: str,
    session_id: str,
    batch: int,
    budget: Budget,
    started: Event,
    done: Event,
) -> None:
    """Child process: one AddNumbers stream of `batch`-number requests as fast as it goes."""
    try:
        channel = grpc.insecure_channel(target)
        stub = median_pb2_grpc.MedianServiceStub(channel)
        pool = request_pool(batch, 4 * batch, seed=99)
        deadline = Deadline(budget.seconds)

        def stream() -> Iterator[median_pb2.AddNumbersRequest]:
            yield median_pb2.AddNumbersRequest(session_id=session_id, numbers=pool[0].numbers)
            started.set()
            for index in range(1, budget.count // batch):
                if deadline.passed():
                    return
                yield pool[index % len(pool)]

        stub.AddNumbers(stream(), timeout=CALL_TIMEOUT)
        channel.close()
    finally:
        started.set()
        done.set()


@dataclass(frozen=True)
class UnderIngest:
    """GetMedian latency while another process streams big batches into the same session."""

    latency: LatencySummary
    ingest_seconds: float
    server_loop_stall: LoopStall  # the longest stall of the server's event loop meanwhile


def get_median_under_ingest(
    server: ServerProcess, session_id: str, batch: int, ingest: Budget, max_calls: int
) -> UnderIngest:
    """Queries from one client while a child process ingests `batch`-number requests.

    The ingest stops after `ingest.count` numbers or `ingest.seconds`, whichever comes first.
    """
    context = multiprocessing.get_context("spawn")
    started, done = context.Event(), context.Event()
    ingester = context.Process(
        target=_ingest,
        args=(server.target, session_id, batch, ingest, started, done),
        daemon=True,
    )
    ingester.start()
    try:
        if not started.wait(timeout=60):
            raise RuntimeError("the ingesting client did not start")
        with server.loop_lag() as lag:
            start = time.perf_counter()
            latency = get_median_load(
                server.target, session_id, 1, Budget(max_calls, ingest.seconds + 5.0), until=done
            )
            ingest_seconds = time.perf_counter() - start
    finally:
        ingester.join(timeout=ingest.seconds + CALL_TIMEOUT)
        if ingester.is_alive():
            ingester.terminate()
            ingester.join(timeout=5)
    if ingester.exitcode != 0:
        raise RuntimeError(f"the ingesting client failed (exit code {ingester.exitcode})")
    return UnderIngest(latency, ingest_seconds, lag[0])


async def _create_sessions(target: str, count: int, in_flight: int, seconds: float) -> list[str]:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = median_pb2_grpc.MedianServiceStub(channel)
        await channel.channel_ready()
        deadline = Deadline(seconds)
        session_ids: list[str] = []

        claimed = 0

        async def creator() -> None:
            nonlocal claimed
            request = median_pb2.CreateSessionRequest()
            while claimed < count and not deadline.passed():
                claimed += 1
                answer = await stub.CreateSession(request, timeout=CALL_TIMEOUT)
                session_ids.append(answer.session_id)

        await asyncio.gather(*(creator() for _ in range(in_flight)))
        return session_ids


def create_sessions(target: str, count: int, seconds: float, in_flight: int = 32) -> list[str]:
    """Creates up to `count` sessions with `in_flight` calls at a time; returns their ids."""
    return asyncio.run(_create_sessions(target, count, in_flight, seconds))


async def _fill_sessions(
    target: str, session_ids: list[str], numbers: list[float], in_flight: int, seconds: float
) -> int:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = median_pb2_grpc.MedianServiceStub(channel)
        await channel.channel_ready()
        deadline = Deadline(seconds)
        pending = iter(session_ids)
        filled = 0

        async def filler() -> None:
            nonlocal filled
            for session_id in pending:
                if deadline.passed():
                    return
                request = median_pb2.AddNumbersRequest(session_id=session_id, numbers=numbers)
                await stub.AddNumbers(iter((request,)), timeout=CALL_TIMEOUT)
                filled += 1

        await asyncio.gather(*(filler() for _ in range(in_flight)))
        return filled


def fill_sessions(
    target: str, session_ids: list[str], numbers: list[float], seconds: float, in_flight: int = 32
) -> int:
    """Adds `numbers` to each session in one AddNumbers call; returns how many were filled."""
    return asyncio.run(_fill_sessions(target, session_ids, numbers, in_flight, seconds))


async def _grow(
    call: grpc.aio.StreamStreamCall[
        median_pb2.RunningMedianRequest, median_pb2.RunningMedianResponse
    ],
    session_id: str,
    pool: list[median_pb2.RunningMedianRequest],
    marks: list[int],
    seconds: float,
) -> list[tuple[int, float]]:
    await call.write(median_pb2.RunningMedianRequest(session_id=session_id))
    opened = await call.read()
    if not isinstance(opened, median_pb2.RunningMedianResponse):
        raise RuntimeError("RunningMedian ended before its first answer")
    batch = len(pool[0].numbers)
    requests = (marks[-1] - opened.number_count) // batch
    deadline = Deadline(seconds)

    async def writer() -> None:
        for index in range(requests):
            if deadline.passed():
                break
            await call.write(pool[index % len(pool)])
        await call.done_writing()

    crossed: list[tuple[int, float]] = []
    pending_marks = [mark for mark in marks if mark > opened.number_count]
    writing = asyncio.create_task(writer())
    while True:
        answer = await call.read()
        now = time.perf_counter()
        if not isinstance(answer, median_pb2.RunningMedianResponse):
            break  # EOF: the server answered the half-close
        while pending_marks and answer.number_count >= pending_marks[0]:
            crossed.append((answer.number_count, now))
            pending_marks.pop(0)
    await writing
    return crossed


async def _growth(
    target: str,
    runs: list[tuple[str, list[int]]],
    batch: int,
    seconds: float,
    warm_session: str,
    after_warm_up: Callable[[], None],
) -> list[list[tuple[int, float]]]:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = median_pb2_grpc.MedianServiceStub(channel)
        top = max(marks[-1] for _, marks in runs)
        pool = [
            median_pb2.RunningMedianRequest(numbers=request.numbers)
            for request in request_pool(batch, top, seed=11)
        ]
        warm_up = stub.RunningMedian(None, timeout=CALL_TIMEOUT + seconds)
        await _grow(warm_up, warm_session, pool, [WARM_UP_NUMBERS], seconds)
        await stub.DeleteSession(
            median_pb2.DeleteSessionRequest(session_id=warm_session), timeout=CALL_TIMEOUT
        )
        after_warm_up()
        results = []
        for session_id, marks in runs:
            call = stub.RunningMedian(None, timeout=CALL_TIMEOUT + seconds)
            results.append(await _grow(call, session_id, pool, marks, seconds))
        return results


def growth(
    target: str,
    runs: list[tuple[str, list[int]]],
    batch: int,
    seconds: float,
    warm_session: str,
    after_warm_up: Callable[[], None],
) -> list[list[tuple[int, float]]]:
    """Grows sessions through their marks (sizes), each on one pipelined RunningMedian stream.

    A writer keeps sending while the reader notes when the answer that first reached each mark
    arrived, so the time between two marks is what the server took to add the numbers between
    them, without any stream's set-up. All streams share one channel, warmed up first on
    `warm_session` (deleted afterwards) so that flow-control windows have grown before the
    first mark; `after_warm_up` runs then. Returns, per run, (count reached, time) per mark.
    """
    return asyncio.run(_growth(target, runs, batch, seconds, warm_session, after_warm_up))
