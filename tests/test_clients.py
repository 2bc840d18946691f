"""Every language's command-line client against real servers, driven by the shared vectors.

Each vector runs through each client twice, plain (`AddNumbers` then `GetMedian`) and with
`--running`, and the output is compared line by line: counts exactly, medians as doubles, bit for
bit. It does so in plaintext, and over TLS with a bearer token (`--tls-ca`, `MEDIAN_TOKEN`); one
vector also runs over mutual TLS (`--tls-cert`, `--tls-key`, and `--token`). A language whose
toolchain is missing is skipped with what to install; with CI=true a skip is a failure, so CI
proves all six.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from median.v1 import median_pb2, median_pb2_grpc

from tests.certs import Certificates, make_certificates
from tests.cluster import list_all
from tests.languages import (
    LANGUAGE_IDS,
    LANGUAGES,
    Language,
    as_bits,
    client_command,
    parse_line,
    run_client,
)
from tests.servers import ROOT, RunningServer, running_server

VECTORS = sorted((ROOT / "tests" / "vectors").glob("*.json"))
TOKEN = "vector-token-0123456789abcdef"  # noqa: S105  # a test token, in the server's token file
MTLS_VECTOR = ROOT / "tests" / "vectors" / "random_2500_batches_of_1000.json"


@dataclass
class Endpoint:
    """A running server and how to reach it: the client's extra flags and environment, and a
    Python channel with the same credentials for the test's own checks."""

    server: RunningServer
    client_args: list[str] = field(default_factory=list)
    client_env: dict[str, str | None] = field(default_factory=dict)
    credentials: grpc.ChannelCredentials | None = None
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def target(self) -> str:
        return self.server.target

    def channel(self) -> grpc.Channel:
        if self.credentials is None:
            return grpc.insecure_channel(self.target)
        return grpc.secure_channel(self.target, self.credentials)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with running_server("--log-level", "debug") as running:
        yield running


@pytest.fixture(scope="module")
def plaintext(server: RunningServer) -> Endpoint:
    return Endpoint(server)


@pytest.fixture(scope="module")
def tls_with_token(
    certificates: Certificates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Endpoint]:
    tokens = tmp_path_factory.mktemp("tokens") / "tokens.txt"
    tokens.write_text(f"{TOKEN} vectors\n")
    with running_server(
        "--tls-cert", str(certificates.server_cert), "--tls-key", str(certificates.server_key),
        "--auth-tokens", str(tokens),
    ) as running:  # fmt: skip
        yield Endpoint(
            running,
            ["--tls-ca", str(certificates.ca)],
            {"MEDIAN_TOKEN": TOKEN},
            grpc.ssl_channel_credentials(certificates.ca.read_bytes()),
            (("authorization", f"Bearer {TOKEN}"),),
        )


@pytest.fixture(scope="module")
def mutual_tls(
    certificates: Certificates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Endpoint]:
    tokens = tmp_path_factory.mktemp("mtls-tokens") / "tokens.txt"
    tokens.write_text(f"{TOKEN} vectors\n")
    with running_server(
        "--tls-cert", str(certificates.server_cert), "--tls-key", str(certificates.server_key),
        "--tls-client-ca", str(certificates.ca), "--auth-tokens", str(tokens),
    ) as running:  # fmt: skip
        flags = [
            "--tls-ca", str(certificates.ca), "--tls-cert", str(certificates.client_cert),
            "--tls-key", str(certificates.client_key), "--token", TOKEN,
        ]  # fmt: skip
        yield Endpoint(
            running,
            flags,
            {},
            grpc.ssl_channel_credentials(
                certificates.ca.read_bytes(),
                certificates.client_key.read_bytes(),
                certificates.client_cert.read_bytes(),
            ),
            (("authorization", f"Bearer {TOKEN}"),),
        )


def session_exists(endpoint: Endpoint, session_id: str) -> bool:
    with endpoint.channel() as channel:
        stub = median_pb2_grpc.MedianServiceStub(channel)
        try:
            stub.GetMedian(
                median_pb2.GetMedianRequest(session_id=session_id),
                timeout=10,
                metadata=endpoint.metadata,
            )
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return False
            if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
                return True
            raise
        return True


