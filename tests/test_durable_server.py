"""`median-server --data-dir` as a process: a SIGKILL in the middle of a stream, a disk that
refuses writes, and data folders that must stop the server at start instead of serving empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from median.v1 import median_pb2, median_pb2_grpc
from median_server.storage import FILE_NAME, open_journal

from tests.servers import run_server_expecting_exit, running_server

Code = grpc.StatusCode
REQUESTS = 400
NUMBERS_PER_REQUEST = 100
READ_ANSWERS = 150  # answers the client reads before the server is killed
UNREAD_APPLIED = 50  # requests the server applies, at least, whose answers go unread


def stub_for(channel: grpc.Channel) -> median_pb2_grpc.MedianServiceStub:
    return median_pb2_grpc.MedianServiceStub(channel)


def get_median(stub: median_pb2_grpc.MedianServiceStub, session_id: str) -> tuple[int, float]:
    answer = stub.GetMedian(median_pb2.GetMedianRequest(session_id=session_id), timeout=10)
    return answer.number_count, answer.median


@pytest.mark.parametrize("sync", ["batch", "always"])
def test_a_client_resending_what_a_sigkill_left_unanswered_ends_with_every_number_once(
    tmp_path: Path, sync: str
) -> None:
    rng = random.Random(f"sigkill-{sync}")
    requests = [
        median_pb2.RunningMedianRequest(
            session_id="s",
            numbers=[
                rng.choice((rng.uniform(-1e6, 1e6), float(rng.randint(-50, 50))))
                for _ in range(NUMBERS_PER_REQUEST)
            ],
            request_id=f"request-{index}",
        )
        for index in range(REQUESTS)
    ]
    with (
        running_server("--data-dir", str(tmp_path), "--sync", sync) as first,
        grpc.insecure_channel(first.target) as channel,
        grpc.insecure_channel(first.target) as watcher,
    ):
        stub = stub_for(channel)
        stub.CreateSession(median_pb2.CreateSessionRequest(session_id="s"), timeout=10)
        stream = stub.RunningMedian(iter(requests), timeout=60)
        answered = sum(1 for _ in itertools.islice(stream, READ_ANSWERS))
        # The client reads no further answers; once the server has applied (so committed)
        # more requests than that, the kill leaves some applied requests unanswered.
        applied_before_kill = wait_for_count(
            stub_for(watcher), "s", (READ_ANSWERS + UNREAD_APPLIED) * NUMBERS_PER_REQUEST
        )
        first.process.kill()
        assert first.process.wait(timeout=10) == -9  # the stream ends with the channel

    every_number = [number for request in requests for number in request.numbers]
    with (
        running_server("--data-dir", str(tmp_path)) as second,
        grpc.insecure_channel(second.target) as channel,
    ):
        stub = stub_for(channel)
        restarted_count, _ = get_median(stub, "s")
        unanswered = requests[answered:]
        resent = list(stub.RunningMedian(iter(unanswered), timeout=60))
        final = get_median(stub, "s")
        # Retrying requests that were answered before the crash adds nothing either.
        retried = list(stub.RunningMedian(iter(requests[answered - 50 : answered]), timeout=60))
        after_retries = get_median(stub, "s")

    assert answered == READ_ANSWERS
    assert applied_before_kill <= restarted_count < len(every_number)  # killed mid-stream
    assert len(resent) == len(unanswered)
    unread = (applied_before_kill // NUMBERS_PER_REQUEST) - answered
    assert [answer.added_count for answer in resent[:unread]] == [0] * unread
    assert sum(answer.added_count for answer in resent) == len(every_number) - restarted_count
    assert final == (len(every_number), statistics.median(every_number))
    assert [answer.added_count for answer in retried] == [0] * 50
    assert after_retries == final


def wait_for_count(stub: median_pb2_grpc.MedianServiceStub, session_id: str, at_least: int) -> int:
    """Polls the session's count until it reaches `at_least` (within 30 s); returns it."""
    deadline = time.monotonic() + 30
    while (count := get_median(stub, session_id)[0]) < at_least:
        assert time.monotonic() < deadline, f"the server applied only {count} numbers"
        time.sleep(0.005)
    return count


def test_a_write_the_disk_refuses_is_unavailable_and_changes_nothing(tmp_path: Path) -> None:
    with running_server("--data-dir", str(tmp_path)) as server:
        with grpc.insecure_channel(server.target) as channel:
            stub = stub_for(channel)
            stub.CreateSession(median_pb2.CreateSessionRequest(session_id="s"), timeout=10)
            add_numbers(stub, "s", [1.0, 2.0, 3.0])
            # Files may no longer grow: every write of the database fails from here on.
            resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
            for attempt in range(2):
                with pytest.raises(grpc.RpcError) as refused:
                    add_numbers(stub, "s", [100.0 + attempt])
                assert refused.value.code() == Code.UNAVAILABLE
                assert "data folder" in (refused.value.details() or "")
            with pytest.raises(grpc.RpcError) as refused:
                stub.CreateSession(median_pb2.CreateSessionRequest(session_id="t"), timeout=10)
            assert refused.value.code() == Code.UNAVAILABLE
            assert get_median(stub, "s") == (3, 2.0)  # reads go on
        assert server.wait_for_log("cannot write to the data folder")

    with (
        running_server("--data-dir", str(tmp_path)) as restarted,
        grpc.insecure_channel(restarted.target) as channel,
    ):
        stub = stub_for(channel)
        assert get_median(stub, "s") == (3, 2.0)
        listed = stub.ListSessions(median_pb2.ListSessionsRequest(), timeout=10)
        assert [s.session_id for s in listed.sessions] == ["s"]


