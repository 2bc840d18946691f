"""The Python client library, blocking and asyncio, against a real `median-server`.

The server runs with `--log-level debug`, so that its log shows the `median-session-id` header
of every call; each test uses sessions of its own, so the tests share one server.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
import pytest
from median_client import (
    AddResult,
    AsyncMedianClient,
    MedianClient,
    MedianError,
    MedianResult,
    RunningResult,
    SessionSummary,
)
from median_client.batching import batched
from median_client.resume import is_retryable
from median_client.tokens import BadTokenError, parse_numbers

from tests.certs import make_certificates
from tests.servers import ROOT, CrashingServer, RunningServer, running_server

URL_SAFE_128_BITS = re.compile(r"[A-Za-z0-9_-]{22}")
# A deadline one second in the past: a call made with it fails at once. (A timeout of 0 is not
# enough: gRPC rounds deadlines up to the millisecond, and a loopback call can finish in that.)
PASSED = -1.0

if TYPE_CHECKING:
    UnaryUnaryInterceptor = grpc.UnaryUnaryClientInterceptor[Any, Any]
    StreamUnaryInterceptor = grpc.StreamUnaryClientInterceptor[Any, Any]
    StreamStreamInterceptor = grpc.StreamStreamClientInterceptor[Any, Any]
else:  # the runtime classes are not generic
    UnaryUnaryInterceptor = grpc.UnaryUnaryClientInterceptor
    StreamUnaryInterceptor = grpc.StreamUnaryClientInterceptor
    StreamStreamInterceptor = grpc.StreamStreamClientInterceptor


class RecordingInterceptor(UnaryUnaryInterceptor, StreamUnaryInterceptor, StreamStreamInterceptor):
    """Records each call's method name, timeout and metadata as the client sent them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float | None, dict[str, str | bytes]]] = []

    def record(self, details: grpc.ClientCallDetails) -> None:
        method = details.method.rsplit("/", 1)[-1]
        self.calls.append((method, details.timeout, dict(details.metadata or ())))

    def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Any], grpc.CallFuture[Any]],
        client_call_details: grpc.ClientCallDetails,
        request: Any,
    ) -> grpc.CallFuture[Any]:
        self.record(client_call_details)
        return continuation(client_call_details, request)

    def intercept_stream_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Any], grpc.CallFuture[Any]],
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Iterator[Any],
    ) -> grpc.CallFuture[Any]:
        self.record(client_call_details)
        return continuation(client_call_details, request_iterator)

    def intercept_stream_stream(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Any], grpc.CallIterator[Any]],
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Iterator[Any],
    ) -> grpc.CallIterator[Any]:
        self.record(client_call_details)
        return continuation(client_call_details, request_iterator)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with running_server("--log-level", "debug") as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[MedianClient]:
    with MedianClient(server.target) as median_client:
        yield median_client


@pytest.fixture
async def aclient(server: RunningServer) -> AsyncIterator[AsyncMedianClient]:
    async with AsyncMedianClient(server.target) as median_client:
        yield median_client


def unique_id(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex}"


def random_numbers(count: int, seed: int) -> list[float]:
    generator = random.Random(seed)
    return [generator.uniform(-1e6, 1e6) for _ in range(count)]


def running_expectation(batches: Sequence[Sequence[float]]) -> list[tuple[int, float | None]]:
    seen: list[float] = []
    expected: list[tuple[int, float | None]] = []
    for batch in batches:
        seen.extend(batch)
        expected.append((len(seen), statistics.median(seen) if seen else None))
    return expected


def logged_call(method: str, session_id: str) -> str:
    return f"call /median.v1.MedianService/{method} median-session-id={session_id}"


# Pure helpers: batching and the command-line client's input.


def test_batched_keeps_order_in_lists_of_at_most_batch_size() -> None:
    assert list(batched(iter([1.0, 2.0, 3.0, 4.0, 5.0]), 2)) == [[1.0, 2.0], [3.0, 4.0], [5.0]]


