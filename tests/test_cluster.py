"""Three shards behind a real Envoy on loopback: ownership, failures, streams through the proxy."""

from __future__ import annotations

import re
import signal
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from median.v1 import median_pb2, median_pb2_grpc
from median_client import MedianClient

from deploy.cluster import (
    LocalCluster,
    ProxySettings,
    envoy_binary,
    envoy_config,
    free_port,
    free_ports,
    render,
)
from tests.certs import make_certificates
from tests.cluster import (
    TIMEOUT,
    add,
    create,
    envoy_host_health,
    get,
    list_all,
    once_back,
    routed,
    shard_sessions,
    stub,
)
from tests.servers import ROOT
from tests.statuses import details

SHARDS = 3
GRACE = 5.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    folder = tmp_path_factory.mktemp("cluster")
    running = LocalCluster(
        free_ports(SHARDS + 1),
        folder,
        data_dir=str(folder / "data"),
        server_flags=[
            *("--grace", str(GRACE), "--keepalive-time", "2", "--keepalive-timeout", "2"),
            # Envoy pings the shards every 2 s here: they must allow it.
            *("--keepalive-min-ping-interval", "1"),
        ],
        # Shortened for the test: health checks, and pings both ways every 2 s.
        settings=ProxySettings(health_interval=0.3, keepalive_interval=2, keepalive_timeout=2),
    ).start()
    yield running
    running.stop()


def new_session(
    cluster: LocalCluster, session_id: str
) -> tuple[median_pb2_grpc.MedianServiceStub, int]:
    """Creates a session through the proxy: the stub, and the shard that holds the session."""
    proxy = stub(cluster.target)
    create(proxy, session_id)
    (shard,) = [s for s, sessions in shard_sessions(cluster).items() if session_id in sessions]
    return proxy, shard


