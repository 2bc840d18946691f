"""TLS and mutual TLS: real handshakes on loopback with certificates made by the test.

The server runs in the test's event loop where the asyncio stubs suffice, and as a process for
its flags and for the blocking Python client and the command-line client.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from median.v1 import median_pb2, median_pb2_grpc
from median_client import AsyncMedianClient, MedianClient, MedianError
from median_client.security import AUTHORIZATION, security, tls_credentials

from tests.certs import OPENSSL, Certificates, make_certificates
from tests.conftest import ServiceFactory
from tests.servers import ROOT, RunningServer, run_server_expecting_exit, running_server

Code = grpc.StatusCode
TOKEN = "tls-test-token-0123456789abcdef"  # noqa: S105  # made up for these tests
CALL_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


def server_tls(certs: Certificates, *, client_ca: bool = False) -> dict[str, str]:
    settings = {"tls_cert": str(certs.server_cert), "tls_key": str(certs.server_key)}
    if client_ca:
        settings["tls_client_ca"] = str(certs.ca)
    return settings


def secure_stub(
    target: str, roots: Path, cert: Path | None = None, key: Path | None = None
) -> tuple[grpc.aio.Channel, median_pb2_grpc.MedianServiceAsyncStub]:
    credentials = grpc.ssl_channel_credentials(
        roots.read_bytes(),
        key.read_bytes() if key else None,
        cert.read_bytes() if cert else None,
    )
    channel = grpc.aio.secure_channel(target, credentials)
    return channel, median_pb2_grpc.MedianServiceStub(channel)


async def create(stub: median_pb2_grpc.MedianServiceAsyncStub, session_id: str) -> Code:
    """Creates a session; the status code of the call."""
    try:
        await stub.CreateSession(
            median_pb2.CreateSessionRequest(session_id=session_id), timeout=CALL_TIMEOUT
        )
    except grpc.aio.AioRpcError as error:
        return error.code()
    return Code.OK


# TLS: the server proves who it is.


async def test_a_tls_server_serves_a_client_that_trusts_its_ca(
    make_service: ServiceFactory, certs: Certificates
) -> None:
    service = await make_service(**server_tls(certs))
    channel, stub = secure_stub(service.target, certs.ca)
    async with channel:
        assert await create(stub, "over-tls") == Code.OK
        call = stub.AddNumbers(None, timeout=CALL_TIMEOUT)
        await call.write(median_pb2.AddNumbersRequest(session_id="over-tls", numbers=[3, 1, 2]))
        await call.done_writing()
        answer = await call
    assert (answer.number_count, answer.median) == (3, 2.0)


async def test_a_tls_server_refuses_a_plaintext_client(
    make_service: ServiceFactory, certs: Certificates
) -> None:
    service = await make_service(**server_tls(certs))
    assert await create(service.stub, "plaintext") == Code.UNAVAILABLE  # an insecure channel
    assert len(service.server.store) == 0


async def test_a_client_that_does_not_trust_the_servers_ca_cannot_connect(
    make_service: ServiceFactory, certs: Certificates
) -> None:
    service = await make_service(**server_tls(certs))
    channel, stub = secure_stub(service.target, certs.other_ca)
    async with channel:
        assert await create(stub, "wrong-ca") == Code.UNAVAILABLE
    assert len(service.server.store) == 0


async def test_health_over_tls_is_serving(
    make_service: ServiceFactory, certs: Certificates
) -> None:
    service = await make_service(**server_tls(certs))
    channel, _ = secure_stub(service.target, certs.ca)
    async with channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


# Mutual TLS: the client proves who it is too.


async def test_mtls_serves_a_client_with_a_certificate_from_the_client_ca(
    make_service: ServiceFactory, certs: Certificates
) -> None:
    service = await make_service(**server_tls(certs, client_ca=True))
    channel, stub = secure_stub(service.target, certs.ca, certs.client_cert, certs.client_key)
    async with channel:
        assert await create(stub, "with-client-cert") == Code.OK
    assert len(service.server.store) == 1


async def test_mtls_refuses_a_client_without_a_certificate(
    make_service: ServiceFactory, certs: Certificates
) -> None:
    service = await make_service(**server_tls(certs, client_ca=True))
    channel, stub = secure_stub(service.target, certs.ca)
    async with channel:
        assert await create(stub, "no-client-cert") == Code.UNAVAILABLE
    assert len(service.server.store) == 0


async def test_mtls_refuses_a_client_certificate_signed_by_another_ca(
    make_service: ServiceFactory, certs: Certificates
) -> None:
    service = await make_service(**server_tls(certs, client_ca=True))
    channel, stub = secure_stub(
        service.target, certs.ca, certs.other_client_cert, certs.other_client_key
    )
    async with channel:
        assert await create(stub, "other-ca-cert") == Code.UNAVAILABLE
    assert len(service.server.store) == 0


# The server's flags and files.


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--tls-cert", "{server_cert}"], "--tls-key"),
        (["--tls-key", "{server_key}"], "--tls-cert"),
        (["--tls-client-ca", "{ca}"], "--tls-client-ca needs --tls-cert and --tls-key"),
        (["--tls-cert", "", "--tls-key", "{server_key}"], "--tls-cert"),
    ],
)
def test_an_incomplete_tls_flag_set_is_a_flag_error(
    certs: Certificates, flags: list[str], named: str
) -> None:
    paths = {name: str(getattr(certs, name)) for name in ("server_cert", "server_key", "ca")}
    status, stderr = run_server_expecting_exit(*(flag.format(**paths) for flag in flags))
    assert status == 2
    assert named in stderr


def encrypted_copy(key: Path, directory: Path) -> Path:
    encrypted = directory / "encrypted.key"
    subprocess.run(
        [
            OPENSSL,
            "pkey",
            "-in",
            str(key),
            "-aes256",
            "-passout",
            "pass:secret",
            "-out",
            str(encrypted),
        ],
        check=True,
        capture_output=True,
    )
    return encrypted


@pytest.mark.parametrize(
    ("problem", "flag", "reason"),
    [
        ("missing certificate", "--tls-cert", "cannot read the file"),
        ("key as certificate", "--tls-cert", "holds no PEM certificate"),
        ("certificate as key", "--tls-key", "holds no usable PEM private key"),
        ("key of another certificate", "--tls-key", "does not belong to the certificate"),
        ("encrypted key", "--tls-key", "encrypted with a passphrase"),
        ("missing client CA", "--tls-client-ca", "cannot read the file"),
        ("key as client CA", "--tls-client-ca", "holds no PEM certificate"),
    ],
)
def test_an_unusable_tls_file_stops_the_server_at_start_naming_it(
    certs: Certificates, tmp_path: Path, problem: str, flag: str, reason: str
) -> None:
    files = {
        "--tls-cert": str(certs.server_cert),
        "--tls-key": str(certs.server_key),
        "--tls-client-ca": str(certs.ca),
    }
    bad = {
        "missing certificate": str(tmp_path / "missing.pem"),
        "key as certificate": str(certs.server_key),
        "certificate as key": str(certs.server_cert),
        "key of another certificate": str(certs.client_key),
        "encrypted key": str(encrypted_copy(certs.server_key, tmp_path)),
        "missing client CA": str(tmp_path / "missing-ca.pem"),
        "key as client CA": str(certs.client_key),
    }[problem]
    files[flag] = bad
    status, stderr = run_server_expecting_exit(*(part for item in files.items() for part in item))
    assert status == 1
    assert f"{flag} {bad}" in stderr
    assert reason in stderr
    assert "Traceback" not in stderr


def test_the_server_logs_that_it_requires_client_certificates(certs: Certificates) -> None:
    with running_server(*tls_flags(certs, client_ca=True)) as server:
        assert server.wait_for_log(
            f"TLS on; clients need a certificate signed by --tls-client-ca {certs.ca}"
        )


# The Python client library and the command-line client.


def tls_flags(certs: Certificates, *, client_ca: bool = False) -> list[str]:
    flags = ["--tls-cert", str(certs.server_cert), "--tls-key", str(certs.server_key)]
    return [*flags, "--tls-client-ca", str(certs.ca)] if client_ca else flags


@pytest.fixture(scope="module")
def mtls_server(
    certs: Certificates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A server process with mutual TLS and bearer tokens: TOKEN is tenant "tls"."""
    tokens = tmp_path_factory.mktemp("tokens") / "tokens.txt"
    tokens.write_text(f"{TOKEN} tls\n")
    flags = [*tls_flags(certs, client_ca=True), "--auth-tokens", str(tokens)]
    with running_server(*flags) as server:
        yield server


