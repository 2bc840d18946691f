"""Bearer tokens and tenants: the token file, UNAUTHENTICATED, tenant isolation, SIGHUP reload.

No test may find a token in anything the server says: errors name files and lines, logs name
counts and tenants.
"""

from __future__ import annotations

import hmac
import logging
import os
import signal
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from median.v1 import median_pb2, median_pb2_grpc
from median_client import AsyncMedianClient, MedianClient, MedianError
from median_server.auth import Authenticator, TokenFileError, load_token_file, parse_token_file
from median_server.config import Config
from median_server.errors import UnauthenticatedError
from median_server.server import log_security
from median_server.tls import TlsFiles

from tests.conftest import Service, ServiceFactory
from tests.servers import SERVER, RunningServer, running_server

Code = grpc.StatusCode
Metadata = tuple[tuple[str, str], ...]

# Made up for these tests; each must stay out of every message and log line.
ALICE = "alice-token-0123456789"
ALICE_SPARE = "alice-spare-token-9876543210"
BOB = "bob-token-abcdefghijklmnop"
CAROL = "carol-token-qrstuvwxyz012345"
UNKNOWN = "unknown-token-0123456789"
TOKENS = f"""\
# tenant alice has two tokens, so that one can be rotated out
{ALICE} alice
{ALICE_SPARE} alice   # a trailing comment

{BOB} bob
"""
ALL_TOKENS = (ALICE, ALICE_SPARE, BOB, CAROL, UNKNOWN)


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.txt"
    path.write_text(TOKENS)
    return path


@pytest.fixture
async def authed(make_service: ServiceFactory, token_file: Path) -> Service:
    """A server in the test's event loop that takes the tokens of TOKENS."""
    return await make_service(auth_tokens=str(token_file))


async def refused(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


async def create(service: Service, session_id: str, token: str) -> None:
    await service.stub.CreateSession(
        median_pb2.CreateSessionRequest(session_id=session_id), metadata=bearer(token)
    )


async def add(service: Service, session_id: str, numbers: list[float], token: str) -> int:
    """Adds `numbers` to the session; its number count after."""
    answer = await service.stub.AddNumbers(
        iter([median_pb2.AddNumbersRequest(session_id=session_id, numbers=numbers)]),
        metadata=bearer(token),
    )
    return answer.number_count


async def listed(service: Service, token: str) -> list[str]:
    answer = await service.stub.ListSessions(
        median_pb2.ListSessionsRequest(page_size=1000), metadata=bearer(token)
    )
    return [summary.session_id for summary in answer.sessions]


def error_info_reason(error: grpc.aio.AioRpcError) -> str:
    """The reason of the ErrorInfo detail in the call's status trailer."""
    trailers: Any = error.trailing_metadata() or ()  # the stubs type it loosely
    for key, value in trailers:
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return str(info.reason)
    raise AssertionError("no ErrorInfo detail")


# The token file.


def test_the_token_file_names_a_tenant_per_token_skipping_blanks_and_comments(
    token_file: Path,
) -> None:
    table = load_token_file(token_file)
    assert len(table) == 3
    assert table.tenants == {"alice", "bob"}
    assert table.tenant_for(ALICE) == "alice"
    assert table.tenant_for(ALICE_SPARE) == "alice"
    assert table.tenant_for(BOB) == "bob"
    assert table.tenant_for(UNKNOWN) is None


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (f"{CAROL}", "has 1 fields"),
        (f"{CAROL} carol extra", "has 3 fields"),
        ("short-token carol", "the token (first field) is too short"),
        ("carol-token-with-a-quote'-0123 carol", "the token (first field) has a character"),
        (f"{CAROL} carol!", "the tenant (second field) must be"),
        (f"carol {CAROL}", "the token (first field) is too short"),  # the fields swapped
        (f"{CAROL} tenant-\u00e9", "outside ASCII"),
    ],
)
def test_a_malformed_line_is_refused_naming_the_file_and_line_but_not_the_token(
    tmp_path: Path, line: str, problem: str
) -> None:
    path = tmp_path / "tokens.txt"
    path.write_text(f"# good lines first\n{ALICE} alice\n{line}\n", encoding="utf-8")
    with pytest.raises(TokenFileError) as raised:
        load_token_file(path)
    message = str(raised.value)
    assert message.startswith(f"{path}:3: ")
    assert problem in message
    for secret in (CAROL, ALICE, "short-token", "carol-token-with"):
        assert secret not in message


