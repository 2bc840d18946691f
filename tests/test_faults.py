"""Faults and bad input against a real server process: generated requests, many cancelling
streams, and a client that stops reading.

The server runs as its own process so that its memory can be read from /proc.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import statistics
import struct
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from median.v1 import median_pb2, median_pb2_grpc

from tests.servers import RunningServer, running_server

Code = grpc.StatusCode
MAX_MESSAGE_BYTES = 64 * 1024
MAX_SESSION_NUMBERS = 50_000
VALID_ID = "[A-Za-z0-9._-]{1,128}"
WRITER_ID = re.compile(r"(.+):([1-9][0-9]{0,17})")  # API.md: `<writer>:<seq>`


def writer_sequence(request_id: str) -> tuple[str, int] | None:
    match = WRITER_ID.fullmatch(request_id)
    return (match[1], int(match[2])) if match else None


def resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with running_server(
        "--max-message-bytes",
        str(MAX_MESSAGE_BYTES),
        "--max-session-numbers",
        str(MAX_SESSION_NUMBERS),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def channel(server: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.target) as opened:
        yield opened


def raw_add_numbers(
    channel: grpc.Channel,
) -> grpc.StreamUnaryMultiCallable[bytes, median_pb2.AddNumbersResponse]:
    """AddNumbers with each request given as the bytes to send, whatever they encode."""
    return channel.stream_unary(
        "/median.v1.MedianService/AddNumbers",
        request_serializer=lambda payload: payload,
        response_deserializer=median_pb2.AddNumbersResponse.FromString,
    )


def raw_get_median(
    channel: grpc.Channel,
) -> grpc.UnaryUnaryMultiCallable[bytes, median_pb2.GetMedianResponse]:
    """GetMedian with the request given as the bytes to send, whatever they encode."""
    return channel.unary_unary(
        "/median.v1.MedianService/GetMedian",
        request_serializer=lambda payload: payload,
        response_deserializer=median_pb2.GetMedianResponse.FromString,
    )


# Generated requests: every one gets its documented status, and the session stays consistent.

session_ids = st.one_of(
    st.just("fuzzed-session"),
    st.from_regex(VALID_ID, fullmatch=True),
    st.text(max_size=140),
    st.just(""),
    st.just("x" * 129),
)
finite = st.floats(allow_nan=False, allow_infinity=False)
special = st.sampled_from([math.nan, math.inf, -math.inf])
request_ids = st.one_of(
    st.just(""),
    st.text(max_size=70),
    st.from_regex(r"[ -~]{1,64}", fullmatch=True),
    st.from_regex(r"[ab]:[1-9]", fullmatch=True),  # the `<writer>:<seq>` rule
)


@st.composite
def batches(draw: st.DrawFn) -> list[float]:
    """Empty to oversize batches (repeating up to 50 drawn numbers), maybe with one NaN or
    infinity at any position."""
    size: int = draw(st.sampled_from([0, 1, 3, 50, 1000, 9000]))
    pattern: list[float] = draw(st.lists(finite, min_size=min(size, 50), max_size=min(size, 50)))
    numbers = (pattern * (size // 50 + 1))[:size]
    position: int = draw(st.integers(-1, size - 1))
    if position >= 0:
        numbers[position] = draw(special)
    return numbers


def unknown_field() -> bytes:
    """Field 99 (a varint) that the server's schema does not know: it must be ignored."""
    return bytes([99 << 3 & 0x7F | 0x80, 99 >> 4, 42])


