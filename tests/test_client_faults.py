"""Every language's command-line client through server crashes, and its error details.

- The fault test: 200,000 numbers in requests of 1,000 into a server with `--data-dir`, which is
  SIGKILLed twice mid-stream and restarted on its folder and port; the client must finish by
  itself (default `--retry-for 30`), and the session's count and median equal the reference.
- Many writers: two clients per language into one session while the server is killed twice.
- Error details: a NaN in the first request, and a NaN after two answered requests
  (`--running --batch 1`); every client prints the `BadRequest` field violation.

The kills happen once the server has applied a given share of the numbers (polled with
GetMedian), so they land mid-stream however fast or slow the client is.
"""

from __future__ import annotations

import contextlib
import random
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from median.v1 import median_pb2, median_pb2_grpc

from tests.languages import (
    LANGUAGE_IDS,
    LANGUAGES,
    Language,
    as_bits,
    client_command,
    client_env,
    languages_narrowed,
    parse_line,
    run_client,
    runnable_languages,
)
from tests.servers import CrashingServer, RunningServer, running_server

NUMBERS = 200_000
BATCH = 1000
WAIT_SECONDS = 120  # the longest any wait here may take


def count_of(target: str, session_id: str) -> int | None:
    """The session's count, or None while the server does not answer."""
    with grpc.insecure_channel(target) as channel:
        stub = median_pb2_grpc.MedianServiceStub(channel)
        try:
            answer = stub.GetMedian(median_pb2.GetMedianRequest(session_id=session_id), timeout=5)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
                return 0
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                return None
            raise
        return int(answer.number_count)


def final_state(target: str, session_id: str) -> tuple[int, float]:
    with grpc.insecure_channel(target) as channel:
        stub = median_pb2_grpc.MedianServiceStub(channel)
        answer = stub.GetMedian(median_pb2.GetMedianRequest(session_id=session_id), timeout=10)
        return answer.number_count, answer.median


def create_session(target: str, session_id: str) -> None:
    with grpc.insecure_channel(target) as channel:
        stub = median_pb2_grpc.MedianServiceStub(channel)
        stub.CreateSession(median_pb2.CreateSessionRequest(session_id=session_id), timeout=10)


