"""The Prometheus endpoint (`--metrics-port`), scraped over HTTP on loopback from real servers."""

from __future__ import annotations

import asyncio
import math
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from median.v1 import median_pb2
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Service, ServiceFactory
from tests.servers import SERVER, running_server

Code = grpc.StatusCode
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape_url(url: str) -> Samples:
    """Every sample the endpoint shows, keyed by name and labels."""
    assert url.startswith("http://")
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (http only, above)
        assert response.status == 200
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(service: Service) -> Samples:
    assert service.server.metrics is not None
    return scrape_url(f"http://127.0.0.1:{service.server.metrics.port}/metrics")


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def metered(make_service: ServiceFactory, **settings: object) -> Service:
    return await make_service(metrics_port=0, **settings)


async def add(service: Service, *requests: median_pb2.AddNumbersRequest) -> None:
    await service.stub.AddNumbers(iter(requests))


async def test_metrics_are_off_unless_a_port_is_given(service: Service) -> None:
    assert service.server.metrics is None


async def test_calls_are_counted_by_method_and_status_code(make_service: ServiceFactory) -> None:
    service = await metered(make_service)
    before = scrape(service)
    await service.stub.CreateSession(median_pb2.CreateSessionRequest(session_id="s"))
    for missing in ("gone-1", "gone-2"):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await service.stub.GetMedian(median_pb2.GetMedianRequest(session_id=missing))
        assert error.value.code() == Code.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await service.stub.GetMedian(median_pb2.GetMedianRequest(session_id="s"))
    assert error.value.code() == Code.FAILED_PRECONDITION

    after = scrape(service)
    assert value(before, "median_calls_total", method="CreateSession", code="OK") == 0
    assert value(after, "median_calls_total", method="CreateSession", code="OK") == 1
    assert value(after, "median_calls_total", method="GetMedian", code="NOT_FOUND") == 2
    assert value(after, "median_calls_total", method="GetMedian", code="FAILED_PRECONDITION") == 1
    assert value(after, "median_calls_total", method="GetMedian", code="OK") == 0
    assert value(after, "median_call_duration_seconds_count", method="GetMedian") == 3
    assert value(after, "median_call_duration_seconds_count", method="CreateSession") == 1


async def test_every_method_shows_from_the_first_scrape(make_service: ServiceFactory) -> None:
    samples = scrape(await metered(make_service))
    for method in ("CreateSession", "AddNumbers", "RunningMedian", "GetMedian", "DeleteSession"):
        assert ("median_calls_total", frozenset({("method", method), ("code", "OK")})) in samples
    assert ("median_sessions", frozenset()) in samples
    assert ("median_commit_duration_seconds_count", frozenset()) in samples


async def test_sessions_and_numbers_stored_follow_the_store(make_service: ServiceFactory) -> None:
    service = await metered(make_service)
    for session_id in ("a", "b"):
        await service.stub.CreateSession(median_pb2.CreateSessionRequest(session_id=session_id))
    await add(service, median_pb2.AddNumbersRequest(session_id="a", numbers=[1, 2, 3, 4, 5]))
    samples = scrape(service)
    assert value(samples, "median_sessions") == 2
    assert value(samples, "median_numbers_stored") == 5

    await service.stub.DeleteSession(median_pb2.DeleteSessionRequest(session_id="a"))
    samples = scrape(service)
    assert value(samples, "median_sessions") == 1
    assert value(samples, "median_numbers_stored") == 0


async def test_a_refused_nan_request_counts_all_its_numbers(make_service: ServiceFactory) -> None:
    service = await metered(make_service)
    await service.stub.CreateSession(median_pb2.CreateSessionRequest(session_id="s"))
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await add(
            service,
            median_pb2.AddNumbersRequest(session_id="s", numbers=[1, 2]),
            median_pb2.AddNumbersRequest(numbers=[3, math.nan, 4]),
        )
    assert error.value.code() == Code.INVALID_ARGUMENT
    samples = scrape(service)
    assert value(samples, "median_refused_numbers_total", reason="non_finite") == 3
    assert value(samples, "median_numbers_stored") == 2  # the first request stays applied
    assert value(samples, "median_calls_total", method="AddNumbers", code="INVALID_ARGUMENT") == 1


async def test_refused_numbers_are_counted_by_reason(make_service: ServiceFactory) -> None:
    service = await metered(make_service, max_session_numbers=3)
    await service.stub.CreateSession(median_pb2.CreateSessionRequest(session_id="s"))
    refused = [
        median_pb2.RunningMedianRequest(session_id="s", numbers=[1, 2, 3, 4]),  # over the limit
        median_pb2.RunningMedianRequest(session_id="nobody", numbers=[1, 2]),
        median_pb2.RunningMedianRequest(session_id="s", numbers=[1], request_id="\n"),
    ]
    for request in refused:
        with pytest.raises(grpc.aio.AioRpcError):
            async for _answer in service.stub.RunningMedian(iter([request])):
                pass
    samples = scrape(service)
    assert value(samples, "median_refused_numbers_total", reason="limit") == 4
    assert value(samples, "median_refused_numbers_total", reason="not_found") == 2
    assert value(samples, "median_refused_numbers_total", reason="invalid_request") == 1
    assert value(samples, "median_refused_numbers_total", reason="non_finite") == 0
    assert value(samples, "median_numbers_stored") == 0