def expected_code(
    session_id: str, numbers: list[float], request_id: str, model: dict[str, list[float]]
) -> Code:
    """What API.md says the server answers to one AddNumbers request.

    gRPC refuses an oversize message before the service sees it, so that check comes first.
    """
    encoded = median_pb2.AddNumbersRequest(
        session_id=session_id, numbers=numbers, request_id=request_id
    ).ByteSize() + len(unknown_field())
    if encoded > MAX_MESSAGE_BYTES:
        return Code.RESOURCE_EXHAUSTED
    if not re.fullmatch(VALID_ID, session_id):
        return Code.INVALID_ARGUMENT
    if request_id and not re.fullmatch(r"[ -~]{1,64}", request_id):
        return Code.INVALID_ARGUMENT
    if not all(math.isfinite(x) for x in numbers):
        return Code.INVALID_ARGUMENT
    if session_id not in model:
        return Code.NOT_FOUND
    if len(model[session_id]) + len(numbers) > MAX_SESSION_NUMBERS:
        return Code.RESOURCE_EXHAUSTED
    return Code.OK


MODEL: dict[str, list[float]] = {}
APPLIED_IDS: dict[str, set[str]] = {}
WRITER_SEQS: dict[str, dict[str, int]] = {}


def is_retry(session_id: str, request_id: str) -> bool:
    """API.md's rule: `<writer>:<seq>` at or below the writer's highest applied seq, or a
    remembered plain id."""
    writer = writer_sequence(request_id)
    if writer is not None:
        return writer[1] <= WRITER_SEQS[session_id].get(writer[0], 0)
    return request_id in APPLIED_IDS[session_id]


def remember(session_id: str, request_id: str, numbers: list[float]) -> None:
    writer = writer_sequence(request_id)
    if writer is None:
        if request_id:
            APPLIED_IDS[session_id].add(request_id)
    elif numbers:  # a writer is recorded once it adds numbers
        seqs = WRITER_SEQS[session_id]
        seqs[writer[0]] = max(writer[1], seqs.get(writer[0], 0))


def ensure_session(stub: median_pb2_grpc.MedianServiceStub, session_id: str) -> None:
    if session_id in MODEL:
        return
    stub.CreateSession(median_pb2.CreateSessionRequest(session_id=session_id), timeout=10)
    MODEL[session_id] = []
    APPLIED_IDS[session_id] = set()
    WRITER_SEQS[session_id] = {}


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    session_id=session_ids,
    numbers=batches(),
    request_id=request_ids,
    create_first=st.booleans(),
)
def test_generated_requests_get_their_documented_status_and_leave_state_consistent(
    channel: grpc.Channel,
    session_id: str,
    numbers: list[float],
    request_id: str,
    create_first: bool,
) -> None:
    stub = median_pb2_grpc.MedianServiceStub(channel)
    valid_id = bool(re.fullmatch(VALID_ID, session_id))
    if create_first and valid_id:
        ensure_session(stub, session_id)
    message = median_pb2.AddNumbersRequest(
        session_id=session_id, numbers=numbers, request_id=request_id
    )
    raw = message.SerializeToString() + unknown_field()
    add_raw = raw_add_numbers(channel)
    expected = expected_code(session_id, numbers, request_id, MODEL)
    if expected == Code.OK and is_retry(session_id, request_id):
        before = len(MODEL[session_id])
        answer = add_raw(iter([raw]), timeout=30)
        assert answer.added_count == 0
        assert answer.number_count == before
    elif expected == Code.OK:
        answer = add_raw(iter([raw]), timeout=30)
        MODEL[session_id].extend(numbers)
        remember(session_id, request_id, numbers)
        assert answer.added_count == len(numbers)
    else:
        with pytest.raises(grpc.RpcError) as refused:
            add_raw(iter([raw]), timeout=30)
        assert refused.value.code() == expected, refused.value.details()
        assert refused.value.details()
    for name, numbers_held in MODEL.items():
        if not numbers_held:
            continue
        held = stub.GetMedian(median_pb2.GetMedianRequest(session_id=name), timeout=10)
        assert held.number_count == len(numbers_held)
        assert held.median == statistics.median(numbers_held)


# Many streams, cancelled at random, then resent by request id: nothing lost, nothing doubled.


