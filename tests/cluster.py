"""Helpers for tests of shards behind Envoy: stubs, routed calls, and each shard's own view."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import grpc
from median.v1 import median_pb2, median_pb2_grpc
from median_server.cluster import LIST_SCOPE_HEADER, SHARD_SCOPE

from deploy.cluster import ROUTING_HEADER, LocalCluster

TIMEOUT = 20.0  # seconds: far above any answer here, so a failure before it is not a deadline
T = TypeVar("T")


def stub(target: str, options: Iterable[tuple[str, int]] = ()) -> median_pb2_grpc.MedianServiceStub:
    """A blocking stub on a channel of its own (closed with the test process)."""
    return median_pb2_grpc.MedianServiceStub(grpc.insecure_channel(target, options=list(options)))


def routed(session_id: str) -> tuple[tuple[str, str], ...]:
    """The metadata every client sends so that the proxy routes the call to its shard."""
    return ((ROUTING_HEADER, session_id),)


def create(target_stub: median_pb2_grpc.MedianServiceStub, session_id: str) -> None:
    target_stub.CreateSession(
        median_pb2.CreateSessionRequest(session_id=session_id),
        metadata=routed(session_id),
        timeout=TIMEOUT,
    )


def add(
    target_stub: median_pb2_grpc.MedianServiceStub, session_id: str, numbers: list[float]
) -> median_pb2.AddNumbersResponse:
    requests = iter([median_pb2.AddNumbersRequest(session_id=session_id, numbers=numbers)])
    response: median_pb2.AddNumbersResponse = target_stub.AddNumbers(
        requests, metadata=routed(session_id), timeout=TIMEOUT
    )
    return response


def get(
    target_stub: median_pb2_grpc.MedianServiceStub, session_id: str
) -> median_pb2.GetMedianResponse:
    response: median_pb2.GetMedianResponse = target_stub.GetMedian(
        median_pb2.GetMedianRequest(session_id=session_id),
        metadata=routed(session_id),
        timeout=TIMEOUT,
    )
    return response


def list_all(
    target_stub: median_pb2_grpc.MedianServiceStub,
    page_size: int = 1000,
    shard_only: bool = False,
    metadata: tuple[tuple[str, str], ...] = (),
) -> Iterator[median_pb2.SessionSummary]:
    """Every session a ListSessions walk returns, page after page (`metadata`: e.g. a token)."""
    if shard_only:
        metadata = (*metadata, (LIST_SCOPE_HEADER, SHARD_SCOPE))
    token = ""
    while True:
        page = target_stub.ListSessions(
            median_pb2.ListSessionsRequest(page_size=page_size, page_token=token),
            metadata=metadata,
            timeout=TIMEOUT,
        )
        yield from page.sessions
        token = page.next_page_token
        if not token:
            return


def shard_sessions(cluster: LocalCluster) -> dict[int, dict[str, int]]:
    """Each running shard's own sessions and their counts, asked of the shard directly."""
    return {
        shard: {
            s.session_id: s.number_count
            for s in list_all(stub(cluster.addresses[shard - 1]), shard_only=True)
        }
        for shard, process in cluster.shards.items()
        if process.popen.poll() is None
    }


def envoy_host_health(cluster: LocalCluster) -> dict[str, str]:
    """Envoy's health flags of each shard (`healthy`, or e.g. `/failed_active_hc`)."""
    with urllib.request.urlopen(cluster.admin_url + "/clusters", timeout=10) as answer:  # noqa: S310 (loopback admin)
        lines = answer.read().decode().splitlines()
    flags = {}
    for line in lines:
        parts = line.split("::")
        if len(parts) == 4 and parts[0] == "shards" and parts[2] == "health_flags":
            flags[parts[1]] = parts[3]
    return flags


def once_back(call: Callable[[], T], within: float = 15.0) -> T:
    """`call()`'s result once it stops failing UNAVAILABLE (a shard coming back up)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return call()
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
        time.sleep(0.2)