def test_batched_yields_one_empty_batch_for_no_numbers() -> None:
    assert list(batched([], 3)) == [[]]


def test_batched_reads_the_numbers_lazily() -> None:
    consumed: list[float] = []

    def numbers() -> Iterator[float]:
        for number in (1.0, 2.0, 3.0, 4.0):
            consumed.append(number)
            yield number

    first = next(batched(numbers(), 2))
    assert first == [1.0, 2.0]
    assert consumed == [1.0, 2.0]


def test_parse_numbers_accepts_every_decimal_form_and_the_special_words() -> None:
    data = b"1e-07 1.0E-7 .5 5. +3 -0 1.7976931348623157e+308 5e-324\tNaN\nInfinity -Infinity"
    numbers = parse_numbers(data)
    assert numbers[:8] == [1e-07, 1e-07, 0.5, 5.0, 3.0, 0.0, 1.7976931348623157e308, 5e-324]
    assert math.copysign(1.0, numbers[5]) == -1.0
    assert math.isnan(numbers[8])
    assert numbers[9:] == [math.inf, -math.inf]


@pytest.mark.parametrize("token", ["abc", "0x10", "inf", "nan", "1,5", "+Infinity", "1_000"])
def test_parse_numbers_refuses_a_token_that_is_not_a_decimal_number(token: str) -> None:
    with pytest.raises(BadTokenError, match=re.escape(f'"{token}" is not a number')):
        parse_numbers(f"1 {token} 2".encode())


# The blocking client.


def test_create_session_uses_the_chosen_id(client: MedianClient) -> None:
    session_id = unique_id("chosen")
    assert client.create_session(session_id) == session_id
    assert client.add_numbers(session_id, []) == AddResult(session_id, 0, 0, None)


def test_create_session_without_id_picks_a_url_safe_128_bit_id(client: MedianClient) -> None:
    first, second = client.create_session(), client.create_session()
    assert URL_SAFE_128_BITS.fullmatch(first), first
    assert first != second
    assert client.add_numbers(first, [7.0]).count == 1


def test_create_session_with_a_taken_id_raises_already_exists(client: MedianClient) -> None:
    session_id = client.create_session()
    with pytest.raises(MedianError) as raised:
        client.create_session(session_id)
    assert raised.value.code == grpc.StatusCode.ALREADY_EXISTS


def test_add_numbers_in_batches_answers_count_and_median_of_all_numbers(
    client: MedianClient,
) -> None:
    numbers = random_numbers(2501, seed=1)
    session_id = client.create_session()
    result = client.add_numbers(session_id, iter(numbers), batch_size=100)
    assert result == AddResult(session_id, 2501, 2501, statistics.median(numbers))
    more = random_numbers(10, seed=2)
    again = client.add_numbers(session_id, more, batch_size=3)
    assert (again.added, again.count) == (10, 2511)
    assert again.median == statistics.median(numbers + more)
    assert client.get_median(session_id) == MedianResult(session_id, 2511, again.median)


def test_add_numbers_with_a_given_writer_id_resent_adds_only_the_new_requests(
    client: MedianClient,
) -> None:
    session_id = client.create_session()
    numbers = [3.0, 1.0, 2.0, 5.0, 4.0]
    first = client.add_numbers(session_id, numbers, batch_size=2, writer_id="upload")
    assert (first.added, first.count) == (5, 5)
    # upload:1 .. upload:3 were applied by the first call; only upload:4 ([7.0]) is new.
    retry = client.add_numbers(session_id, [*numbers, 6.0, 7.0], batch_size=2, writer_id="upload")
    assert (retry.added, retry.count, retry.median) == (1, 6, 3.5)


def test_add_numbers_of_nothing_names_the_session_and_adds_nothing(client: MedianClient) -> None:
    session_id = client.create_session()
    assert client.add_numbers(session_id, iter(())) == AddResult(session_id, 0, 0, None)


def test_add_numbers_to_an_unknown_session_raises_not_found(client: MedianClient) -> None:
    with pytest.raises(MedianError) as raised:
        client.add_numbers(unique_id("never-made"), [1.0])
    assert raised.value.code == grpc.StatusCode.NOT_FOUND


