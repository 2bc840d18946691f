"""Builds the gRPC server and runs its life cycle: start, serve, drain, stop.

On the first SIGTERM or SIGINT, health turns NOT_SERVING (so that `Watch` streams and load
balancers see it first), then new calls are refused with UNAVAILABLE while calls in flight get
`--grace` seconds to finish, and the process exits 0. A second signal stops at once (exit 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from median.v1 import median_pb2_grpc

from median_server.auth import Authenticator
from median_server.cluster import ClusterLister
from median_server.config import Config
from median_server.metrics import Metrics
from median_server.reflection import enable_reflection
from median_server.service import SERVICE_NAME, MedianServicer, ServiceInterceptor, StreamLimit
from median_server.sessions import REMEMBERED_REQUEST_IDS, SessionStore
from median_server.storage import Journal, open_journal
from median_server.tls import TlsFiles, load_tls_files

log = logging.getLogger(__name__)

HEALTH_SERVICES = ("", SERVICE_NAME)
# The asyncio health servicer is newer than the published type stubs of grpc_health.
HealthServicer: Any = health.aio.HealthServicer  # type: ignore[attr-defined]


class BindError(RuntimeError):
    """The server could not listen on the address it was given."""


@dataclass
class MedianServer:
    """A started server, the port it bound, and what its life cycle needs."""

    grpc_server: grpc.aio.Server
    port: int
    store: SessionStore
    health: Any  # a grpc_health.v1.health.aio.HealthServicer
    config: Config
    draining: asyncio.Event  # shared with the interceptor: once set, new calls are refused
    metrics: Metrics | None = None  # with --metrics-port only
    auth: Authenticator | None = None  # with --auth-tokens only
    journal: Journal | None = None  # with --data-dir only
    cluster: ClusterLister | None = None  # with --cluster-shards only
    _background: list[asyncio.Task[None]] = field(default_factory=list, repr=False)

    async def drain(self, grace: float | None = None) -> None:
        """Turns health NOT_SERVING, refuses new calls, and waits for calls in flight."""
        grace = self.config.grace if grace is None else grace
        await self.health.enter_graceful_shutdown()
        self.draining.set()
        log.info("draining: health is NOT_SERVING; calls in flight have %ss to finish", grace)
        self._stop_background()
        await self.grpc_server.stop(grace)
        await self._stop_metrics()
        if self.cluster:
            await self.cluster.close()
        if self.journal:
            await self.journal.close()  # after the calls: they wait for their commits
        log.info("stopped")

    async def stop_now(self) -> None:
        """Ends every call at once."""
        self.draining.set()
        self._stop_background()
        await self.grpc_server.stop(None)
        await self._stop_metrics()
        if self.cluster:
            await self.cluster.close()
        if self.journal:
            await self.journal.close()

    def reload_tokens(self) -> None:
        """Re-reads the token file (on SIGHUP); a bad new file leaves the old tokens in force."""
        if self.auth is None:
            log.info("SIGHUP: there is no --auth-tokens file to re-read")
        else:
            self.auth.reload()

    def _stop_background(self) -> None:
        for task in self._background:
            task.cancel()

    async def _stop_metrics(self) -> None:
        if self.metrics:
            await asyncio.to_thread(self.metrics.stop)


async def start_server(config: Config, clock: Callable[[], float] | None = None) -> MedianServer:
    """Builds and starts a server on `config.address`; port 0 binds a free port.

    Raises TokenFileError or TlsSetupError, before anything is started, when the token file or
    a TLS file cannot be used, and DataFolderError when `--data-dir` cannot be. The clock is
    monotonic, or with `--data-dir` the wall clock, since touch times then outlive the process.
    """
    authenticator = Authenticator(config.auth_tokens) if config.auth_tokens else None
    tls = None
    if config.tls_cert and config.tls_key:
        tls = load_tls_files(config.tls_cert, config.tls_key, config.tls_client_ca)
    if clock is None:
        clock = time.time if config.data_dir else time.monotonic
    journal = await _open_data_folder(config) if config.data_dir else None
    store = SessionStore(config.limits, clock, journal=journal)
    if journal:
        await _restore_sessions(store, journal)
    draining = asyncio.Event()
    metrics = Metrics(store) if config.metrics_port is not None else None
    if journal and metrics:
        journal.on_commit = metrics.observe_commit
    interceptor = ServiceInterceptor(
        draining.is_set,
        metrics,
        authenticator=authenticator,
        streams=StreamLimit(config.max_streams),
    )
    grpc_server = grpc.aio.server(
        interceptors=[interceptor],
        options=[
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.so_reuseport", 0),  # a second server on a busy port must fail, not share it
            *keepalive_options(config),
        ],
    )
    cluster = ClusterLister(config.cluster_shards, config.shard) if config.in_cluster else None
    median_pb2_grpc.add_MedianServiceServicer_to_server(MedianServicer(store, cluster), grpc_server)
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, grpc_server)
    if config.reflection:
        enable_reflection((SERVICE_NAME, health.SERVICE_NAME), grpc_server)
    try:
        if tls:
            port = grpc_server.add_secure_port(config.address, tls.server_credentials())
        else:
            port = grpc_server.add_insecure_port(config.address)
    except RuntimeError as error:
        raise BindError(f"cannot listen on {config.address}: {error}") from None
    if port == 0:
        raise BindError(f"cannot listen on {config.address}: is the port in use?")
    if metrics and config.metrics_port is not None:
        try:
            metrics.serve(config.host, config.metrics_port)
        except OSError as error:
            raise BindError(
                f"cannot serve metrics on port {config.metrics_port} of {config.host} "
                f"(--metrics-port): {error}"
            ) from None
    await grpc_server.start()
    for service in HEALTH_SERVICES:
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    server = MedianServer(
        grpc_server,
        port,
        store,
        health_servicer,
        config,
        metrics=metrics,
        auth=authenticator,
        journal=journal,
        draining=draining,
        cluster=cluster,
    )
    log_security(config, authenticator, tls)
    if config.session_ttl:
        server._background.append(
            asyncio.create_task(_expire_idle_sessions(store, config.session_ttl))
        )
    server._background.append(asyncio.create_task(_keep_sessions_out_of_gc(store)))
    return server


def keepalive_options(config: Config) -> list[tuple[str, int]]:
    """gRPC core's channel arguments for HTTP/2 keepalive, both ways (gRFC A8).

    Clients behind load balancers ping every 10-30 s to keep idle streams open; gRPC core's
    server default allows a ping only every 5 minutes without data and answers the third early
    one with GOAWAY `too_many_pings`, which fails every stream of the connection. Here clients
    may ping every `--keepalive-min-ping-interval` seconds, with or without calls. The server
    pings each connection every `--keepalive-time` seconds, data or not, and closes it (failing
    its calls, so that their streams are released) when a ping goes unanswered for
    `--keepalive-timeout` seconds: a client that vanished is let go within their sum.
    """
    return [
        (
            "grpc.http2.min_ping_interval_without_data_ms",
            round(config.keepalive_min_ping_interval * 1000),
        ),
        ("grpc.http2.max_ping_strikes", 2),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.keepalive_time_ms", round(config.keepalive_time * 1000)),
        ("grpc.keepalive_timeout_ms", round(config.keepalive_timeout * 1000)),
        ("grpc.http2.max_pings_without_data", 0),  # keep pinging an idle connection
        # gRPC core 1.85 waits for a ping's ack this long (default one minute), whatever
        # grpc.keepalive_timeout_ms says: measured here, only both together let go in time.
        ("grpc.http2.ping_timeout_ms", round(config.keepalive_timeout * 1000)),
    ]


async def _open_data_folder(config: Config) -> Journal:
    assert config.data_dir
    return await asyncio.to_thread(
        open_journal, config.data_dir, config.sync, remembered=REMEMBERED_REQUEST_IDS
    )


async def _restore_sessions(store: SessionStore, journal: Journal) -> None:
    """Reads the data folder's sessions back, then lets the journal's writer take over."""
    started = time.perf_counter()
    try:
        sessions, numbers = store.restore()
    except BaseException:
        await journal.close()
        raise
    journal.start()
    log.info(
        "data folder %s: read back %d sessions with %d numbers in %.2fs; every change is "
        "committed before it is answered (--sync %s)",
        journal.folder,
        sessions,
        numbers,
        time.perf_counter() - started,
        journal.sync,
    )


def log_security(config: Config, authenticator: Authenticator | None, tls: TlsFiles | None) -> None:
    """Says at start who may connect and read what; never a token."""
    if tls:
        if tls.client_ca:
            log.info(
                "TLS on; clients need a certificate signed by --tls-client-ca %s",
                config.tls_client_ca,
            )
        else:
            log.info("TLS on (certificate %s)", config.tls_cert)
    if authenticator:
        log.info(
            "bearer tokens required (health and reflection excepted): %s", authenticator.describe()
        )
        if not tls and not _is_loopback(config.host):
            log.warning(
                "bearer tokens travel in plaintext to %s; serve TLS (--tls-cert, --tls-key) "
                "unless a proxy in front of the server terminates TLS",
                config.host,
            )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _expire_idle_sessions(store: SessionStore, ttl: float) -> None:
    """Removes idle sessions now and then, so that their memory comes back unasked."""
    while True:
        await asyncio.sleep(min(max(ttl / 4, 0.05), 60.0))
        if expired := store.expire_idle():
            log.info("expired %d idle sessions (--session-ttl %ss)", expired, ttl)


async def _keep_sessions_out_of_gc(store: SessionStore, every: float = 1.0) -> None:
    """Moves the sessions' heaps out of reach of Python's full garbage collections.

    A full collection visits every element of every list, on the event loop's thread: 0.3 s at
    10^7 stored numbers, with no call answered meanwhile. The heaps hold only floats, so they
    can never be part of a reference cycle and need no collector. `gc.freeze()` moves every
    object alive now into a generation that collections skip; a list stays there however much
    it grows, and is still freed the usual way when its session goes. So soon after sessions
    are made (or read back at start), their still-small heaps are frozen, after a collection of
    the young generations so that fresh garbage is not frozen with them.
    """
    frozen_at = -1
    while True:
        if store.created_count != frozen_at:
            frozen_at = store.created_count
            gc.collect(1)
            gc.freeze()
        await asyncio.sleep(every)


async def serve(config: Config) -> int:
    """Runs the server until a signal; returns the process's exit status."""
    server = await start_server(config)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    forced = False
    stopping_now: set[asyncio.Task[None]] = set()  # keeps the task referenced until it ends

    def on_signal(signum: signal.Signals) -> None:
        nonlocal forced
        if stop_requested.is_set():
            log.warning("%s again: stopping at once", signum.name)
            forced = True
            stopping_now.add(loop.create_task(server.stop_now()))
            return
        log.info("%s: shutting down (send it again to stop at once)", signum.name)
        stop_requested.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    loop.add_signal_handler(signal.SIGHUP, server.reload_tokens)
    # Logged once the signal handlers are in place: from here on a SIGTERM drains.
    host = f"[{config.host}]" if ":" in config.host else config.host
    if server.metrics and server.metrics.port is not None:
        log.info(
            "metrics at http://%s:%d/metrics",
            host,
            server.metrics.port,
            extra={"metrics_port": server.metrics.port},
        )
    log.info(
        "median-server listening on %s:%d (reflection %s; max %d sessions, %d numbers per "
        "session, %d in all, %d-byte messages, %d open streams; idle sessions expire after %ss; "
        "keepalive: clients may ping every %ss, the server pings every %ss)",
        host,
        server.port,
        "on" if config.reflection else "off",
        config.max_sessions,
        config.max_session_numbers,
        config.max_total_numbers,
        config.max_message_bytes,
        config.max_streams,
        config.session_ttl or "never",
        config.keepalive_min_ping_interval,
        config.keepalive_time,
    )
    if config.in_cluster:
        log.info(
            "shard %d of %d (%s): calls need the median-session-id header; ListSessions "
            "walks every shard",
            config.shard,
            len(config.cluster_shards),
            ", ".join(config.cluster_shards),
        )
    await stop_requested.wait()
    await server.drain()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        with contextlib.suppress(Exception):
            loop.remove_signal_handler(signum)
    return 1 if forced else 0