def localhost(server: RunningServer) -> str:
    return server.target  # 127.0.0.1:port, which the server's certificate names


def mtls_client(server: RunningServer, certs: Certificates, token: str | None) -> MedianClient:
    return MedianClient(
        localhost(server),
        root_certificates=certs.ca.read_bytes(),
        certificate_chain=certs.client_cert.read_bytes(),
        private_key=certs.client_key.read_bytes(),
        token=token,
    )


def test_the_client_connects_with_tls_a_client_certificate_and_a_token(
    mtls_server: RunningServer, certs: Certificates
) -> None:
    with mtls_client(mtls_server, certs, TOKEN) as client:
        session_id = client.create_session()
        client.add_numbers(session_id, [5.0, 1.0, 3.0])
        assert client.get_median(session_id).median == 3.0
        assert [s.session_id for s in client.list_sessions()] == [session_id]


def test_over_tls_the_server_still_refuses_a_client_without_a_token(
    mtls_server: RunningServer, certs: Certificates
) -> None:
    with mtls_client(mtls_server, certs, None) as client, pytest.raises(MedianError) as raised:
        client.create_session()
    assert raised.value.code == Code.UNAUTHENTICATED


def test_the_client_takes_ready_made_channel_credentials(
    mtls_server: RunningServer, certs: Certificates
) -> None:
    credentials = grpc.ssl_channel_credentials(
        certs.ca.read_bytes(), certs.client_key.read_bytes(), certs.client_cert.read_bytes()
    )
    with MedianClient(localhost(mtls_server), credentials=credentials, token=TOKEN) as client:
        assert client.create_session("ready-made")