def test_add_numbers_with_nan_raises_invalid_argument_and_keeps_earlier_batches(
    client: MedianClient,
) -> None:
    session_id = client.create_session()
    with pytest.raises(MedianError) as raised:
        client.add_numbers(session_id, [1.0, 2.0, math.nan, 4.0], batch_size=2)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert client.get_median(session_id) == MedianResult(session_id, 2, 1.5)


def test_add_numbers_refuses_a_batch_size_below_one(client: MedianClient) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        client.add_numbers("any", [1.0], batch_size=0)


def test_running_median_yields_one_result_per_request_in_order(client: MedianClient) -> None:
    session_id = client.create_session()
    batches = [[5.0], [1.0, 3.0], [], [10.0, 20.0, -4.0], random_numbers(51, seed=3)]
    results = list(client.running_median(session_id, iter(batches)))
    assert all(isinstance(result, RunningResult) for result in results)
    assert [result.session_id for result in results] == [session_id] * len(batches)
    assert [result.added for result in results] == [len(batch) for batch in batches]
    assert [(result.count, result.median) for result in results] == running_expectation(batches)


def test_running_median_reports_an_empty_session_without_a_median(client: MedianClient) -> None:
    session_id = client.create_session()
    assert list(client.running_median(session_id, [[]])) == [RunningResult(session_id, 0, 0, None)]


def test_running_median_yields_answers_before_the_refused_request(client: MedianClient) -> None:
    session_id = client.create_session()
    steps = client.running_median(session_id, [[1.0, 2.0], [math.inf]])
    assert next(steps) == RunningResult(session_id, 2, 2, 1.5)
    with pytest.raises(MedianError) as raised:
        next(steps)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_get_median_of_an_empty_session_raises_failed_precondition(client: MedianClient) -> None:
    session_id = client.create_session()
    with pytest.raises(MedianError) as raised:
        client.get_median(session_id)
    assert raised.value.code == grpc.StatusCode.FAILED_PRECONDITION


def test_get_median_of_an_unknown_session_raises_not_found(client: MedianClient) -> None:
    with pytest.raises(MedianError) as raised:
        client.get_median(unique_id("never-made"))
    assert raised.value.code == grpc.StatusCode.NOT_FOUND


def test_median_error_reads_as_code_name_and_message(client: MedianClient) -> None:
    session_id = unique_id("never-made")
    with pytest.raises(MedianError) as raised:
        client.delete_session(session_id)
    error = raised.value
    assert isinstance(error.details, str)
    assert error.details
    assert str(error) == f"NOT_FOUND: {error.details}"
    assert isinstance(error.__cause__, grpc.RpcError)


def test_delete_session_removes_the_session(client: MedianClient) -> None:
    session_id = client.create_session()
    client.add_numbers(session_id, [1.0])
    client.delete_session(session_id)
    with pytest.raises(MedianError) as raised:
        client.get_median(session_id)
    assert raised.value.code == grpc.StatusCode.NOT_FOUND


def test_list_sessions_follows_page_tokens_across_pages(client: MedianClient) -> None:
    prefix = unique_id("listed")
    made = {f"{prefix}-{index}": index for index in range(7)}
    for session_id, count in made.items():
        client.create_session(session_id)
        client.add_numbers(session_id, [float(n) for n in range(count)])
    listed = list(client.list_sessions(page_size=3))
    assert all(isinstance(summary, SessionSummary) for summary in listed)
    ids = [summary.session_id for summary in listed]
    assert ids == sorted(ids)
    mine = {s.session_id: s.count for s in listed if s.session_id.startswith(prefix)}
    assert mine == made


def test_every_call_sends_the_session_id_as_routing_metadata(
    client: MedianClient, server: RunningServer
) -> None:
    session_id = client.create_session()
    client.add_numbers(session_id, [1.0, 2.0])
    list(client.running_median(session_id, [[3.0]]))
    client.get_median(session_id)
    client.delete_session(session_id)
    for method in ("CreateSession", "AddNumbers", "RunningMedian", "GetMedian", "DeleteSession"):
        assert server.wait_for_log(logged_call(method, session_id)), method


