"""A consumer project per language, outside the library's folder, against one live server.

`tests/consumers/<language>/run TARGET` builds a small project that depends on that language's
library the way its ecosystem does (Go: require + replace; TypeScript: the `npm pack` tarball;
Java: the jar `mvn install` put in the local repository; Rust: a path dependency; C++:
`find_package` of what `cmake --install` installed; Python: pip into a fresh virtual
environment), then makes a session with a library-chosen id, adds 3, 1, 2, 10, reads the
median, deletes the session, and checks that a read after that fails with NOT_FOUND as the
library's error type.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import grpc
import pytest
from median.v1 import median_pb2, median_pb2_grpc

from tests.languages import LANGUAGE_IDS, LANGUAGES, Language, client_env, require
from tests.servers import ROOT, RunningServer, running_server

CREATED = re.compile(r"call /median.v1.MedianService/CreateSession median-session-id=(\S+)")
URL_SAFE_128_BITS = re.compile(r"[A-Za-z0-9_-]{22,}")
BUILD_AND_RUN_SECONDS = 900  # a first build resolves and compiles every dependency


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with running_server("--log-level", "debug") as running:
        yield running


def session_ids(target: str) -> set[str]:
    with grpc.insecure_channel(target) as channel:
        stub = median_pb2_grpc.MedianServiceStub(channel)
        page = stub.ListSessions(median_pb2.ListSessionsRequest(page_size=1000), timeout=10)
        return {session.session_id for session in page.sessions}


@pytest.mark.parametrize("language", LANGUAGES, ids=LANGUAGE_IDS)
def test_consumer_project_creates_adds_reads_and_deletes_through_the_library(
    language: Language, server: RunningServer
) -> None:
    require(language)
    launcher = ROOT / "tests" / "consumers" / language.name / "run"
    assert launcher.is_file(), f"{launcher} is missing"
    before = session_ids(server.target)
    log_start = len(server.log)
    result = subprocess.run(
        [str(launcher), server.target],
        capture_output=True,
        text=True,
        timeout=BUILD_AND_RUN_SECONDS,
        check=False,
        env=client_env(),
        stdin=subprocess.DEVNULL,
    )
    context = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}"
    assert result.returncode == 0, context
    assert result.stdout.splitlines() == ["count=4 median=2.5", "deleted: NOT_FOUND"], context
    assert session_ids(server.target) == before, "the consumer must delete its session"
    logged = server.log[log_start:]
    created = [m[1] for line in logged if (m := CREATED.search(line))]
    assert len(created) == 1, "one CreateSession, naming its library-chosen id in the header"
    assert URL_SAFE_128_BITS.fullmatch(created[0]), created
    assert any(f"DeleteSession median-session-id={created[0]}" in line for line in logged)