def test_envoy_config_in_deploy_is_the_generated_one_and_envoy_accepts_it(tmp_path: Path) -> None:
    committed = (ROOT / "deploy" / "envoy.yaml").read_text()
    made_by = re.search(r"made by `python -m deploy\.cluster (config[^`]*)`", committed)
    assert made_by, "deploy/envoy.yaml does not say how it was made"
    generated = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "deploy.cluster", *made_by[1].split()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert committed == generated, "run `make envoy-config`"
    assert "DownstreamTlsContext" in committed  # production: TLS toward clients
    # Envoy loads the certificate files to validate: the test's stand in for /etc/median's.
    certs = make_certificates(tmp_path)
    production = tmp_path / "production.yaml"
    production.write_text(
        committed.replace("/etc/median/server.pem", str(certs.server_cert)).replace(
            "/etc/median/server.key", str(certs.server_key)
        )
    )
    five_shards = tmp_path / "five.yaml"
    five_shards.write_text(
        render(envoy_config([("127.0.0.1", 7001 + i) for i in range(5)], ("::", 7000)))
    )
    for config in (production, five_shards):
        result = subprocess.run(
            [envoy_binary(), "--mode", "validate", "-c", str(config), "--disable-hot-restart"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "OK" in result.stdout + result.stderr


def test_every_call_of_a_session_is_answered_by_the_one_shard_that_holds_it(
    cluster: LocalCluster,
) -> None:
    proxy = stub(cluster.target)
    ids = [f"owned-{i:03d}" for i in range(100)]
    expected: dict[str, list[float]] = {}
    for i, session_id in enumerate(ids):
        create(proxy, session_id)
        numbers = [float(i), float(i * 2), float(i % 7)]
        assert add(proxy, session_id, numbers).number_count == 3
        requests = [
            median_pb2.RunningMedianRequest(session_id=session_id, numbers=[float(i + 1)]),
            median_pb2.RunningMedianRequest(numbers=[-1.0, 5.0]),
        ]
        answers = list(
            proxy.RunningMedian(iter(requests), metadata=routed(session_id), timeout=TIMEOUT)
        )
        assert [a.number_count for a in answers] == [4, 6]
        expected[session_id] = [*numbers, float(i + 1), -1.0, 5.0]
        answer = get(proxy, session_id)
        assert (answer.number_count, answer.median) == (6, statistics.median(expected[session_id]))
    # From the shards' side: each session is on exactly one shard, with every number it was
    # sent there (a call that had reached another shard would have failed NOT_FOUND there,
    # or, for CreateSession, left a twin on it).
    held = shard_sessions(cluster)
    owners: dict[str, list[int]] = {}
    for shard, sessions in held.items():
        for session_id, count in sessions.items():
            if session_id in expected:
                owners.setdefault(session_id, []).append(shard)
                assert count == len(expected[session_id])
    assert {s: len(o) for s, o in owners.items()} == dict.fromkeys(ids, 1)
    assert all(sum(s.startswith("owned-") for s in sessions) > 10 for sessions in held.values())
    # The cluster-wide list through the proxy: every session once, in small pages.
    listed = [s.session_id for s in list_all(proxy, page_size=7) if s.session_id in expected]
    assert sorted(listed) == ids


def test_a_shard_refuses_calls_without_the_routing_header_and_says_what_to_send(
    cluster: LocalCluster,
) -> None:
    direct = stub(cluster.addresses[0])
    calls: dict[str, Callable[[], object]] = {
        "CreateSession (server-chosen id)": lambda: direct.CreateSession(
            median_pb2.CreateSessionRequest(), timeout=TIMEOUT
        ),
        "CreateSession": lambda: direct.CreateSession(
            median_pb2.CreateSessionRequest(session_id="no-header"), timeout=TIMEOUT
        ),
        "GetMedian": lambda: direct.GetMedian(
            median_pb2.GetMedianRequest(session_id="no-header"), timeout=TIMEOUT
        ),
        "DeleteSession": lambda: direct.DeleteSession(
            median_pb2.DeleteSessionRequest(session_id="no-header"), timeout=TIMEOUT
        ),
        "AddNumbers": lambda: direct.AddNumbers(
            iter([median_pb2.AddNumbersRequest(session_id="no-header", numbers=[1.0])]),
            timeout=TIMEOUT,
        ),
        "RunningMedian": lambda: list(
            direct.RunningMedian(
                iter([median_pb2.RunningMedianRequest(session_id="no-header", numbers=[1.0])]),
                timeout=TIMEOUT,
            )
        ),
    }
    for name, call in calls.items():
        with pytest.raises(grpc.RpcError) as refused:
            call()
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, name
        assert "median-session-id" in (refused.value.details() or ""), name
    for metadata in ((("median-session-id", ""),), routed("a") + routed("b")):
        with pytest.raises(grpc.RpcError) as refused:  # an empty header, or two different ones
            direct.CreateSession(
                median_pb2.CreateSessionRequest(session_id="a"), metadata=metadata, timeout=TIMEOUT
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, metadata
    assert "no-header" not in {s.session_id for s in list_all(stub(cluster.target))}
    with pytest.raises(grpc.RpcError) as unknown_scope:
        direct.ListSessions(
            median_pb2.ListSessionsRequest(),
            metadata=(("median-list-scope", "all"),),
            timeout=TIMEOUT,
        )
    assert unknown_scope.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_nan_early_in_a_long_stream_through_the_proxy_is_refused_with_details_and_not_applied(
    cluster: LocalCluster,
) -> None:
    proxy = stub(cluster.target)
    create(proxy, "nan-stream")

    def requests() -> Iterator[median_pb2.AddNumbersRequest]:
        yield median_pb2.AddNumbersRequest(session_id="nan-stream", numbers=[1.0, 2.0, 3.0])
        yield median_pb2.AddNumbersRequest(numbers=[4.0, 5.0, 6.0, float("nan"), 7.0])
        for _ in range(2000):
            yield median_pb2.AddNumbersRequest(numbers=[100.0] * 100)

    with pytest.raises(grpc.RpcError) as refused:
        proxy.AddNumbers(requests(), metadata=routed("nan-stream"), timeout=TIMEOUT)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "numbers[3]" in (refused.value.details() or "")
    (violations,) = details(refused.value)
    assert isinstance(violations, error_details_pb2.BadRequest)
    assert violations.field_violations[0].field == "numbers[3]"
    answer = get(proxy, "nan-stream")
    assert (answer.number_count, answer.median) == (3, 2.0)


def test_a_killed_shard_fails_its_sessions_at_once_and_comes_back_whole_on_its_data_folder(
    cluster: LocalCluster,
) -> None:
    proxy = stub(cluster.target)
    ids = [f"survivor-{i:02d}" for i in range(30)]
    for i, session_id in enumerate(ids):
        create(proxy, session_id)
        add(proxy, session_id, [float(i), 0.5, float(i * i)])
    before = {session_id: get(proxy, session_id) for session_id in ids}
    held_before = shard_sessions(cluster)
    victim = 2
    victims = [s for s in ids if s in held_before[victim]]
    others = [s for s in ids if s not in held_before[victim]]
    assert victims
    assert others

    cluster.shards[victim].stop(signal.SIGKILL)  # no drain, no goodbye
    for session_id in victims:
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as failed:
            get(proxy, session_id)
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE  # not DEADLINE_EXCEEDED
        assert time.monotonic() - started < TIMEOUT / 2
        with pytest.raises(grpc.RpcError) as not_created:  # no twin made on another shard
            create(proxy, session_id)
        assert not_created.value.code() == grpc.StatusCode.UNAVAILABLE
    for session_id in others:
        assert get(proxy, session_id) == before[session_id]
        add(proxy, session_id, [])  # writes still work on the other shards
    # Envoy's health checks see the shard down (admin stats), and nothing moved anyway: no
    # session of the dead shard exists on another one, not even an empty twin.
    victim_address = cluster.addresses[victim - 1]
    deadline = time.monotonic() + 10
    while "failed_active_hc" not in envoy_host_health(cluster).get(victim_address, ""):
        assert time.monotonic() < deadline, envoy_host_health(cluster)
        time.sleep(0.2)
    for shard, sessions in shard_sessions(cluster).items():
        assert shard != victim
        assert not set(victims) & set(sessions)
    # Calls that name no session go to a shard that is up: the list starts, and fails where it
    # needs the dead shard, naming it, never answering partially.
    for _ in range(6):
        with pytest.raises(grpc.RpcError) as partial:
            list(list_all(proxy, page_size=1))
        assert partial.value.code() == grpc.StatusCode.UNAVAILABLE
        assert f"shard {victim} ({victim_address})" in (partial.value.details() or "")

    cluster.start_shard(victim)
    restored = once_back(lambda: {session_id: get(proxy, session_id) for session_id in victims})
    assert restored == {session_id: before[session_id] for session_id in victims}
    # Listing needs every shard again: it works as soon as the coordinator reconnects.
    assert {s.session_id for s in once_back(lambda: list(list_all(proxy)))} >= set(ids)


def test_a_drained_shard_lets_its_stream_in_flight_finish_and_refuses_new_calls(
    cluster: LocalCluster,
) -> None:
    session_id = "drained-stream"
    proxy, shard = new_session(cluster, session_id)
    sent = threading.Event()
    answered: list[median_pb2.RunningMedianResponse] = []

    def requests() -> Iterator[median_pb2.RunningMedianRequest]:
        yield median_pb2.RunningMedianRequest(session_id=session_id, numbers=[1.0])
        sent.wait(TIMEOUT)
        for n in (2.0, 3.0, 4.0):
            yield median_pb2.RunningMedianRequest(numbers=[n])

    stream = proxy.RunningMedian(requests(), metadata=routed(session_id), timeout=TIMEOUT)
    answered.append(next(iter(stream)))
    cluster.shards[shard].popen.send_signal(signal.SIGTERM)  # drain
    time.sleep(0.5)
    with pytest.raises(grpc.RpcError) as refused:
        get(proxy, session_id)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    sent.set()
    answered.extend(stream)
    assert [a.number_count for a in answered] == [1, 2, 3, 4]
    assert cluster.shards[shard].popen.wait(timeout=GRACE + 10) == 0
    cluster.start_shard(shard)
    assert once_back(lambda: get(proxy, session_id)).number_count == 4


KEEPALIVE_CLIENT = (
    # What grpc-go, grpc-java and grpc-js users set behind load balancers: a ping every 10 s,
    # with or without calls and data.
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
)
SILENCE = 45.0  # seconds: past gRPC core's too_many_pings (about 30 s) and Envoy's 15 s default


def test_silent_streams_with_client_keepalive_stay_open_directly_and_through_envoy(
    cluster: LocalCluster,
) -> None:
    session_id = "silent"
    proxy, shard = new_session(cluster, session_id)
    direct_target = cluster.addresses[shard - 1]
    speak = threading.Event()
    results: dict[str, list[int]] = {}
    errors: dict[str, BaseException] = {}

    def running(name: str, target: str) -> None:
        def requests() -> Iterator[median_pb2.RunningMedianRequest]:
            yield median_pb2.RunningMedianRequest(session_id=session_id, numbers=[1.0])
            speak.wait(SILENCE * 3)
            yield median_pb2.RunningMedianRequest(numbers=[2.0])

        try:
            answers = stub(target, KEEPALIVE_CLIENT).RunningMedian(
                requests(), metadata=routed(session_id), timeout=SILENCE * 3
            )
            results[name] = [a.added_count for a in answers]
        except grpc.RpcError as error:
            errors[name] = error

    def adding(name: str, target: str) -> None:
        def requests() -> Iterator[median_pb2.AddNumbersRequest]:
            yield median_pb2.AddNumbersRequest(session_id=session_id, numbers=[3.0])
            speak.wait(SILENCE * 3)
            yield median_pb2.AddNumbersRequest(numbers=[4.0, 5.0])

        try:
            answer = stub(target, KEEPALIVE_CLIENT).AddNumbers(
                requests(), metadata=routed(session_id), timeout=SILENCE * 3
            )
            results[name] = [answer.added_count]
        except grpc.RpcError as error:
            errors[name] = error

    threads = [
        threading.Thread(target=running, args=("RunningMedian direct", direct_target)),
        threading.Thread(target=running, args=("RunningMedian through Envoy", cluster.target)),
        threading.Thread(target=adding, args=("AddNumbers through Envoy", cluster.target)),
    ]
    for thread in threads:
        thread.start()
    time.sleep(SILENCE)
    speak.set()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == {}
    assert results == {
        "RunningMedian direct": [1, 1],
        "RunningMedian through Envoy": [1, 1],
        "AddNumbers through Envoy": [3],
    }
    assert get(proxy, session_id).number_count == 7


def test_envoy_passes_a_message_up_to_the_shards_limit_and_the_shard_refuses_a_larger_one(
    cluster: LocalCluster,
) -> None:
    proxy = stub(cluster.target)
    create(proxy, "large")
    largest = 500_000  # 4,000,000 bytes of doubles: under the 4 MiB --max-message-bytes
    assert add(proxy, "large", [1.0] * largest).number_count == largest
    with pytest.raises(grpc.RpcError) as refused:
        add(proxy, "large", [2.0] * 530_000)  # 4,240,000 bytes: over it
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert get(proxy, "large").number_count == largest


def test_envoy_terminates_tls_and_tokens_reach_every_shard_with_the_callers_tenant(
    tmp_path: Path,
) -> None:
    certs = make_certificates(tmp_path)
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("alice-token-0123456789abcdef alice\nbob-token-0123456789abcdefgh bob\n")
    secure = LocalCluster(
        free_ports(3),
        tmp_path,
        server_flags=["--auth-tokens", str(tokens)],
        settings=ProxySettings(
            health_interval=0.3, tls_cert=str(certs.server_cert), tls_key=str(certs.server_key)
        ),
    ).start()
    try:
        channel = grpc.secure_channel(
            f"localhost:{secure.ports[0]}",
            grpc.ssl_channel_credentials(root_certificates=certs.ca.read_bytes()),
        )
        proxy = median_pb2_grpc.MedianServiceStub(channel)

        def as_tenant(token: str, session_id: str = "") -> tuple[tuple[str, str], ...]:
            routing = routed(session_id) if session_id else ()
            return (("authorization", f"Bearer {token}"), *routing)

        alice, bob = "alice-token-0123456789abcdef", "bob-token-0123456789abcdefgh"
        ids = [f"tls-{i:02d}" for i in range(20)]
        for session_id in ids:
            proxy.CreateSession(
                median_pb2.CreateSessionRequest(session_id=session_id),
                metadata=as_tenant(alice, session_id),
                timeout=TIMEOUT,
            )
        proxy.CreateSession(
            median_pb2.CreateSessionRequest(session_id="bobs"),
            metadata=as_tenant(bob, "bobs"),
            timeout=TIMEOUT,
        )
        assert len(shard_sessions_of(secure, alice)) == 2  # alice's sessions are on both shards
        # The cluster-wide list, with alice's token forwarded to the other shard.
        listed = [s.session_id for s in list_all(proxy, page_size=3, metadata=as_tenant(alice))]
        assert sorted(listed) == ids
        with pytest.raises(grpc.RpcError) as refused:
            proxy.GetMedian(
                median_pb2.GetMedianRequest(session_id="tls-00"),
                metadata=routed("tls-00"),
                timeout=TIMEOUT,
            )
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        plaintext = stub(secure.target)
        with pytest.raises(grpc.RpcError) as not_tls:
            plaintext.GetMedian(
                median_pb2.GetMedianRequest(session_id="tls-00"),
                metadata=as_tenant(alice, "tls-00"),
                timeout=TIMEOUT,
            )
        assert not_tls.value.code() == grpc.StatusCode.UNAVAILABLE
        channel.close()
    finally:
        secure.stop()


def shard_sessions_of(cluster: LocalCluster, token: str) -> set[int]:
    """The shards that hold at least one session of the token's tenant."""
    holding = set()
    for shard, address in enumerate(cluster.addresses, start=1):
        page = stub(address).ListSessions(
            median_pb2.ListSessionsRequest(page_size=1000),
            metadata=(("authorization", f"Bearer {token}"), ("median-list-scope", "shard")),
            timeout=TIMEOUT,
        )
        if page.sessions:
            holding.add(shard)
    return holding


def launcher(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "deploy.cluster", "serve", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_launcher_refuses_args_that_would_undo_its_own_shard_flags() -> None:
    result = launcher("--port", str(free_port()), "--", "--port 0 --shard 2")
    assert result.returncode == 2
    assert "ARGS may not set --port, --shard" in result.stderr


def test_the_launcher_refuses_a_shard_port_that_something_else_listens_on() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1] - 2  # shard 2's port is busy
        result = launcher("--port", str(port), "--shards", "2")
    assert result.returncode == 1
    assert "is in use; choose another PORT" in result.stderr
    assert "median cluster listening" not in result.stderr


def test_the_python_library_resumes_a_running_median_through_envoy_across_a_shard_restart(
    cluster: LocalCluster,
) -> None:
    session_id = "resumed-through-envoy"
    _proxy, shard = new_session(cluster, session_id)
    batches = [[float(i), float(-i)] for i in range(200)]
    restarted = threading.Event()
    counts = []
    with MedianClient(cluster.target, retry_for=30) as client:
        for step in client.running_median(session_id, batches):
            counts.append(step.count)
            if len(counts) == 50:  # answers have started: Envoy resets the stream at the kill
                cluster.shards[shard].stop(signal.SIGKILL)
                threading.Thread(target=restart, args=(cluster, shard, restarted)).start()
        assert restarted.wait(60)
        answer = client.get_median(session_id)
    assert len(counts) == len(batches)  # one answer per request, none twice
    assert (answer.count, answer.median) == (400, 0.0)


def restart(cluster: LocalCluster, shard: int, done: threading.Event) -> None:
    cluster.start_shard(shard)
    done.set()