async def test_a_thousand_cancelling_streams_into_a_hundred_sessions_lose_and_double_nothing(
    server: RunningServer,
) -> None:
    rng = random.Random(1000)
    sessions = [f"crowd-{i:03d}" for i in range(100)]
    plan = {
        (stream, index): [rng.uniform(-1e6, 1e6) for _ in range(rng.randint(0, 40))]
        for stream in range(1000)
        for index in range(rng.randint(1, 8))
    }
    answered: set[tuple[int, int]] = set()
    baseline = resident_bytes(server.process.pid)

    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = median_pb2_grpc.MedianServiceStub(channel)
        for session_id in sessions:
            await stub.CreateSession(median_pb2.CreateSessionRequest(session_id=session_id))

        async def stream(number: int, cancel_after: int | None) -> None:
            session_id = sessions[number % 100]
            keys = sorted(key for key in plan if key[0] == number)
            call = stub.RunningMedian(None, timeout=60)
            for position, key in enumerate(keys):
                if position == cancel_after:
                    call.cancel()
                    return
                await call.write(
                    median_pb2.RunningMedianRequest(
                        session_id=session_id,
                        numbers=plan[key],
                        request_id=f"{key[0]}-{key[1]}",
                    )
                )
                if rng.random() < 0.1:
                    call.cancel()  # cancelled with a request in flight: applied or not
                    return
                await call.read()
                answered.add(key)
            await call.done_writing()

        await asyncio.gather(
            *(stream(n, rng.choice([None, None, 0, 1, 2, 3])) for n in range(1000))
        )
        assert len(answered) < len(plan), "some requests went unanswered"

        # Resend every request that had no answer, with the same id, as a retrying client would.
        async def resend(session_id: str, keys: list[tuple[int, int]]) -> None:
            requests = [
                median_pb2.AddNumbersRequest(
                    session_id=session_id, numbers=plan[key], request_id=f"{key[0]}-{key[1]}"
                )
                for key in keys
            ]
            await stub.AddNumbers(iter(requests), timeout=60)

        unanswered = sorted(set(plan) - answered)
        await asyncio.gather(
            *(
                resend(session_id, [key for key in unanswered if key[0] % 100 == i])
                for i, session_id in enumerate(sessions)
            )
        )
        peak = resident_bytes(server.process.pid)
        for i, session_id in enumerate(sessions):
            expected = [x for key, numbers in plan.items() if key[0] % 100 == i for x in numbers]
            answer = await stub.ListSessions(median_pb2.ListSessionsRequest(page_size=1000))
            counts = {s.session_id: s.number_count for s in answer.sessions}
            assert counts[session_id] == len(expected)
            if expected:
                got = await stub.GetMedian(median_pb2.GetMedianRequest(session_id=session_id))
                assert got.median == statistics.median(expected)
        for session_id in sessions:
            await stub.DeleteSession(median_pb2.DeleteSessionRequest(session_id=session_id))
    after = resident_bytes(server.process.pid)
    assert after - baseline <= max(0.5 * (peak - baseline), 16 * 1024 * 1024), (
        f"memory did not come back: baseline {baseline}, peak {peak}, after delete {after}"
    )


# A client that stops reading is held back by flow control; others are still served.


