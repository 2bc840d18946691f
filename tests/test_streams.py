"""Long-lived streams on one server: the open-stream limit, keepalive, reflection v1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha import reflection_pb2
from median.v1 import median_pb2

from tests.cluster import TIMEOUT, create, get, stub
from tests.servers import ROOT, running_server
from tests.statuses import details

GRPCURL = ROOT / "tools" / "bin" / "grpcurl"


def open_stream(
    target: str, session_id: str, release: threading.Event
) -> Iterator[median_pb2.RunningMedianResponse]:
    """A RunningMedian stream that sends one request, then stays open until `release`."""

    def requests() -> Iterator[median_pb2.RunningMedianRequest]:
        yield median_pb2.RunningMedianRequest(session_id=session_id, numbers=[1.0])
        release.wait(TIMEOUT * 3)

    return iter(stub(target).RunningMedian(requests(), timeout=TIMEOUT * 3))


def test_the_stream_past_max_streams_is_refused_with_the_limit_and_others_are_still_served() -> (
    None
):
    with running_server("--max-streams", "2") as server:
        create(stub(server.target), "held")
        release = threading.Event()
        held = [open_stream(server.target, "held", release) for _ in range(2)]
        assert sorted(next(stream).number_count for stream in held) == [1, 2]
        with pytest.raises(grpc.RpcError) as refused:
            next(open_stream(server.target, "held", release))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "--max-streams 2" in (refused.value.details() or "")
        quota = [d for d in details(refused.value) if isinstance(d, error_details_pb2.QuotaFailure)]
        assert quota[0].violations[0].subject == "--max-streams"
        assert get(stub(server.target), "held").number_count == 2  # unary calls go on
        release.set()
        for stream in held:
            assert list(stream) == []
        # The streams that ended gave their places back.
        again = threading.Event()
        assert next(open_stream(server.target, "held", again)).number_count == 3
        again.set()


VANISHING_CLIENT = """
import sys, threading
import grpc
from median.v1 import median_pb2, median_pb2_grpc
forever = threading.Event()
def requests():
    yield median_pb2.RunningMedianRequest(session_id="vanishing", numbers=[1.0])
    forever.wait()
stub = median_pb2_grpc.MedianServiceStub(grpc.insecure_channel(sys.argv[1]))
answers = stub.RunningMedian(requests())
next(answers)
print("open", flush=True)
forever.wait()
"""


def test_the_server_lets_go_of_a_vanished_clients_stream_after_its_keepalive_timeout() -> None:
    with running_server(
        "--max-streams", "1", "--keepalive-time", "1", "--keepalive-timeout", "1"
    ) as server:
        create(stub(server.target), "vanishing")
        client = subprocess.Popen(
            [sys.executable, "-c", VANISHING_CLIENT, server.target],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert client.stdout is not None
            assert client.stdout.readline().strip() == "open"
            # A stopped process answers no ping, like a client whose machine or network is gone
            # (its kernel still holds the connection open).
            os.kill(client.pid, signal.SIGSTOP)
            release = threading.Event()
            with pytest.raises(grpc.RpcError) as refused:
                next(open_stream(server.target, "vanishing", release))
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            deadline = time.monotonic() + 30
            while True:
                try:
                    next(open_stream(server.target, "vanishing", release))
                    break
                except grpc.RpcError as error:
                    if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                        raise
                    assert time.monotonic() < deadline, "the vanished client's stream is held"
                    time.sleep(0.5)
            release.set()
        finally:
            client.kill()
            client.wait(timeout=10)
            if client.stdout:
                client.stdout.close()


def reflection_v1_services(target: str) -> list[str]:
    """The services the server lists over `grpc.reflection.v1` (same messages as v1alpha)."""
    channel = grpc.insecure_channel(target)
    call = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    requests = iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    (answer,) = list(call(requests, timeout=TIMEOUT))
    channel.close()
    return [service.name for service in answer.list_services_response.service]


def test_reflection_v1_lists_the_services_for_grpcurl() -> None:
    with running_server() as server:
        services = reflection_v1_services(server.target)
        assert "median.v1.MedianService" in services
        assert "grpc.reflection.v1.ServerReflection" in services
        if not GRPCURL.exists():
            message = "grpcurl is not installed: `make grpcurl` installs it (needs Go)"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(message)
            pytest.skip(message)
        # grpcurl calls the v1 method itself, which needs the v1 schema by reflection.
        method = "grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        invoked = grpcurl("-d", '{"list_services": ""}', server.target, method)
        assert '"name": "median.v1.MedianService"' in invoked
        described = grpcurl(server.target, "describe", "median.v1.MedianService")
        assert "rpc RunningMedian" in described


def grpcurl(*args: str) -> str:
    """What `grpcurl -plaintext ARGS...` prints; it must succeed."""
    result = subprocess.run(
        [str(GRPCURL), "-plaintext", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