def test_a_repeated_token_is_refused_naming_both_lines() -> None:
    with pytest.raises(TokenFileError) as raised:
        parse_token_file(f"{ALICE} alice\n{BOB} bob\n{ALICE} mallory\n".encode(), "tokens.txt")
    assert str(raised.value).startswith("tokens.txt:3: repeats the token of line 1")
    assert ALICE not in str(raised.value)


def test_a_file_without_tokens_is_refused() -> None:
    with pytest.raises(TokenFileError, match="holds no tokens"):
        parse_token_file(b"# nothing yet\n\n", "tokens.txt")


def test_an_unreadable_token_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(TokenFileError) as raised:
        load_token_file(tmp_path / "missing.txt")
    assert str(raised.value) == (
        f"cannot read the token file {tmp_path / 'missing.txt'}: No such file or directory"
    )


@pytest.mark.parametrize("token", [ALICE, BOB, UNKNOWN, "x", "a" * 500])
def test_a_lookup_compares_the_digest_with_every_entry_whatever_the_token(
    token_file: Path, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = load_token_file(token_file)
    compared: list[tuple[int, int]] = []
    compare = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append((len(a), len(b)))
        return compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    table.tenant_for(token)
    assert compared == [(32, 32)] * len(table)  # fixed-size digests, no early exit


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ((), "TOKEN_MISSING"),
        ((("authorization", f"Basic {ALICE}"),), "TOKEN_MALFORMED"),
        ((("authorization", "Bearer"),), "TOKEN_MALFORMED"),
        ((("authorization", f"Bearer {ALICE}"), ("authorization", f"Bearer {BOB}")), "MALFORMED"),
        ((("authorization", f"Bearer {UNKNOWN}"),), "TOKEN_UNKNOWN"),
        ((("authorization", f"Bearer {ALICE}x"),), "TOKEN_UNKNOWN"),
    ],
)
def test_a_call_without_one_known_bearer_token_is_refused(
    token_file: Path, metadata: Metadata, reason: str
) -> None:
    with pytest.raises(UnauthenticatedError) as raised:
        Authenticator(token_file).tenant_of(metadata)
    assert raised.value.reason.endswith(reason)
    for token in ALL_TOKENS:
        assert token not in raised.value.message


def test_the_bearer_scheme_is_case_insensitive(token_file: Path) -> None:
    authenticator = Authenticator(token_file)
    assert authenticator.tenant_of((("authorization", f"bearer {BOB}"),)) == "bob"
    assert authenticator.tenant_of((("authorization", f"BEARER  {ALICE} "),)) == "alice"


# Calls without a valid token.


if TYPE_CHECKING:  # the asyncio stub class exists only in the type stubs
    RpcCall = Callable[[median_pb2_grpc.MedianServiceAsyncStub, Metadata], Awaitable[Any]]


def rpc_calls(session_id: str) -> dict[str, RpcCall]:
    """One call of each RPC, naming `session_id` where the RPC names a session."""

    async def running(stub: median_pb2_grpc.MedianServiceAsyncStub, md: Metadata) -> None:
        request = median_pb2.RunningMedianRequest(session_id=session_id, numbers=[9.0])
        async for _ in stub.RunningMedian(iter([request]), metadata=md):
            pass

    return {
        "CreateSession": lambda stub, md: stub.CreateSession(
            median_pb2.CreateSessionRequest(session_id=f"{session_id}-new"), metadata=md
        ),
        "AddNumbers": lambda stub, md: stub.AddNumbers(
            iter([median_pb2.AddNumbersRequest(session_id=session_id, numbers=[9.0])]),
            metadata=md,
        ),
        "RunningMedian": running,
        "GetMedian": lambda stub, md: stub.GetMedian(
            median_pb2.GetMedianRequest(session_id=session_id), metadata=md
        ),
        "DeleteSession": lambda stub, md: stub.DeleteSession(
            median_pb2.DeleteSessionRequest(session_id=session_id), metadata=md
        ),
        "ListSessions": lambda stub, md: stub.ListSessions(
            median_pb2.ListSessionsRequest(), metadata=md
        ),
    }