async def test_client_that_stops_reading_is_held_back_and_others_are_served(
    server: RunningServer,
) -> None:
    before = resident_bytes(server.process.pid)
    async with (
        grpc.aio.insecure_channel(server.target) as channel,
        grpc.aio.insecure_channel(server.target) as other_channel,
    ):
        stub = median_pb2_grpc.MedianServiceStub(channel)
        other = median_pb2_grpc.MedianServiceStub(other_channel)
        # The longest id makes every answer large, so that unread answers fill the window soon.
        never_reads = "never-reads-" + "x" * 116
        await stub.CreateSession(median_pb2.CreateSessionRequest(session_id=never_reads))
        await other.CreateSession(median_pb2.CreateSessionRequest(session_id="reads"))
        await other.AddNumbers(
            iter([median_pb2.AddNumbersRequest(session_id="reads", numbers=[1.0, 2.0, 3.0])])
        )
        call = stub.RunningMedian(None, timeout=120)
        request = median_pb2.RunningMedianRequest(session_id=never_reads)
        written, held_back = 0, False
        while written < 500_000:
            try:
                await asyncio.wait_for(call.write(request), timeout=2)
            except TimeoutError:
                held_back = True
                break
            written += 1
        assert held_back, f"{written} requests were written and none was held back"
        answer = await other.GetMedian(median_pb2.GetMedianRequest(session_id="reads"), timeout=5)
        assert answer.median == 2.0
        grown = resident_bytes(server.process.pid) - before
        assert grown < 64 * 1024 * 1024, f"server memory grew by {grown} bytes"
        call.cancel()


def test_unknown_fields_are_ignored(channel: grpc.Channel) -> None:
    stub = median_pb2_grpc.MedianServiceStub(channel)
    stub.CreateSession(median_pb2.CreateSessionRequest(session_id="unknown-fields"), timeout=10)
    get_raw = raw_get_median(channel)
    add = stub.AddNumbers(
        iter([median_pb2.AddNumbersRequest(session_id="unknown-fields", numbers=[4.0])]),
        timeout=10,
    )
    assert add.number_count == 1
    raw = median_pb2.GetMedianRequest(session_id="unknown-fields").SerializeToString()
    answer = get_raw(raw + unknown_field(), timeout=10)
    assert answer.median == 4.0


def test_malformed_message_is_invalid_argument(channel: grpc.Channel) -> None:
    get_raw = raw_get_median(channel)
    with pytest.raises(grpc.RpcError) as refused:
        get_raw(b"\x0a\xff\xff", timeout=10)  # a string field longer than the bytes that follow
    assert refused.value.code() == Code.INVALID_ARGUMENT
    assert "not a valid median.v1.GetMedianRequest" in (refused.value.details() or "")
    add_raw = raw_add_numbers(channel)
    with pytest.raises(grpc.RpcError) as refused:
        add_raw(iter([b"\x12\x09\x00"]), timeout=10)  # packed doubles cut short
    assert refused.value.code() == Code.INVALID_ARGUMENT
    assert "median.v1.AddNumbersRequest" in (refused.value.details() or "")


def test_numbers_in_every_wire_encoding_are_applied_and_a_nan_in_any_is_refused(
    channel: grpc.Channel,
) -> None:
    stub = median_pb2_grpc.MedianServiceStub(channel)
    stub.CreateSession(median_pb2.CreateSessionRequest(session_id="encodings"), timeout=10)
    add_raw = raw_add_numbers(channel)

    def packed(*numbers: float) -> bytes:
        payload = struct.pack(f"<{len(numbers)}d", *numbers)
        return b"\x12" + bytes([len(payload)]) + payload

    def unpacked(*numbers: float) -> bytes:
        return b"".join(b"\x11" + struct.pack("<d", x) for x in numbers)

    session = b"\x0a\x09encodings"
    mixed = packed(1.0, 2.0) + session + unpacked(3.0, 4.0) + b"\x20\x01" + packed(5.0)
    answer = add_raw(iter([mixed]), timeout=10)
    assert (answer.added_count, answer.number_count, answer.median) == (5, 5, 3.0)
    with pytest.raises(grpc.RpcError) as refused:
        add_raw(iter([session + packed(6.0) + unpacked(7.0, math.inf)]), timeout=10)
    assert refused.value.code() == Code.INVALID_ARGUMENT
    assert "numbers[2] is inf" in (refused.value.details() or "")
    after = stub.GetMedian(median_pb2.GetMedianRequest(session_id="encodings"), timeout=10)
    assert (after.number_count, after.median) == (5, 3.0), "the refused request changed nothing"
