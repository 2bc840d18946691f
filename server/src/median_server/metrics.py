"""Prometheus metrics of one server, and the HTTP endpoint that exposes them (`--metrics-port`).

Each server owns its own registry, so that several servers can run in one process (the tests
do). The hot path pays a few counter increments per call and nothing per number: the session
gauges and the expired-session count are read from the store when Prometheus scrapes.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    make_wsgi_app,
)
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

METHODS = (
    "CreateSession",
    "AddNumbers",
    "RunningMedian",
    "GetMedian",
    "DeleteSession",
    "ListSessions",
)
# Why the numbers of a refused request were refused; the label values of median_refused_numbers.
REFUSAL_REASONS = ("non_finite", "invalid_request", "not_found", "limit", "draining", "internal")
# Calls run from well under a millisecond (GetMedian) to minutes (a long RunningMedian stream).
CALL_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
# A commit to the data folder is a write and an fsync: a fraction of a millisecond to seconds.
COMMIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_SCRAPE_POLL_SECONDS = 0.05  # how soon the endpoint's thread notices that it should stop


class StoreStats(Protocol):
    """What the metrics read from the session store when scraped."""

    def __len__(self) -> int: ...
    @property
    def total_numbers(self) -> int: ...
    @property
    def expired_count(self) -> int: ...


class _StoreCollector(Collector):
    """Reads the session gauges and the expiry counter from the store at scrape time."""

    def __init__(self, store: StoreStats) -> None:
        self._store = store

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily("median_sessions", "Sessions held now.", value=len(self._store))
        yield GaugeMetricFamily(
            "median_numbers_stored",
            "Numbers held in all sessions now, counting those of requests being applied.",
            value=self._store.total_numbers,
        )
        yield CounterMetricFamily(
            "median_sessions_expired",
            "Sessions removed because they stayed untouched longer than --session-ttl.",
            value=self._store.expired_count,
        )


@dataclass
class _MethodMetrics:
    """One method's metric children, looked up once so that a call does no label lookups."""

    method: str
    calls_family: Counter
    duration: Histogram
    received_bytes: Counter
    calls: dict[str, Counter] = field(default_factory=dict)  # by status code, made on first use

    def calls_with(self, code: str) -> Counter:
        child = self.calls.get(code)
        if child is None:
            child = self.calls[code] = self.calls_family.labels(method=self.method, code=code)
        return child


class Metrics:
    """The metrics of one server, in a registry of its own."""

    def __init__(self, store: StoreStats) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        calls = Counter(
            "median_calls",
            "Calls of median.v1.MedianService that ended, by method and status code.",
            ("method", "code"),
            registry=registry,
        )
        duration = Histogram(
            "median_call_duration_seconds",
            "Time from the start of a call to its end (whole streams for streaming calls).",
            ("method",),
            buckets=CALL_BUCKETS,
            registry=registry,
        )
        received = Counter(
            "median_received_bytes",
            "Bytes of request messages received (protobuf encoding, without gRPC framing).",
            ("method",),
            registry=registry,
        )
        self.refused_numbers = Counter(
            "median_refused_numbers",
            "Numbers carried by requests that were refused, by reason.",
            ("reason",),
            registry=registry,
        )
        self.commit_duration = Histogram(
            "median_commit_duration_seconds",
            "Time to commit a change to the data folder (durable storage only).",
            buckets=COMMIT_BUCKETS,
            registry=registry,
        )
        self._methods = {
            method: _MethodMetrics(
                method, calls, duration.labels(method=method), received.labels(method=method)
            )
            for method in METHODS
        }
        for method_metrics in self._methods.values():
            method_metrics.calls_with("OK")  # so that every method shows from the first scrape
        self._refused = {
            reason: self.refused_numbers.labels(reason=reason) for reason in REFUSAL_REASONS
        }
        registry.register(_StoreCollector(store))
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        self._endpoint: _Endpoint | None = None

    def observe_call(self, method: str, code: str, seconds: float, received_bytes: int) -> None:
        """Counts one ended call of `method` (a short name such as "AddNumbers")."""
        metrics = self._methods.get(method)
        if metrics is None:
            return  # a method this version does not know; not worth a label of its own
        metrics.calls_with(code).inc()
        metrics.duration.observe(seconds)
        if received_bytes:
            metrics.received_bytes.inc(received_bytes)

    def observe_refused_numbers(self, reason: str, count: int) -> None:
        """Counts the numbers of a refused request."""
        if count:
            child = self._refused.get(reason)
            if child is None:
                child = self._refused[reason] = self.refused_numbers.labels(reason=reason)
            child.inc(count)

    def observe_commit(self, seconds: float) -> None:
        """Records one commit to the data folder; pass this as the journal's `on_commit`."""
        self.commit_duration.observe(seconds)

    def serve(self, host: str, port: int) -> int:
        """Serves the metrics over HTTP at `/metrics` on a thread; returns the bound port."""
        self._endpoint = _Endpoint.start(self.registry, host, port)
        return self._endpoint.port

    def stop(self) -> None:
        """Stops the HTTP endpoint, if it runs; waits at most a moment."""
        endpoint, self._endpoint = self._endpoint, None
        if endpoint is not None:
            endpoint.stop()

    @property
    def port(self) -> int | None:
        """The endpoint's port, or None when it does not run."""
        return None if self._endpoint is None else self._endpoint.port


class _QuietHandler(WSGIRequestHandler):
    """Writes nothing to stderr per scrape."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class _Endpoint:
    server: ThreadingWSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    @classmethod
    def start(cls, registry: CollectorRegistry, host: str, port: int) -> _Endpoint:
        family = _family(host, port)

        class Server(ThreadingWSGIServer):
            address_family = family

        server = make_server(host, port, make_wsgi_app(registry), Server, _QuietHandler)
        thread = threading.Thread(
            target=server.serve_forever,
            args=(_SCRAPE_POLL_SECONDS,),
            name="median-metrics",
            daemon=True,
        )
        thread.start()
        return cls(server, thread)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _family(host: str, port: int) -> socket.AddressFamily:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    return next(iter(infos))[0]
