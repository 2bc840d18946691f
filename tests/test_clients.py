"""Every language's command-line client against one real server, driven by the shared vectors.

Each vector runs through each client twice, plain (`AddNumbers` then `GetMedian`) and with
`--running`, and the output is compared line by line: counts exactly, medians as doubles, bit for
bit. A language whose toolchain is missing is skipped with what to install; with CI=true a skip
is a failure, so CI proves all six.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from median.v1 import median_pb2, median_pb2_grpc

from tests.servers import ROOT, RunningServer, running_server

VECTORS = sorted((ROOT / "tests" / "vectors").glob("*.json"))
IN_CI = os.environ.get("CI", "").lower() == "true"


@dataclass(frozen=True)
class Language:
    name: str
    tools: tuple[str, ...]
    install_hint: str

    def missing_tools(self) -> list[str]:
        return [tool for tool in self.tools if shutil.which(tool) is None]


LANGUAGES = [
    Language("python", (), ""),
    Language("go", ("go",), "install Go 1.25 or newer"),
    Language("java", ("java", "mvn"), "install a JDK 17 and Maven 3.8"),
    Language("typescript", ("node", "npm"), "install Node.js 20 with npm"),
    Language(
        "cpp",
        ("cmake", "g++", "grpc_cpp_plugin"),
        "apt-get install cmake g++ protobuf-compiler protobuf-compiler-grpc libgrpc++-dev",
    ),
    Language("rust", ("cargo",), "install Rust with rustup"),
]


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with running_server("--log-level", "debug") as running:
        yield running


def client_command(language: Language) -> Path:
    missing = language.missing_tools()
    if missing:
        message = (
            f"{language.name} client skipped: {', '.join(missing)} not found; "
            f"{language.install_hint}"
        )
        if IN_CI:
            pytest.fail(f"{message} (CI=true: every language must run)")
        pytest.skip(message)
    launcher = ROOT / "clients" / language.name / "run"
    assert launcher.is_file(), f"{launcher} is missing: `make clients-{language.name}` builds it"
    return launcher


def as_bits(text: str) -> bytes:
    return struct.pack("<d", float(text))


def parse_line(line: str) -> tuple[int, bytes | None]:
    """`count=N median=M` as (N, bits of M); `count=0` as (0, None)."""
    fields = dict(part.split("=", 1) for part in line.split())
    assert set(fields) <= {"count", "median"}, line
    median = fields.get("median")
    return int(fields["count"]), None if median is None else as_bits(median)


def session_exists(target: str, session_id: str) -> bool:
    with grpc.insecure_channel(target) as channel:
        stub = median_pb2_grpc.MedianServiceStub(channel)
        try:
            stub.GetMedian(median_pb2.GetMedianRequest(session_id=session_id), timeout=10)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return False
            if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
                return True
            raise
        return True


def session_count(target: str) -> int:
    with grpc.insecure_channel(target) as channel:
        stub = median_pb2_grpc.MedianServiceStub(channel)
        total, token = 0, ""
        while True:
            page = stub.ListSessions(
                median_pb2.ListSessionsRequest(page_size=1000, page_token=token), timeout=10
            )
            total += len(page.sessions)
            token = page.next_page_token
            if not token:
                return total


def run_client(launcher: Path, args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(launcher), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


@pytest.mark.parametrize("mode", ["plain", "running"])
@pytest.mark.parametrize("vector", VECTORS, ids=[path.stem for path in VECTORS])
@pytest.mark.parametrize("language", LANGUAGES, ids=[language.name for language in LANGUAGES])
def test_client_prints_what_the_vector_expects(
    language: Language, vector: Path, mode: str, server: RunningServer
) -> None:
    launcher = client_command(language)
    case = load(vector)
    expected = case[mode]
    command = [str(launcher), "--target", server.target, "--batch", str(case["batch"])]
    if case["session"]:
        command += ["--session", case["session"]]
    if mode == "running":
        command.append("--running")
    sessions_before = session_count(server.target)
    result = run_client(launcher, command[1:], case["stdin"])
    context = f"{command}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == expected["exit"], context
    lines = result.stdout.splitlines()

    if "bad_token" in expected:
        assert lines == [], context
        assert expected["bad_token"] in result.stderr, context
        assert session_count(server.target) == sessions_before, "a bad token must send nothing"
        return

    if case["session"] is None:
        assert lines, context
        assert lines[0].startswith("session="), context
        session_id = lines.pop(0).removeprefix("session=")
        assert session_exists(server.target, session_id), context
    assert [parse_line(line) for line in lines] == [
        parse_line(line) for line in expected["lines"]
    ], context

    if "error" in expected:
        error_lines = result.stderr.strip().splitlines()
        assert len(error_lines) == 1, context
        assert error_lines[0].startswith(f"error: {expected['error']}: "), context
    else:
        assert result.stderr.strip() == "", context


@pytest.mark.parametrize("language", LANGUAGES, ids=[language.name for language in LANGUAGES])
def test_client_delete_flag_removes_the_session(language: Language, server: RunningServer) -> None:
    launcher = client_command(language)
    result = run_client(launcher, ["--target", server.target, "--delete"], "1 2 3")
    assert result.returncode == 0, result.stderr
    first, last = result.stdout.splitlines()
    assert last == "count=3 median=2" or parse_line(last) == (3, as_bits("2")), result.stdout
    assert not session_exists(server.target, first.removeprefix("session="))


@pytest.mark.parametrize("language", LANGUAGES, ids=[language.name for language in LANGUAGES])
def test_client_uses_the_given_session(language: Language, server: RunningServer) -> None:
    launcher = client_command(language)
    session_id = f"given-{language.name}-session"
    with grpc.insecure_channel(server.target) as channel:
        stub = median_pb2_grpc.MedianServiceStub(channel)
        stub.CreateSession(median_pb2.CreateSessionRequest(session_id=session_id), timeout=10)
        stub.AddNumbers(
            iter([median_pb2.AddNumbersRequest(session_id=session_id, numbers=[100.0])]),
            timeout=10,
        )
    result = run_client(
        launcher, ["--target", server.target, "--session", session_id, "--batch", "2"], "4 8 15 16"
    )
    assert result.returncode == 0, result.stderr
    assert [parse_line(line) for line in result.stdout.splitlines()] == [(5, as_bits("15"))]


@pytest.mark.parametrize("language", LANGUAGES, ids=[language.name for language in LANGUAGES])
def test_client_sends_the_session_id_it_chose_as_routing_metadata(
    language: Language, server: RunningServer
) -> None:
    launcher = client_command(language)
    result = run_client(launcher, ["--target", server.target, "--running"], "1 2")
    assert result.returncode == 0, result.stderr
    session_id = result.stdout.splitlines()[0].removeprefix("session=")
    assert len(session_id) >= 22, "the client picks an id of at least 128 random bits"
    for method in ("CreateSession", "RunningMedian"):
        logged = f"call /median.v1.MedianService/{method} median-session-id={session_id}"
        assert server.wait_for_log(logged), f"server log lacks {logged!r}"


@pytest.mark.parametrize("language", LANGUAGES, ids=[language.name for language in LANGUAGES])
def test_client_reports_an_unreachable_server_as_unavailable(language: Language) -> None:
    launcher = client_command(language)
    result = run_client(launcher, ["--target", "127.0.0.1:1", "--session", "x"], "1")
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: UNAVAILABLE: "), result.stderr