RPCS = rpc_calls("kept")


@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.parametrize(
    ("metadata", "reason", "says"),
    [
        ((), "TOKEN_MISSING", "send the metadata `authorization: Bearer <token>`"),
        (bearer(UNKNOWN), "TOKEN_UNKNOWN", "the bearer token is not valid on this server"),
        ((("authorization", ALICE),), "TOKEN_MALFORMED", "must read `Bearer <token>`"),
    ],
)
async def test_every_rpc_without_a_valid_token_is_unauthenticated_and_changes_nothing(
    authed: Service, rpc: str, metadata: Metadata, reason: str, says: str
) -> None:
    await create(authed, "kept", ALICE)
    await add(authed, "kept", [1.0, 2.0], ALICE)
    error = await refused(RPCS[rpc](authed.stub, metadata))
    assert error.code() == Code.UNAUTHENTICATED
    assert says in (error.details() or "")
    assert error_info_reason(error) == reason
    assert ALICE not in (error.details() or "")
    assert UNKNOWN not in (error.details() or "")
    assert len(authed.server.store) == 1
    assert authed.server.store.snapshot("kept", tenant="alice").number_count == 2


async def test_health_needs_no_token(authed: Service) -> None:
    health = health_pb2_grpc.HealthStub(authed.channel)
    for name in ("", "median.v1.MedianService"):
        answer = await health.Check(health_pb2.HealthCheckRequest(service=name))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def _list_services(channel: grpc.aio.Channel, metadata: Metadata) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    responses = [r async for r in stub.ServerReflectionInfo(iter([request]), metadata=metadata)]
    return [s.name for s in responses[0].list_services_response.service]


async def test_reflection_needs_no_token(authed: Service) -> None:
    # It serves the public schema only, and tools that check health look that schema up by it.
    assert "grpc.health.v1.Health" in await _list_services(authed.channel, ())


async def test_without_a_token_file_no_token_is_needed_and_a_sent_one_is_ignored(
    service: Service,
) -> None:
    await service.stub.CreateSession(median_pb2.CreateSessionRequest(session_id="open"))
    assert await listed(service, UNKNOWN) == ["open"]
    assert await _list_services(service.channel, ()) != []


# Tenants.


async def test_a_tenant_gets_not_found_for_another_tenants_session_which_stays_unchanged(
    authed: Service,
) -> None:
    await create(authed, "alices", ALICE)
    await add(authed, "alices", [1.0, 2.0, 3.0], ALICE)
    calls = rpc_calls("alices")
    for rpc in ("AddNumbers", "RunningMedian", "GetMedian", "DeleteSession"):
        error = await refused(calls[rpc](authed.stub, bearer(BOB)))
        assert error.code() == Code.NOT_FOUND, rpc
    answer = await authed.stub.GetMedian(
        median_pb2.GetMedianRequest(session_id="alices"), metadata=bearer(ALICE)
    )
    assert (answer.number_count, answer.median) == (3, 2.0)


async def test_a_tenant_never_lists_another_tenants_sessions(authed: Service) -> None:
    for session_id in ("a1", "a2", "a3"):
        await create(authed, session_id, ALICE)
    await create(authed, "b1", BOB)
    assert await listed(authed, ALICE) == ["a1", "a2", "a3"]
    assert await listed(authed, BOB) == ["b1"]
    page = await authed.stub.ListSessions(
        median_pb2.ListSessionsRequest(page_size=1), metadata=bearer(ALICE)
    )
    after_first = await authed.stub.ListSessions(
        median_pb2.ListSessionsRequest(page_size=10, page_token=page.next_page_token),
        metadata=bearer(ALICE),
    )
    assert [s.session_id for s in after_first.sessions] == ["a2", "a3"]


async def test_two_tenants_may_use_the_same_session_id_apart(authed: Service) -> None:
    await create(authed, "same", ALICE)
    await create(authed, "same", BOB)
    assert await add(authed, "same", [1.0, 2.0], ALICE) == 2
    assert await add(authed, "same", [10.0], BOB) == 1
    error = await refused(create(authed, "same", BOB))
    assert error.code() == Code.ALREADY_EXISTS
    await authed.stub.DeleteSession(
        median_pb2.DeleteSessionRequest(session_id="same"), metadata=bearer(BOB)
    )
    assert await listed(authed, BOB) == []
    assert await listed(authed, ALICE) == ["same"]