def add_numbers(
    stub: median_pb2_grpc.MedianServiceStub, session_id: str, numbers: list[float]
) -> median_pb2.AddNumbersResponse:
    request = median_pb2.AddNumbersRequest(session_id=session_id, numbers=numbers)
    return stub.AddNumbers(iter([request]), timeout=10)


# Data folders that must stop the server at start, with a message naming the folder.


def fill(folder: Path, sessions: int = 1) -> None:
    """Writes `sessions` sessions of two numbers each, the way a server would."""

    async def write() -> None:
        journal = open_journal(folder)
        list(journal.load())
        journal.start()
        for index in range(sessions):
            journal.create("", f"s{index}", time.time())
            await journal.append("", f"s{index}", [1.0, 2.0], "r", time.time())
        await journal.close()

    asyncio.run(write())


def tamper(folder: Path, sql: str) -> None:
    with contextlib.closing(sqlite3.connect(folder / FILE_NAME)) as database:
        database.execute(sql)
        database.commit()


def not_a_database(folder: Path) -> None:
    folder.mkdir()
    (folder / FILE_NAME).write_bytes(b"these are not the pages of a database\n" * 200)


def damaged_numbers(folder: Path) -> None:
    fill(folder)
    tamper(folder, "UPDATE batches SET numbers = zeroblob(length(numbers))")


def newer_schema(folder: Path) -> None:
    fill(folder)
    tamper(folder, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")


def some_other_database(folder: Path) -> None:
    folder.mkdir()
    tamper(folder, "CREATE TABLE notes (body TEXT)")


def a_file(folder: Path) -> None:
    folder.write_text("a file, not a folder\n")


def more_sessions_than_allowed(folder: Path) -> None:
    fill(folder, sessions=3)


@pytest.mark.parametrize(
    ("prepare", "flags", "reason"),
    [
        (not_a_database, [], "is damaged or not a median-server data file"),
        (damaged_numbers, [], "fail their checksum"),
        (newer_schema, [], "schema version 99"),
        (some_other_database, [], "not a median-server data file"),
        (a_file, [], "is not a folder"),
        (more_sessions_than_allowed, ["--max-sessions", "2"], "more than --max-sessions 2"),
    ],
)
def test_a_data_folder_the_server_cannot_trust_stops_it_at_start_naming_the_folder(
    tmp_path: Path, prepare: Callable[[Path], None], flags: list[str], reason: str
) -> None:
    folder = tmp_path / "data"
    prepare(folder)
    status, stderr = run_server_expecting_exit("--data-dir", str(folder), *flags)
    assert status == 1
    assert f"--data-dir {folder}" in stderr
    assert reason in stderr
    assert "listening" not in stderr


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """Makes `folder` unwritable for the server's user: read-only bits, or immutable for root."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)], check=False).returncode:
        pytest.skip("running as root, and the folder cannot be made immutable (chattr +i)")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


@pytest.mark.parametrize("holds_data", [False, True])
def test_a_folder_the_server_cannot_write_stops_it_at_start(
    tmp_path: Path, holds_data: bool
) -> None:
    folder = tmp_path / "data"
    if holds_data:
        fill(folder)
    else:
        folder.mkdir()
    with unwritable(folder):
        status, stderr = run_server_expecting_exit("--data-dir", str(folder))
    assert status == 1
    assert f"--data-dir {folder}" in stderr
    assert "not writable" in stderr


def test_a_second_server_on_the_same_folder_stops_with_a_clear_error(tmp_path: Path) -> None:
    with running_server("--data-dir", str(tmp_path)) as first:
        status, stderr = run_server_expecting_exit("--data-dir", str(tmp_path))
        assert first.process.poll() is None
    assert status == 1
    assert "another median-server is using this folder" in stderr


def test_every_writer_of_a_session_resending_after_a_sigkill_adds_nothing(tmp_path: Path) -> None:
    """Three `<writer>:<seq>` writers send 1,500 requests in all (past the 1,024 plain ids a
    session remembers); after a SIGKILL and a restart on the folder, each writer's resend of
    every request adds nothing, and a writer's next request is applied."""
    writers = {
        f"writer{w}": [[float(w * 10_000 + i), float(-i)] for i in range(500)] for w in range(3)
    }

    def stream(writer: str, batches: list[list[float]]) -> Iterator[median_pb2.AddNumbersRequest]:
        for seq, numbers in enumerate(batches, start=1):
            yield median_pb2.AddNumbersRequest(
                session_id="s", numbers=numbers, request_id=f"{writer}:{seq}"
            )

    every_number = [n for batches in writers.values() for batch in batches for n in batch]
    with (
        running_server("--data-dir", str(tmp_path)) as first,
        grpc.insecure_channel(first.target) as channel,
    ):
        stub = stub_for(channel)
        stub.CreateSession(median_pb2.CreateSessionRequest(session_id="s"), timeout=10)
        for writer, batches in writers.items():
            assert stub.AddNumbers(stream(writer, batches), timeout=60).added_count == 1000
        first.process.kill()
        assert first.process.wait(timeout=10) == -9

    with (
        running_server("--data-dir", str(tmp_path)) as second,
        grpc.insecure_channel(second.target) as channel,
    ):
        stub = stub_for(channel)
        for writer, batches in writers.items():
            assert stub.AddNumbers(stream(writer, batches), timeout=60).added_count == 0
        assert get_median(stub, "s") == (len(every_number), statistics.median(every_number))
        more = stub.AddNumbers(stream("writer0", [*writers["writer0"], [1.5]]), timeout=60)
        assert (more.added_count, more.number_count) == (1, len(every_number) + 1)