async def test_idle_sessions_that_expire_are_counted(make_service: ServiceFactory) -> None:
    service = await metered(make_service, session_ttl=60)
    for session_id in ("a", "b", "c"):
        await service.stub.CreateSession(median_pb2.CreateSessionRequest(session_id=session_id))
    service.clock.advance(61)
    with pytest.raises(grpc.aio.AioRpcError):  # expires "a" on access
        await service.stub.GetMedian(median_pb2.GetMedianRequest(session_id="a"))
    assert value(scrape(service), "median_sessions_expired_total") == 1
    assert service.server.store.expire_idle() == 2  # what the periodic sweep does
    samples = scrape(service)
    assert value(samples, "median_sessions_expired_total") == 3
    assert value(samples, "median_sessions") == 0


async def test_received_bytes_add_up_the_request_messages(make_service: ServiceFactory) -> None:
    service = await metered(make_service)
    create = median_pb2.CreateSessionRequest(session_id="bytes")
    batches = [
        median_pb2.AddNumbersRequest(session_id="bytes", numbers=[float(i) for i in range(100)]),
        median_pb2.AddNumbersRequest(numbers=[0.5] * 7, request_id="second"),
    ]
    await service.stub.CreateSession(create)
    await add(service, *batches)
    samples = scrape(service)
    assert (
        value(samples, "median_received_bytes_total", method="CreateSession") == create.ByteSize()
    )
    assert value(samples, "median_received_bytes_total", method="AddNumbers") == sum(
        b.ByteSize() for b in batches
    )


async def test_a_call_cancelled_mid_apply_is_counted_as_cancelled(
    make_service: ServiceFactory,
) -> None:
    service = await metered(make_service)
    store = service.server.store
    store.apply_slice = 1  # one number per slice, so that the cancel lands mid-apply
    await service.stub.CreateSession(median_pb2.CreateSessionRequest(session_id="s"))
    call = service.stub.RunningMedian(None)
    await call.write(median_pb2.RunningMedianRequest(session_id="s", numbers=[1.0] * 5_000))
    for _ in range(5000):  # the request counts against the limits as it starts to apply
        if store.total_numbers:
            break
        await asyncio.sleep(0.001)
    call.cancel()
    for _ in range(1000):  # the server learns of the cancel asynchronously; bounded wait
        samples = scrape(service)
        if value(samples, "median_call_duration_seconds_count", method="RunningMedian"):
            break
        await asyncio.sleep(0.01)
    assert value(samples, "median_calls_total", method="RunningMedian", code="CANCELLED") == 1
    assert value(samples, "median_calls_total", method="RunningMedian", code="OK") == 0


async def test_commit_latency_histogram_records_what_the_journal_reports(
    make_service: ServiceFactory,
) -> None:
    service = await metered(make_service)
    assert service.server.metrics is not None
    service.server.metrics.observe_commit(0.003)
    samples = scrape(service)
    assert value(samples, "median_commit_duration_seconds_count") == 1
    assert value(samples, "median_commit_duration_seconds_bucket", le="0.0025") == 0
    assert value(samples, "median_commit_duration_seconds_bucket", le="0.005") == 1


async def test_commits_to_the_data_folder_are_timed(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    service = await metered(make_service, data_dir=str(tmp_path / "data"), sync="always")
    before = value(scrape(service), "median_commit_duration_seconds_count")
    await service.stub.CreateSession(median_pb2.CreateSessionRequest(session_id="kept"))
    await add(service, median_pb2.AddNumbersRequest(session_id="kept", numbers=[1.0, 2.0]))
    samples = scrape(service)
    assert value(samples, "median_commit_duration_seconds_count") >= before + 2
    assert value(samples, "median_commit_duration_seconds_sum") > 0


async def test_two_servers_in_one_process_keep_their_own_counts(
    make_service: ServiceFactory,
) -> None:
    first, second = await metered(make_service), await metered(make_service)
    await first.stub.CreateSession(median_pb2.CreateSessionRequest(session_id="only-first"))
    assert value(scrape(first), "median_sessions") == 1
    assert value(scrape(second), "median_sessions") == 0


async def test_the_endpoint_stops_with_the_server(make_service: ServiceFactory) -> None:
    service = await metered(make_service)
    assert service.server.metrics is not None
    port = service.server.metrics.port
    await service.server.stop_now()
    with pytest.raises(urllib.error.URLError):
        scrape_url(f"http://127.0.0.1:{port}/metrics")


def test_the_process_logs_its_metrics_port_and_serves_there() -> None:
    with running_server("--metrics-port", "0") as server:
        line = next(line for line in server.log if "metrics at http://" in line)
        url = line[line.index("http://") :].split()[0]
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/metrics")
        samples = scrape_url(url)
        assert value(samples, "median_sessions") == 0
        assert ("process_cpu_seconds_total", frozenset()) in samples


def test_metrics_serve_on_ipv6_loopback_with_host() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    with running_server("--host", "::1", "--metrics-port", "0") as server:
        line = next(line for line in server.log if "metrics at http://" in line)
        url = line[line.index("http://") :].split()[0]
        assert url.startswith("http://[::1]:")
        assert value(scrape_url(url), "median_sessions") == 0


def test_a_busy_metrics_port_stops_the_server_naming_the_flag() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [str(SERVER), "--port", "0", "--metrics-port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    assert "--metrics-port" in result.stderr
    assert str(port) in result.stderr
