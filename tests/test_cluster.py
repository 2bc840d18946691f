"""Three shards behind a real Envoy on loopback: ownership, failures, streams through the proxy."""

from __future__ import annotations

import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from median.v1 import median_pb2

from deploy.cluster import (
    LocalCluster,
    ProxySettings,
    envoy_binary,
    envoy_config,
    free_port,
    render,
)
from tests.cluster import (
    TIMEOUT,
    add,
    create,
    envoy_host_health,
    get,
    list_all,
    routed,
    shard_sessions,
    stub,
)
from tests.servers import ROOT

SHARDS = 3
GRACE = 5.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    folder = tmp_path_factory.mktemp("cluster")
    running = LocalCluster(
        [free_port() for _ in range(SHARDS + 1)],
        folder,
        data_dir=str(folder / "data"),
        server_flags=["--grace", str(GRACE), "--keepalive-time", "2", "--keepalive-timeout", "2"],
        # Shortened for the test: health checks, and pings both ways every 2 s.
        settings=ProxySettings(health_interval=0.3, keepalive_interval=2, keepalive_timeout=2),
    ).start()
    yield running
    running.stop()


def owner_of(cluster: LocalCluster, session_id: str) -> int:
    (shard,) = [s for s, sessions in shard_sessions(cluster).items() if session_id in sessions]
    return shard


def test_envoy_config_in_deploy_is_the_generated_one_and_envoy_accepts_it(tmp_path: Path) -> None:
    generated = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "python"),
            "-m",
            "deploy.cluster",
            "config",
            "--host",
            "0.0.0.0",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert (ROOT / "deploy" / "envoy.yaml").read_text() == generated, "run `make envoy-config`"
    five_shards = tmp_path / "five.yaml"
    five_shards.write_text(
        render(envoy_config([("127.0.0.1", 7001 + i) for i in range(5)], ("::", 7000)))
    )
    for config in (ROOT / "deploy" / "envoy.yaml", five_shards):
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
    calls = {
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
        assert "median-session-id" in refused.value.details(), name
    assert "no-header" not in {s.session_id for s in list_all(stub(cluster.target))}


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
    assert "numbers[3]" in refused.value.details()
    status = rpc_status.from_call(refused.value)
    assert status is not None
    violations = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(violations)
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
    assert victims and others

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
    with pytest.raises(grpc.RpcError) as partial:
        list(list_all(proxy))
    assert partial.value.code() == grpc.StatusCode.UNAVAILABLE
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

    cluster.start_shard(victim)
    deadline = time.monotonic() + 10
    while True:
        try:
            restored = {session_id: get(proxy, session_id) for session_id in victims}
            break
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert restored == {session_id: before[session_id] for session_id in victims}
    assert {s.session_id for s in list_all(proxy)} >= set(ids)


def test_a_drained_shard_lets_its_stream_in_flight_finish_and_refuses_new_calls(
    cluster: LocalCluster,
) -> None:
    proxy = stub(cluster.target)
    session_id = "drained-stream"
    create(proxy, session_id)
    shard = owner_of(cluster, session_id)
    sent = threading.Event()
    answered: list[median_pb2.RunningMedianResponse] = []

    def requests() -> Iterator[median_pb2.RunningMedianRequest]:
        yield median_pb2.RunningMedianRequest(session_id=session_id, numbers=[1.0])
        sent.wait(TIMEOUT)
        for n in (2.0, 3.0, 4.0):
            yield median_pb2.RunningMedianRequest(numbers=[n])

    stream = proxy.RunningMedian(requests(), metadata=routed(session_id), timeout=TIMEOUT)
    answered.append(next(stream))
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
    deadline = time.monotonic() + 10
    while True:
        try:
            assert get(proxy, session_id).number_count == 4
            return
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            assert time.monotonic() < deadline
            time.sleep(0.2)