def test_calls_have_deadlines_of_10_s_unary_and_600_s_for_streams_and_name_the_session(
    server: RunningServer,
) -> None:
    recorder = RecordingInterceptor()
    with (
        grpc.insecure_channel(server.target) as channel,
        MedianClient(channel=grpc.intercept_channel(channel, recorder)) as median_client,
    ):
        session_id = median_client.create_session()
        median_client.add_numbers(session_id, [1.0])
        list(median_client.running_median(session_id, [[2.0]]))
        median_client.get_median(session_id)
        median_client.delete_session(session_id)
    header = {"median-session-id": session_id}
    # A stream's timeout is what is left of the call's deadline when it opens (resumes open
    # more streams within the same deadline), so a hair under 600 s.
    assert recorder.calls == [
        ("CreateSession", 10.0, header),
        ("AddNumbers", pytest.approx(600.0, abs=1.0), header),
        ("RunningMedian", pytest.approx(600.0, abs=1.0), header),
        ("GetMedian", 10.0, header),
        ("DeleteSession", 10.0, header),
    ]


def test_the_constructor_sets_the_unary_and_stream_deadlines(server: RunningServer) -> None:
    recorder = RecordingInterceptor()
    with grpc.insecure_channel(server.target) as channel:
        intercepted = grpc.intercept_channel(channel, recorder)
        median_client = MedianClient(channel=intercepted, timeout=3.0, stream_timeout=7.0)
        session_id = median_client.create_session()
        median_client.add_numbers(session_id, [1.0])
        list(median_client.list_sessions())
    assert [(method, timeout) for method, timeout, _ in recorder.calls] == [
        ("CreateSession", 3.0),
        ("AddNumbers", pytest.approx(7.0, abs=1.0)),
        ("ListSessions", 3.0),
    ]


def test_a_passed_deadline_fails_unary_calls_and_streams_with_deadline_exceeded(
    server: RunningServer, client: MedianClient
) -> None:
    session_id = client.create_session()
    with MedianClient(server.target, timeout=PASSED, stream_timeout=PASSED) as late:
        for call in (
            lambda: late.get_median(session_id),
            lambda: late.add_numbers(session_id, [1.0]),
            lambda: list(late.running_median(session_id, [[1.0]])),
        ):
            with pytest.raises(MedianError) as raised:
                call()
            assert raised.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_an_unreachable_server_raises_unavailable() -> None:
    with MedianClient("127.0.0.1:1") as unreachable, pytest.raises(MedianError) as raised:
        unreachable.get_median("any")
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE


def test_the_client_closes_the_channel_it_opened(server: RunningServer) -> None:
    with MedianClient(server.target) as median_client:
        median_client.create_session()
    with pytest.raises(ValueError, match="closed channel"):
        median_client.create_session()


def test_a_given_channel_stays_open_after_the_client_closes(server: RunningServer) -> None:
    with grpc.insecure_channel(server.target) as channel:
        with MedianClient(channel=channel) as median_client:
            median_client.create_session()
        assert MedianClient(channel=channel).create_session()


# The asyncio client.


async def test_async_create_session_uses_the_chosen_id(aclient: AsyncMedianClient) -> None:
    session_id = unique_id("chosen-async")
    assert await aclient.create_session(session_id) == session_id
    assert await aclient.add_numbers(session_id, []) == AddResult(session_id, 0, 0, None)


async def test_async_create_session_without_id_picks_a_url_safe_128_bit_id(
    aclient: AsyncMedianClient, server: RunningServer
) -> None:
    session_id = await aclient.create_session()
    assert URL_SAFE_128_BITS.fullmatch(session_id), session_id
    assert server.wait_for_log(logged_call("CreateSession", session_id))