def session_count(endpoint: Endpoint) -> int:
    with endpoint.channel() as channel:
        stub = median_pb2_grpc.MedianServiceStub(channel)
        return sum(1 for _ in list_all(stub, metadata=endpoint.metadata))


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def check_vector(language: Language, vector: Path, mode: str, endpoint: Endpoint) -> None:
    """Runs one vector through one client and compares everything the vector expects."""
    launcher = client_command(language)
    case = load(vector)
    expected = case[mode]
    command = [
        str(launcher), "--target", endpoint.target, "--batch", str(case["batch"]),
        *endpoint.client_args,
    ]  # fmt: skip
    if case["session"]:
        command += ["--session", case["session"]]
    if mode == "running":
        command.append("--running")
    sessions_before = session_count(endpoint)
    result = run_client(launcher, command[1:], case["stdin"], endpoint.client_env)
    context = f"{command}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == expected["exit"], context
    lines = result.stdout.splitlines()

    if "bad_token" in expected:
        assert lines == [], context
        assert expected["bad_token"] in result.stderr, context
        assert session_count(endpoint) == sessions_before, "a bad token must send nothing"
        return

    if case["session"] is None:
        assert lines, context
        assert lines[0].startswith("session="), context
        session_id = lines.pop(0).removeprefix("session=")
        assert session_exists(endpoint, session_id), context
    assert [parse_line(line) for line in lines] == [
        parse_line(line) for line in expected["lines"]
    ], context

    if "error" in expected:
        first, *details = result.stderr.strip().splitlines()
        assert first.startswith(f"error: {expected['error']}: "), context
        assert all(line.startswith("detail: ") for line in details), context
    else:
        assert result.stderr.strip() == "", context


@pytest.mark.parametrize("mode", ["plain", "running"])
@pytest.mark.parametrize("vector", VECTORS, ids=[path.stem for path in VECTORS])
@pytest.mark.parametrize("language", LANGUAGES, ids=LANGUAGE_IDS)
def test_client_prints_what_the_vector_expects(
    language: Language, vector: Path, mode: str, plaintext: Endpoint
) -> None:
    check_vector(language, vector, mode, plaintext)


@pytest.mark.parametrize("mode", ["plain", "running"])
@pytest.mark.parametrize("vector", VECTORS, ids=[path.stem for path in VECTORS])
@pytest.mark.parametrize("language", LANGUAGES, ids=LANGUAGE_IDS)
def test_client_prints_what_the_vector_expects_over_tls_with_a_token(
    language: Language, vector: Path, mode: str, tls_with_token: Endpoint
) -> None:
    check_vector(language, vector, mode, tls_with_token)


@pytest.mark.parametrize("mode", ["plain", "running"])
@pytest.mark.parametrize("language", LANGUAGES, ids=LANGUAGE_IDS)
def test_client_prints_what_the_vector_expects_over_mutual_tls(
    language: Language, mode: str, mutual_tls: Endpoint
) -> None:
    check_vector(language, MTLS_VECTOR, mode, mutual_tls)


@pytest.mark.parametrize("language", LANGUAGES, ids=LANGUAGE_IDS)
def test_client_without_the_token_is_refused_unauthenticated_over_tls(
    language: Language, tls_with_token: Endpoint
) -> None:
    launcher = client_command(language)
    args = ["--target", tls_with_token.target, "--session", "s", *tls_with_token.client_args]
    result = run_client(launcher, args, "1 2 3")  # no MEDIAN_TOKEN
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: UNAUTHENTICATED: "), result.stderr


@pytest.mark.parametrize("language", LANGUAGES, ids=LANGUAGE_IDS)
def test_client_delete_flag_removes_the_session(language: Language, server: RunningServer) -> None:
    launcher = client_command(language)
    result = run_client(launcher, ["--target", server.target, "--delete"], "1 2 3")
    assert result.returncode == 0, result.stderr
    first, last = result.stdout.splitlines()
    assert last == "count=3 median=2" or parse_line(last) == (3, as_bits("2")), result.stdout
    assert not session_exists(Endpoint(server), first.removeprefix("session="))


@pytest.mark.parametrize("language", LANGUAGES, ids=LANGUAGE_IDS)
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


@pytest.mark.parametrize("language", LANGUAGES, ids=LANGUAGE_IDS)
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


@pytest.mark.parametrize("language", LANGUAGES, ids=LANGUAGE_IDS)
@pytest.mark.parametrize("retry_for", ["0", "1"])
def test_client_reports_an_unreachable_server_as_unavailable_once_it_stops_resuming(
    language: Language, retry_for: str
) -> None:
    launcher = client_command(language)
    result = run_client(
        launcher,
        ["--target", "127.0.0.1:1", "--session", "x", "--retry-for", retry_for],
        "1",
    )
    assert result.returncode == 1, result.stderr
    # Resuming off: the first UNAVAILABLE. Resuming for a second: the last error when the
    # time ran out, UNAVAILABLE or, if the client's last attempt hit its deadline, that.
    codes = ["UNAVAILABLE"] if retry_for == "0" else ["UNAVAILABLE", "DEADLINE_EXCEEDED"]
    assert any(result.stderr.startswith(f"error: {code}: ") for code in codes), result.stderr
