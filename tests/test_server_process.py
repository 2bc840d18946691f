"""`median-server` as a process: flags and environment, signals, graceful shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from median.v1 import median_pb2, median_pb2_grpc
from median_server.config import parse_config

from tests.servers import SERVER, running_server

Code = grpc.StatusCode


def run_server_expecting_exit(*flags: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = subprocess.run(
        [str(SERVER), *flags],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return result.returncode, result.stderr


def requests_from(
    feed: list[median_pb2.RunningMedianRequest | None],
) -> Iterator[median_pb2.RunningMedianRequest]:
    """Yields requests appended to `feed` by the test, until it appends None."""
    sent = 0
    while True:
        while len(feed) <= sent:
            time.sleep(0.01)
        item = feed[sent]
        sent += 1
        if item is None:
            return
        yield item


@pytest.mark.parametrize(
    ("flags", "env", "named"),
    [
        (["--port", "70000"], {}, "--port"),
        (["--max-sessions", "0"], {}, "--max-sessions"),
        (["--session-ttl", "-1"], {}, "--session-ttl"),
        (["--grace", "soon"], {}, "--grace"),
        (["--log-level", "loud"], {}, "--log-level"),
        ([], {"MEDIAN_MAX_TOTAL_NUMBERS": "many"}, "MEDIAN_MAX_TOTAL_NUMBERS"),
        (["--max-streams", "0"], {}, "--max-streams"),
        (["--keepalive-time", "0"], {}, "--keepalive-time"),
        (["--keepalive-min-ping-interval", "inf"], {}, "--keepalive-min-ping-interval"),
        (["--cluster-shards", "127.0.0.1"], {}, "--cluster-shards"),
        (["--cluster-shards", "127.0.0.1:1,127.0.0.1:1", "--shard", "1"], {}, "each shard once"),
        (["--shard", "1"], {}, "--shard needs --cluster-shards"),
        (["--cluster-shards", "127.0.0.1:7001,127.0.0.1:7002"], {}, "--shard must say which"),
        (["--cluster-shards", "127.0.0.1:7001", "--shard", "2"], {}, "--shard must say which"),
    ],
)
def test_bad_setting_stops_the_server_naming_it(
    flags: list[str], env: dict[str, str], named: str
) -> None:
    status, stderr = run_server_expecting_exit(*flags, env=env)
    assert status == 2
    assert named in stderr


def test_busy_port_stops_the_second_server_with_a_clear_error() -> None:
    with running_server() as first:
        port = first.target.rsplit(":", 1)[1]
        status, stderr = run_server_expecting_exit("--port", port)
    assert status == 1
    assert f"cannot listen on 127.0.0.1:{port}" in stderr


def test_environment_variable_sets_a_limit_and_the_flag_wins() -> None:
    with running_server(env={"MEDIAN_MAX_SESSIONS": "1"}) as server:
        channel = grpc.insecure_channel(server.target)
        stub = median_pb2_grpc.MedianServiceStub(channel)
        stub.CreateSession(median_pb2.CreateSessionRequest(), timeout=10)
        with pytest.raises(grpc.RpcError) as error:
            stub.CreateSession(median_pb2.CreateSessionRequest(), timeout=10)
        assert error.value.code() == Code.RESOURCE_EXHAUSTED
        assert "maximum of 1 sessions" in (error.value.details() or "")
        channel.close()
    with running_server("--max-sessions", "2", env={"MEDIAN_MAX_SESSIONS": "1"}) as server:
        channel = grpc.insecure_channel(server.target)
        stub = median_pb2_grpc.MedianServiceStub(channel)
        for _ in range(2):
            stub.CreateSession(median_pb2.CreateSessionRequest(), timeout=10)
        channel.close()


def test_startup_log_names_the_address_and_limits() -> None:
    with running_server("--max-session-numbers", "1234", "--session-ttl", "0") as server:
        text = server.log_text()
    assert f"listening on {server.target}" in text
    assert "1234 numbers per session" in text
    assert "expire after never" in text


def test_sigterm_drains_an_in_flight_stream_then_exits_zero() -> None:
    with running_server("--grace", "20") as server:
        channel = grpc.insecure_channel(server.target)
        stub = median_pb2_grpc.MedianServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        session_id = stub.CreateSession(median_pb2.CreateSessionRequest(), timeout=10).session_id
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING

        feed: list[median_pb2.RunningMedianRequest | None] = [
            median_pb2.RunningMedianRequest(session_id=session_id, numbers=[1.0, 2.0])
        ]
        answers: Iterator[median_pb2.RunningMedianResponse] = iter(
            stub.RunningMedian(requests_from(feed), timeout=60)
        )
        assert next(answers).number_count == 2

        server.signal(signal.SIGTERM)
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert server.wait_for_log("draining")
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetMedian(median_pb2.GetMedianRequest(session_id=session_id), timeout=10)
        assert refused.value.code() == Code.UNAVAILABLE

        feed.append(median_pb2.RunningMedianRequest(numbers=[6.0]))
        last = next(answers)
        assert (last.number_count, last.median) == (3, 2.0)
        feed.append(None)
        assert list(answers) == []
        assert server.wait(timeout=30) == 0
        channel.close()
    assert "stopped" in server.log_text()


def test_second_signal_stops_at_once() -> None:
    with running_server("--grace", "60") as server:
        channel = grpc.insecure_channel(server.target)
        stub = median_pb2_grpc.MedianServiceStub(channel)
        session_id = stub.CreateSession(median_pb2.CreateSessionRequest(), timeout=10).session_id
        feed: list[median_pb2.RunningMedianRequest | None] = [
            median_pb2.RunningMedianRequest(session_id=session_id, numbers=[1.0])
        ]
        answers: Iterator[median_pb2.RunningMedianResponse] = iter(
            stub.RunningMedian(requests_from(feed), timeout=60)
        )
        assert next(answers).number_count == 1
        server.signal(signal.SIGTERM)
        assert server.wait_for_log("draining")
        started = time.monotonic()
        server.signal(signal.SIGINT)
        assert server.wait(timeout=30) == 1
        assert time.monotonic() - started < 10, "did not wait for the 60 s grace"
        with pytest.raises(grpc.RpcError):
            next(answers)
        feed.append(None)
        channel.close()


def test_sigterm_with_nothing_in_flight_exits_zero_promptly() -> None:
    with running_server("--grace", "30") as server:
        started = time.monotonic()
        server.signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        assert time.monotonic() - started < 10
    assert "stopped" in server.log_text()


def test_a_shard_finds_its_place_in_the_cluster_from_its_own_address() -> None:
    shards = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"
    config = parse_config(["--port", "7002", "--cluster-shards", shards], environ={})
    assert (config.in_cluster, config.shard) == (True, 2)
    assert not parse_config([], environ={}).in_cluster