async def test_async_add_numbers_from_an_async_iterable_answers_count_and_median(
    aclient: AsyncMedianClient,
) -> None:
    numbers = random_numbers(1200, seed=4)

    async def produce() -> AsyncIterator[float]:
        for number in numbers:
            yield number

    session_id = await aclient.create_session()
    result = await aclient.add_numbers(session_id, produce(), batch_size=250)
    assert result == AddResult(session_id, 1200, 1200, statistics.median(numbers))
    plain = await aclient.add_numbers(session_id, [0.5, 0.25, 0.75], batch_size=2)
    assert (plain.added, plain.count) == (3, 1203)
    assert plain.median == statistics.median([*numbers, 0.5, 0.25, 0.75])
    median = await aclient.get_median(session_id)
    assert median == MedianResult(session_id, 1203, plain.median)


async def test_async_add_numbers_with_a_given_writer_id_is_applied_once(
    aclient: AsyncMedianClient,
) -> None:
    session_id = await aclient.create_session()
    numbers = [9.0, 1.0, 5.0]
    first = await aclient.add_numbers(session_id, numbers, batch_size=2, writer_id="up")
    retry = await aclient.add_numbers(session_id, numbers, batch_size=2, writer_id="up")
    assert (first.added, first.count) == (3, 3)
    assert (retry.added, retry.count, retry.median) == (0, 3, 5.0)


async def test_async_running_median_yields_one_result_per_request_in_order(
    aclient: AsyncMedianClient,
) -> None:
    session_id = await aclient.create_session()
    batches = [[], [2.0, 8.0], [4.0], random_numbers(20, seed=5)]

    async def produce() -> AsyncIterator[list[float]]:
        for batch in batches:
            yield batch

    results = [result async for result in aclient.running_median(session_id, produce())]
    assert [result.added for result in results] == [len(batch) for batch in batches]
    assert [(result.count, result.median) for result in results] == running_expectation(batches)
    plain = [result async for result in aclient.running_median(session_id, [[1.0], [2.0]])]
    assert [result.count for result in plain] == [24, 25]


async def test_async_errors_raise_median_error_with_the_status_code(
    aclient: AsyncMedianClient,
) -> None:
    empty = await aclient.create_session()
    with pytest.raises(MedianError) as raised:
        await aclient.get_median(empty)
    assert raised.value.code == grpc.StatusCode.FAILED_PRECONDITION

    with pytest.raises(MedianError) as raised:
        await aclient.add_numbers(empty, [1.0, 2.0, math.nan], batch_size=2)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert str(raised.value).startswith("INVALID_ARGUMENT: ")

    steps = aclient.running_median(unique_id("never-made"), [[1.0]])
    with pytest.raises(MedianError) as raised:
        await anext(steps)
    assert raised.value.code == grpc.StatusCode.NOT_FOUND


async def test_async_delete_session_removes_the_session(aclient: AsyncMedianClient) -> None:
    session_id = await aclient.create_session()
    await aclient.delete_session(session_id)
    with pytest.raises(MedianError) as raised:
        await aclient.delete_session(session_id)
    assert raised.value.code == grpc.StatusCode.NOT_FOUND


async def test_async_list_sessions_follows_page_tokens_across_pages(
    aclient: AsyncMedianClient,
) -> None:
    prefix = unique_id("listed-async")
    made = {f"{prefix}-{index}": index for index in range(5)}
    for session_id, count in made.items():
        await aclient.create_session(session_id)
        await aclient.add_numbers(session_id, [1.0] * count)
    listed = [summary async for summary in aclient.list_sessions(page_size=2)]
    mine = {s.session_id: s.count for s in listed if s.session_id.startswith(prefix)}
    assert mine == made


async def test_async_every_call_sends_the_session_id_as_routing_metadata(
    aclient: AsyncMedianClient, server: RunningServer
) -> None:
    session_id = unique_id("routed-async")
    await aclient.create_session(session_id)
    await aclient.add_numbers(session_id, [1.0])
    async for _ in aclient.running_median(session_id, [[2.0]]):
        pass
    await aclient.get_median(session_id)
    await aclient.delete_session(session_id)
    for method in ("CreateSession", "AddNumbers", "RunningMedian", "GetMedian", "DeleteSession"):
        assert server.wait_for_log(logged_call(method, session_id)), method