async def test_the_tokens_of_one_tenant_share_its_sessions(authed: Service) -> None:
    await create(authed, "shared", ALICE)
    assert await add(authed, "shared", [4.0], ALICE_SPARE) == 1
    assert await listed(authed, ALICE_SPARE) == ["shared"]


async def test_interleaved_streams_of_two_tenants_each_stay_in_their_own_session(
    authed: Service,
) -> None:
    await create(authed, "race", ALICE)
    await create(authed, "race", BOB)
    alice = authed.stub.RunningMedian(None, metadata=bearer(ALICE))
    bob = authed.stub.RunningMedian(None, metadata=bearer(BOB))
    for step in range(1, 21):
        await alice.write(median_pb2.RunningMedianRequest(session_id="race", numbers=[step]))
        await bob.write(median_pb2.RunningMedianRequest(session_id="race", numbers=[-step]))
        alice_answer, bob_answer = await alice.read(), await bob.read()
        assert isinstance(alice_answer, median_pb2.RunningMedianResponse)
        assert isinstance(bob_answer, median_pb2.RunningMedianResponse)
        assert (alice_answer.number_count, bob_answer.number_count) == (step, step)
        assert alice_answer.median == (1 + step) / 2
        assert bob_answer.median == -(1 + step) / 2
    await alice.done_writing()
    await bob.done_writing()


# Re-reading the token file.


def rewrite(path: Path, text: str) -> None:
    path.write_text(text)


async def test_reloading_takes_new_tokens_and_drops_removed_ones(
    authed: Service, token_file: Path
) -> None:
    await create(authed, "before", ALICE)
    rewrite(token_file, f"{ALICE} alice\n{CAROL} carol\n")
    authed.server.reload_tokens()
    await create(authed, "carols", CAROL)
    assert await listed(authed, ALICE) == ["before"]
    error = await refused(listed(authed, BOB))
    assert error.code() == Code.UNAUTHENTICATED