async def test_the_async_client_connects_with_tls_a_client_certificate_and_a_token(
    mtls_server: RunningServer, certs: Certificates
) -> None:
    async with AsyncMedianClient(
        localhost(mtls_server),
        root_certificates=certs.ca.read_bytes(),
        certificate_chain=certs.client_cert.read_bytes(),
        private_key=certs.client_key.read_bytes(),
        token=TOKEN,
    ) as client:
        session_id = await client.create_session()
        result = await client.add_numbers(session_id, [2.0, 4.0])
        assert (result.count, result.median) == (2, 3.0)
        await client.delete_session(session_id)


def test_over_tls_the_token_travels_as_call_credentials_not_as_metadata() -> None:
    tls = grpc.ssl_channel_credentials()
    assert security(TOKEN, tls, opens_channel=True).call_metadata == ()
    over_plaintext = security(TOKEN, None, opens_channel=True).call_metadata
    assert over_plaintext == ((AUTHORIZATION, f"Bearer {TOKEN}"),)
    on_a_given_channel = security(TOKEN, None, opens_channel=False).call_metadata
    assert on_a_given_channel == over_plaintext


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"certificate_chain": b"pem"}, "go together"),
        ({"private_key": b"pem"}, "go together"),
        ({"credentials": "tls", "root_certificates": b"pem"}, "not both"),
        ({"channel": "given", "root_certificates": b"pem"}, "not both"),
        ({"token": "two words"}, "without spaces"),
        ({"token": ""}, "one or more"),
    ],
)
def test_the_client_refuses_settings_that_do_not_fit_together(
    settings: dict[str, object], message: str
) -> None:
    arguments = dict(settings)
    if arguments.get("credentials") == "tls":
        arguments["credentials"] = grpc.ssl_channel_credentials()
    target: str | None = "127.0.0.1:1"
    with grpc.insecure_channel("127.0.0.1:1") as channel:
        if arguments.get("channel") == "given":
            arguments["channel"] = channel
            target = None
        with pytest.raises(ValueError, match=message) as raised:
            MedianClient(target, **arguments)  # type: ignore[arg-type]
    assert "two words" not in str(raised.value)


def test_tls_credentials_are_none_without_any_tls_setting() -> None:
    assert tls_credentials(None, None, None, None) is None


def run_cli(
    args: list[str], stdin: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "MEDIAN_TOKEN"}
    return subprocess.run(
        [sys.executable, "-m", "median_client.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**environment, **(env or {})},
        check=False,
    )


def cli_tls_args(server: RunningServer, certs: Certificates) -> list[str]:
    return [
        "--target", localhost(server), "--tls-ca", str(certs.ca),
        "--tls-cert", str(certs.client_cert), "--tls-key", str(certs.client_key),
    ]  # fmt: skip


def test_the_cli_connects_with_tls_and_the_token_from_the_environment(
    mtls_server: RunningServer, certs: Certificates
) -> None:
    result = run_cli(
        [*cli_tls_args(mtls_server, certs), "--delete"], "4 1 3", {"MEDIAN_TOKEN": TOKEN}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "count=3 median=3.0"


def test_the_cli_takes_the_token_as_a_flag(mtls_server: RunningServer, certs: Certificates) -> None:
    result = run_cli([*cli_tls_args(mtls_server, certs), "--token", TOKEN, "--delete"], "7")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "count=1 median=7.0"


def test_the_cli_without_a_token_reports_unauthenticated(
    mtls_server: RunningServer, certs: Certificates
) -> None:
    result = run_cli(cli_tls_args(mtls_server, certs), "1")
    assert result.returncode == 1
    assert result.stderr.startswith("error: UNAUTHENTICATED: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tls-ca", "missing-ca.pem"], "--tls-ca missing-ca.pem: No such file"),
        (["--tls-cert", "client.pem"], "--tls-cert and --tls-key go together"),
        (["--token", "two words"], "--token: the token must be"),
    ],
)
def test_the_cli_refuses_unusable_connection_settings_with_exit_2(
    args: list[str], message: str
) -> None:
    result = run_cli(["--target", "127.0.0.1:1", *args], "1")
    assert result.returncode == 2
    assert message in result.stderr
    assert "two words" not in result.stderr


def test_the_readme_command_makes_the_test_certificates_in_a_new_folder(tmp_path: Path) -> None:
    folder = tmp_path / "certs"
    printed = subprocess.run(  # a relative folder, as the README gives it
        [sys.executable, "-m", "tests.certs", "certs"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key"):
        assert (folder / name).is_file(), name
        assert str(folder / name) in printed
    verified = subprocess.run(
        [OPENSSL, "verify", "-CAfile", folder / "ca.pem", folder / "server.pem"],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stderr