async def test_async_a_passed_deadline_fails_calls_with_deadline_exceeded(
    server: RunningServer, aclient: AsyncMedianClient
) -> None:
    session_id = await aclient.create_session()
    async with AsyncMedianClient(server.target, timeout=PASSED, stream_timeout=PASSED) as late:
        with pytest.raises(MedianError) as raised:
            await late.get_median(session_id)
        assert raised.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        with pytest.raises(MedianError) as raised:
            await late.add_numbers(session_id, [1.0])
        assert raised.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


# The README's examples, pasted.

CLIENT_README = ROOT / "clients" / "python" / "README.md"


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (0, ["10000 10000 5000.5", "10001 5000.0", "10003 5001.0", "1", "NOT_FOUND"]),
        (1, ["2 2.0", "3 2.0", "3 2.0", "INVALID_ARGUMENT numbers[1]"]),
    ],
)
def test_the_readme_examples_print_what_their_comments_say(
    server: RunningServer, index: int, expected: list[str]
) -> None:
    example = re.findall(r"```python\n(.*?)```", CLIENT_README.read_text(), flags=re.DOTALL)[index]
    result = subprocess.run(
        [sys.executable, "-c", example.replace("127.0.0.1:50051", server.target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected


# Exactly-once ingest: resumes after a SIGKILL, refusals, running out of time, rich errors.


Item = TypeVar("Item")


def crashing(items: Sequence[Item], crashes: dict[int, Callable[[], None]]) -> Iterator[Item]:
    """The items (numbers or batches), running `crashes[i]()` before handing over item i
    (mid-stream)."""
    for index, item in enumerate(items):
        if index in crashes:
            crashes[index]()
        yield item


async def acrashing(
    items: Sequence[Item], crashes: dict[int, Callable[[], None]]
) -> AsyncIterator[Item]:
    """`crashing` as an async iterable; the crash runs on a thread, off the event loop."""
    for index, item in enumerate(items):
        if index in crashes:
            await asyncio.to_thread(crashes[index])
        yield item


def server_state(target: str, session_id: str) -> tuple[int, float]:
    with MedianClient(target) as reader:
        answer = reader.get_median(session_id)
    return answer.count, answer.median


def test_add_numbers_resumes_through_two_sigkills_and_applies_every_number_once(
    tmp_path: Path,
) -> None:
    numbers = random_numbers(60_000, seed=11)
    with CrashingServer(tmp_path / "data") as server, MedianClient(server.target) as client:
        session_id = client.create_session()
        kills = {20_000: server.kill_and_restart, 45_000: server.kill_and_restart}
        added = client.add_numbers(session_id, crashing(numbers, kills), batch_size=500)
        state = server_state(server.target, session_id)
    assert server.kills == 2
    assert (added.added, added.count) == (len(numbers), len(numbers))
    assert state == (len(numbers), statistics.median(numbers))


def test_running_median_resumes_and_yields_one_result_per_request_exactly_once(
    tmp_path: Path,
) -> None:
    numbers = random_numbers(30_000, seed=12)
    batches = list(batched(numbers, 300))
    with CrashingServer(tmp_path / "data") as server, MedianClient(server.target) as client:
        session_id = client.create_session()
        kills = {30: server.kill_and_restart, 70: server.kill_and_restart}
        results = list(client.running_median(session_id, crashing(batches, kills)))
    assert server.kills == 2
    assert [(r.count, r.median) for r in results] == running_expectation(batches)
    assert sum(r.added for r in results) <= len(numbers)


async def test_async_add_numbers_resumes_through_a_sigkill_and_applies_every_number_once(
    tmp_path: Path,
) -> None:
    numbers = random_numbers(40_000, seed=13)
    with CrashingServer(tmp_path / "data") as server:
        async with AsyncMedianClient(server.target) as client:
            session_id = await client.create_session()
            kills = {15_000: server.kill_and_restart, 30_000: server.kill_and_restart}
            added = await client.add_numbers(session_id, acrashing(numbers, kills), batch_size=1000)
        state = server_state(server.target, session_id)
    assert server.kills == 2
    assert (added.added, added.count) == (len(numbers), len(numbers))
    assert state == (len(numbers), statistics.median(numbers))


async def test_async_running_median_resumes_with_one_result_per_request(tmp_path: Path) -> None:
    numbers = random_numbers(20_000, seed=14)
    batches = list(batched(numbers, 250))
    with CrashingServer(tmp_path / "data") as server:
        async with AsyncMedianClient(server.target) as client:
            session_id = await client.create_session()
            kill = {40: server.kill_and_restart}
            results = [r async for r in client.running_median(session_id, acrashing(batches, kill))]
    assert server.kills == 1
    assert [(r.count, r.median) for r in results] == running_expectation(batches)


def test_a_refused_request_is_not_retried_and_earlier_requests_stay_applied_once(
    client: MedianClient,
) -> None:
    session_id = client.create_session()
    with pytest.raises(MedianError) as raised:
        client.add_numbers(session_id, [1.0, 2.0, 3.0, math.nan, 5.0], batch_size=3)
    error = raised.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in error.field_violations] == [
        ("numbers[0]", "nan is not a finite number")
    ]
    assert error.detail_lines() == ["BadRequest numbers[0]: nan is not a finite number"]
    assert client.get_median(session_id) == MedianResult(session_id, 3, 2.0)


def test_a_limit_error_carries_quota_failure_and_error_info() -> None:
    with (
        running_server("--max-session-numbers", "3") as server,
        MedianClient(server.target) as client,
    ):
        session_id = client.create_session()
        with pytest.raises(MedianError) as raised:
            client.add_numbers(session_id, [1.0, 2.0, 3.0, 4.0])
    error = raised.value
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert [(v.subject, v.description) for v in error.quota_violations] == [
        ("--max-session-numbers", "limit 3")
    ]
    assert error.error_info is not None
    assert (error.error_info.reason, error.error_info.metadata) == (
        "MAX_SESSION_NUMBERS",
        {"limit": "3"},
    )
    assert error.detail_lines()[-1] == f"ErrorInfo MAX_SESSION_NUMBERS {error.error_info.domain}"


class _Failure(grpc.RpcError):
    """A failed call's status as grpcio reports it: code, details, trailing metadata."""

    def __init__(
        self,
        code: grpc.StatusCode,
        details: str,
        trailers: tuple[Any, ...] = (),
    ) -> None:
        self._code, self._details, self._trailers = code, details, trailers

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[Any, ...]:
        return self._trailers


def test_the_transports_own_failures_are_retried_and_the_servers_are_not() -> None:
    server_said = (("grpc-status-details-bin", b"\x08\x02"),)
    # UNAVAILABLE, whatever broke; but not a failed TLS handshake.
    assert is_retryable(_Failure(grpc.StatusCode.UNAVAILABLE, "failed to connect"))
    assert not is_retryable(_Failure(grpc.StatusCode.UNAVAILABLE, "Handshake failed"))
    # A proxy's RST_STREAM INTERNAL_ERROR and a connection that closed under the call, as gRPC
    # core reports them: no trailers, so not from the server.
    assert is_retryable(_Failure(grpc.StatusCode.INTERNAL, "Received RST_STREAM with error code 2"))
    assert is_retryable(_Failure(grpc.StatusCode.UNKNOWN, "Stream removed"))
    # The same words from the server (with trailers), and other INTERNAL or UNKNOWN, are final.
    assert not is_retryable(
        _Failure(grpc.StatusCode.INTERNAL, "Received RST_STREAM with error code 2", server_said)
    )
    assert not is_retryable(_Failure(grpc.StatusCode.UNKNOWN, "Stream removed", server_said))
    assert not is_retryable(_Failure(grpc.StatusCode.UNKNOWN, "Exception calling application"))
    assert not is_retryable(_Failure(grpc.StatusCode.INTERNAL, "internal error"))
    for refusal in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    ):
        assert not is_retryable(_Failure(refusal, "refused"))


def test_resuming_stops_after_retry_for_with_the_last_unavailable(tmp_path: Path) -> None:
    with CrashingServer(tmp_path / "data") as server:
        with MedianClient(server.target, retry_for=1.0) as client:
            session_id = client.create_session()
            server.kill()
            started = time.monotonic()
            with pytest.raises(MedianError) as raised:
                client.add_numbers(session_id, [1.0, 2.0])
            waited = time.monotonic() - started
        server.restart()
        with MedianClient(server.target) as reader, pytest.raises(MedianError) as empty:
            reader.get_median(session_id)  # the server was down: nothing was applied
        assert empty.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    assert 1.0 <= waited < 30


def test_resuming_never_passes_the_calls_deadline(tmp_path: Path) -> None:
    with (
        CrashingServer(tmp_path / "data") as server,
        MedianClient(server.target, stream_timeout=1.0, retry_for=30.0) as client,
    ):
        session_id = client.create_session()
        server.kill()
        started = time.monotonic()
        with pytest.raises(MedianError) as raised:
            list(client.running_median(session_id, [[1.0]]))
        waited = time.monotonic() - started
    assert raised.value.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    assert waited < 10  # the 1 s deadline ended it, not the 30 s of resuming


def test_an_error_of_the_callers_iterable_is_raised_as_it_is(client: MedianClient) -> None:
    session_id = client.create_session()

    def failing() -> Iterator[float]:
        yield 1.0
        raise KeyError("the caller's own failure")

    with pytest.raises(KeyError, match="own failure"):
        client.add_numbers(session_id, failing(), batch_size=1)


async def test_async_an_error_of_the_callers_iterable_is_raised_as_it_is(
    aclient: AsyncMedianClient,
) -> None:
    session_id = await aclient.create_session()

    async def failing() -> AsyncIterator[float]:
        yield 1.0
        raise KeyError("the caller's own failure")

    with pytest.raises(KeyError, match="own failure"):
        await aclient.add_numbers(session_id, failing(), batch_size=1)
    assert await aclient.get_median(session_id) == MedianResult(session_id, 1, 1.0)


def test_a_batch_that_is_not_numbers_raises_type_error(client: MedianClient) -> None:
    session_id = client.create_session()
    with pytest.raises(TypeError):
        list(client.running_median(session_id, [[1.0], ["two"]]))  # type: ignore[list-item]


def test_a_failed_tls_handshake_is_not_resumed(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    tls = ["--tls-cert", str(certificates.server_cert), "--tls-key", str(certificates.server_key)]
    with (
        running_server(*tls) as server,
        MedianClient(
            server.target, root_certificates=certificates.other_ca.read_bytes(), retry_for=30.0
        ) as client,
    ):
        started = time.monotonic()
        with pytest.raises(MedianError) as raised:
            client.add_numbers("s", [1.0])
        waited = time.monotonic() - started
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    assert "handshake" in raised.value.details.lower()
    assert waited < 15, "a certificate that does not verify is reported, not retried for 30 s"


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "asyncio"])
def test_create_session_waits_out_a_server_restart_within_retry_for(
    tmp_path: Path, asynchronous: bool
) -> None:
    with CrashingServer(tmp_path / "data") as server:
        server.kill()
        restarting = threading.Timer(1.0, server.restart)
        restarting.start()
        try:
            if asynchronous:

                async def create() -> tuple[str, int]:
                    async with AsyncMedianClient(server.target, retry_for=30) as client:
                        session_id = await client.create_session()
                        return session_id, (await client.add_numbers(session_id, [2.0])).count

                session_id, count = asyncio.run(create())
            else:
                with MedianClient(server.target, retry_for=30) as client:
                    session_id = client.create_session()
                    count = client.add_numbers(session_id, [2.0]).count
        finally:
            restarting.join()
        assert len(session_id) >= 22
        assert count == 1