async def test_reloading_a_broken_file_keeps_the_old_tokens(
    authed: Service, token_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rewrite(token_file, f"{CAROL} carol\n{CAROL} mallory\n")
    authed.server.reload_tokens()
    assert f"{token_file}:2: repeats the token of line 1" in caplog.text
    assert "still using the 3 tokens read before" in caplog.text
    assert await listed(authed, BOB) == []
    error = await refused(listed(authed, CAROL))
    assert error.code() == Code.UNAUTHENTICATED
    assert CAROL not in caplog.text


# The server process: start, SIGHUP, and its log.


def test_a_bad_token_file_stops_the_server_with_exit_1_naming_file_and_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tokens.txt"
    path.write_text(f"{ALICE} alice\n{BOB} bob extra\n")
    result = subprocess.run(
        [str(SERVER), "--port", "0", "--auth-tokens", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert f"{path}:2: has 3 fields" in result.stderr
    assert "Traceback" not in result.stderr
    for token in (ALICE, BOB):
        assert token not in result.stderr


@pytest.mark.parametrize(
    ("flags", "env"),
    [(["--auth-tokens", ""], {}), ([], {"MEDIAN_AUTH_TOKENS": ""})],
)
def test_an_empty_token_file_name_is_a_flag_error(flags: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(
        [str(SERVER), "--port", "0", *flags],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **env},
        check=False,
    )
    assert result.returncode == 2
    assert "must name a file" in result.stderr


def client_call_names(server: RunningServer, token: str) -> list[str]:
    with MedianClient(server.target, token=token) as client:
        return [summary.session_id for summary in client.list_sessions()]


def unauthenticated(server: RunningServer, token: str | None) -> bool:
    try:
        with MedianClient(server.target, token=token) as client:
            client.create_session()
    except MedianError as error:
        return error.code == Code.UNAUTHENTICATED
    return False


@pytest.fixture
def token_server(token_file: Path) -> Iterator[RunningServer]:
    with running_server("--auth-tokens", str(token_file), "--log-level", "debug") as server:
        yield server


def test_sighup_rereads_the_token_file(token_server: RunningServer, token_file: Path) -> None:
    with MedianClient(token_server.target, token=BOB) as client:
        client.create_session("bobs")
    token_file.write_text(f"{ALICE} alice\n{CAROL} carol\n")
    token_server.signal(signal.SIGHUP)
    assert token_server.wait_for_log("re-read the token file: 2 tokens for 2 tenants")
    assert client_call_names(token_server, CAROL) == []
    assert unauthenticated(token_server, BOB)
    assert token_server.process.poll() is None


def test_sighup_with_a_broken_file_keeps_the_old_tokens_and_logs_why(
    token_server: RunningServer, token_file: Path
) -> None:
    token_file.write_text(f"{CAROL}\n")
    token_server.signal(signal.SIGHUP)
    assert token_server.wait_for_log(f"{token_file}:1: has 1 fields")
    assert client_call_names(token_server, BOB) == []
    assert unauthenticated(token_server, CAROL)


def test_sighup_without_a_token_file_keeps_the_server_running() -> None:
    with running_server() as server:
        server.signal(signal.SIGHUP)
        assert server.wait_for_log("SIGHUP: there is no --auth-tokens file to re-read")
        with MedianClient(server.target) as client:
            assert client.create_session("still-here") == "still-here"


async def test_the_async_client_sends_its_token_over_plaintext(
    token_server: RunningServer,
) -> None:
    async with AsyncMedianClient(token_server.target, token=BOB) as client:
        session_id = await client.create_session()
        assert [s.session_id async for s in client.list_sessions()] == [session_id]
    async with AsyncMedianClient(token_server.target) as client:
        with pytest.raises(MedianError) as raised:
            await client.create_session()
    assert raised.value.code == Code.UNAUTHENTICATED


def test_no_token_ever_appears_in_the_debug_log(
    token_server: RunningServer, token_file: Path
) -> None:
    with MedianClient(token_server.target, token=ALICE) as client:
        session_id = client.create_session()
        client.add_numbers(session_id, [1.0, 2.0])
        list(client.running_median(session_id, [[3.0]]))
        client.get_median(session_id)
        list(client.list_sessions())
        client.delete_session(session_id)
    for token in (UNKNOWN, f"{ALICE}x", None):
        assert unauthenticated(token_server, token)
    with grpc.insecure_channel(token_server.target) as channel:
        stub = median_pb2_grpc.MedianServiceStub(channel)
        with pytest.raises(grpc.RpcError):
            stub.ListSessions(
                median_pb2.ListSessionsRequest(), metadata=(("authorization", f"Basic {BOB}"),)
            )
    token_file.write_text(f"{CAROL} carol\n{CAROL} mallory\n{UNKNOWN} x y\n")
    token_server.signal(signal.SIGHUP)
    assert token_server.wait_for_log("still using the 3 tokens read before")
    token_file.write_text(f"{CAROL} carol\n")
    token_server.signal(signal.SIGHUP)
    assert token_server.wait_for_log("re-read the token file: 1 token for 1 tenant")
    token_server.signal(signal.SIGTERM)
    assert token_server.wait(timeout=30) == 0
    log = token_server.log_text()
    assert "refused /median.v1.MedianService/CreateSession: " in log  # refusals are logged
    assert "call /median.v1.MedianService/GetMedian" in log  # debug lines are there
    for token in ALL_TOKENS:
        assert token not in log


@pytest.mark.parametrize(
    ("host", "tls", "warned"),
    [
        ("0.0.0.0", False, True),  # noqa: S104  # only logged about, nothing binds it
        ("::", False, True),
        ("127.0.0.1", False, False),
        ("::1", False, False),
        ("localhost", False, False),
        ("0.0.0.0", True, False),  # noqa: S104  # only logged about, nothing binds it
    ],
)
def test_the_server_warns_when_tokens_would_cross_the_network_in_plaintext(
    token_file: Path, host: str, tls: bool, warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    files = TlsFiles(b"cert", b"key", None) if tls else None
    config = Config(host=host, auth_tokens=str(token_file))
    with caplog.at_level(logging.INFO, logger="median_server"):
        log_security(config, Authenticator(token_file), files)
    assert ("bearer tokens travel in plaintext" in caplog.text) == warned
    assert "bearer tokens required (health and reflection excepted): 3 tokens" in caplog.text