def wait_for_count(
    server: CrashingServer, session_id: str, at_least: int, clients: list[Client]
) -> int:
    """Polls until the session holds `at_least` numbers; fails if every client has exited."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        count = count_of(server.target, session_id)
        if count is not None and count >= at_least:
            return count
        if all(client.process.poll() is not None for client in clients):
            for client in clients:
                client.finish()
            outputs = "\n".join(client.context() for client in clients)
            pytest.fail(
                f"every client exited before the session reached {at_least} numbers (at "
                f"{count}):\n{outputs}"
            )
        assert time.monotonic() < deadline, f"the session stayed at {count} numbers"
        time.sleep(0.01)


class Client:
    """One command-line client process, fed its numbers on a thread of its own."""

    def __init__(self, launcher: Path, args: list[str], stdin: str) -> None:
        self.args = [str(launcher), *args]
        self.process = subprocess.Popen(
            self.args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=client_env(),
        )
        self.stdout = ""
        self.stderr = ""
        self._reader = threading.Thread(target=self._communicate, args=(stdin,))
        self._reader.start()

    def _communicate(self, stdin: str) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.stdout, self.stderr = self.process.communicate(stdin, timeout=WAIT_SECONDS)

    def finish(self) -> int:
        self._reader.join(timeout=WAIT_SECONDS + 10)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
            pytest.fail(f"{self.args} did not finish by itself within {WAIT_SECONDS} s")
        return self.process.returncode

    def context(self) -> str:
        return f"{self.args}\nstdout:\n{self.stdout[-2000:]}\nstderr:\n{self.stderr[-4000:]}"


def reference_numbers(seed: str, count: int) -> list[float]:
    """Random doubles of every magnitude class, with duplicates, as shortest round-trip text."""
    rng = random.Random(seed)
    numbers = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.5:
            numbers.append(rng.uniform(-1e6, 1e6))
        elif kind < 0.8:
            numbers.append(float(rng.randint(-500, 500)))
        else:
            numbers.append(rng.uniform(-1.0, 1.0) * 10 ** rng.randint(-30, 30))
    return numbers


def as_stdin(numbers: list[float]) -> str:
    return " ".join(repr(number) for number in numbers)


@pytest.mark.parametrize("mode", ["plain", "running"])
@pytest.mark.parametrize("language", LANGUAGES, ids=LANGUAGE_IDS)
def test_client_finishes_by_itself_through_two_sigkills_with_every_number_once(
    language: Language, mode: str, tmp_path: Path
) -> None:
    launcher = client_command(language)
    numbers = reference_numbers(f"fault-{language.name}-{mode}", NUMBERS)
    session_id = f"fault-{language.name}-{mode}"
    with CrashingServer(tmp_path / "data") as server:
        create_session(server.target, session_id)
        args = ["--target", server.target, "--session", session_id, "--batch", str(BATCH)]
        if mode == "running":
            args.append("--running")
        client = Client(launcher, args, as_stdin(numbers))
        counts_at_kills = []
        for share in (0.1, 0.25):
            counts_at_kills.append(
                wait_for_count(server, session_id, int(NUMBERS * share), [client])
            )
            assert client.process.poll() is None, "the client finished before the kill"
            server.kill_and_restart()
        status = client.finish()
        final = final_state(server.target, session_id)

    context = client.context()
    assert status == 0, context
    assert all(count < NUMBERS for count in counts_at_kills), "a kill came after the last number"
    assert final == (NUMBERS, statistics.median(numbers)), context
    lines = client.stdout.splitlines()
    if mode == "plain":
        assert [parse_line(line) for line in lines] == [
            (NUMBERS, as_bits(repr(statistics.median(numbers))))
        ], context
    else:
        # One line per request, exactly once across both resumes; the session has no other
        # writer, so the i-th line counts exactly the numbers of the first i requests.
        counts = [parse_line(line)[0] for line in lines]
        assert counts == [BATCH * (i + 1) for i in range(NUMBERS // BATCH)], context
        assert parse_line(lines[-1]) == (NUMBERS, as_bits(repr(statistics.median(numbers))))


WRITER_NUMBERS = 20_000
WRITER_BATCH = 500


def test_two_writers_per_language_into_one_session_through_two_sigkills(tmp_path: Path) -> None:
    languages = runnable_languages()
    # Two writers of each of the six languages (a developer may narrow the languages with
    # MEDIAN_TEST_LANGUAGES; CI may not).
    assert len(languages) >= 4 or languages_narrowed(), "the test needs at least four languages"
    session_id = "many-writers"
    every_number: list[float] = []
    with CrashingServer(tmp_path / "data") as server:
        create_session(server.target, session_id)
        clients = []
        for language in languages:
            for writer in range(2):
                numbers = reference_numbers(f"writers-{language.name}-{writer}", WRITER_NUMBERS)
                every_number += numbers
                args = ["--target", server.target, "--session", session_id]
                args += ["--batch", str(WRITER_BATCH)]
                if writer == 1:
                    args.append("--running")
                launcher = client_command(language)
                clients.append(Client(launcher, args, as_stdin(numbers)))
        total = len(every_number)
        counts_at_kills = []
        for share in (0.1, 0.3):
            at_least = int(total * share)
            counts_at_kills.append(wait_for_count(server, session_id, at_least, clients))
            assert any(c.process.poll() is None for c in clients), "no writer was running"
            server.kill_and_restart()
        statuses = [client.finish() for client in clients]
        final = final_state(server.target, session_id)

    for index, (client, status) in enumerate(zip(clients, statuses, strict=True)):
        assert status == 0, client.context()
        if index % 2 == 1:  # --running: one line per request, exactly once across resumes
            counts = [parse_line(line)[0] for line in client.stdout.splitlines()]
            assert len(counts) == WRITER_NUMBERS // WRITER_BATCH, client.context()
            assert counts == sorted(counts), client.context()
            assert counts[0] >= WRITER_BATCH, client.context()
            assert counts[-1] <= total, client.context()
    assert all(count < total for count in counts_at_kills)
    assert final == (total, statistics.median(every_number))


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with running_server() as running:
        yield running


def refused_for_a_nan(
    language: Language,
    server: RunningServer,
    session_id: str,
    args: list[str],
    stdin: str,
    field: str,
) -> subprocess.CompletedProcess[str]:
    """Runs the client into a new session until the server refuses a NaN: it must exit 1 with
    the INVALID_ARGUMENT and the BadRequest violation of `field`. Returns the finished run."""
    launcher = client_command(language)
    create_session(server.target, session_id)
    result = run_client(
        launcher, ["--target", server.target, "--session", session_id, *args], stdin
    )
    context = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 1, context
    first, *details = result.stderr.strip().splitlines()
    assert first.startswith("error: INVALID_ARGUMENT: "), context
    assert any(line.startswith(f"detail: BadRequest {field}: ") for line in details), context
    return result


@pytest.mark.parametrize("language", LANGUAGES, ids=LANGUAGE_IDS)
def test_a_nan_in_the_first_request_prints_the_bad_request_field_violation(
    language: Language, server: RunningServer
) -> None:
    session_id = f"nan-first-{language.name}"
    refused_for_a_nan(language, server, session_id, [], "1 NaN 2", "numbers[1]")
    assert count_of(server.target, session_id) == 0


@pytest.mark.parametrize("language", LANGUAGES, ids=LANGUAGE_IDS)
def test_a_nan_after_two_answered_requests_prints_both_answers_and_the_violation(
    language: Language, server: RunningServer
) -> None:
    session_id = f"nan-third-{language.name}"
    result = refused_for_a_nan(
        language, server, session_id, ["--running", "--batch", "1"], "1 2 NaN 4", "numbers[0]"
    )
    assert [parse_line(line) for line in result.stdout.splitlines()] == [
        (1, as_bits("1")),
        (2, as_bits("1.5")),
    ], result.stderr
    assert count_of(server.target, session_id) == 2
