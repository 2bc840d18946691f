"""The server's settings: command-line flags, each with a MEDIAN_* environment variable."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from median_server.sessions import Limits
from median_server.storage import SYNC_MODES

ENV_PREFIX = "MEDIAN_"
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class Config:
    """Everything `median-server` can be told at start."""

    host: str = "127.0.0.1"
    port: int = 50051
    max_sessions: int = 10_000
    max_session_numbers: int = 10_000_000
    max_total_numbers: int = 100_000_000
    max_message_bytes: int = 4 * 1024 * 1024
    session_ttl: float = 3600.0
    grace: float = 10.0
    reflection: bool = True
    log_level: str = "info"
    log_format: str = "text"
    metrics_port: int | None = None  # None: no metrics endpoint
    auth_tokens: str | None = None  # the token file; None: no tokens, every caller is tenant ""
    tls_cert: str | None = None  # with tls_key: serve TLS
    tls_key: str | None = None
    tls_client_ca: str | None = None  # with TLS: clients need a certificate this CA signed
    data_dir: str | None = None  # None: sessions live in memory only
    sync: str = "batch"  # with data_dir: "always" commits each request alone
    max_streams: int = 10_000  # AddNumbers and RunningMedian streams open at once, in all
    keepalive_min_ping_interval: float = 5.0  # seconds; clients may ping this often
    keepalive_time: float = 60.0  # seconds between the server's pings of a connection
    keepalive_timeout: float = 20.0  # seconds an unanswered ping waits before the connection goes
    cluster_shards: tuple[str, ...] = ()  # every shard's address, in order; () for one server
    shard: int = 0  # with cluster_shards: this server's place in it, from 1

    @property
    def in_cluster(self) -> bool:
        """Whether this server is one shard of several (it then needs the routing header)."""
        return bool(self.cluster_shards)

    @property
    def limits(self) -> Limits:
        return Limits(
            max_sessions=self.max_sessions,
            max_session_numbers=self.max_session_numbers,
            max_total_numbers=self.max_total_numbers,
            session_ttl=self.session_ttl,
        )

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError("must be 0 to 65535 (0 picks a free port)")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be a whole number of at least 1")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):
        raise ValueError("must be a finite number of seconds, 0 or more")
    return value


def _log_level(text: str) -> str:
    if text.lower() not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return text.lower()


def _log_format(text: str) -> str:
    if text.lower() not in LOG_FORMATS:
        raise ValueError(f"must be one of {', '.join(LOG_FORMATS)}")
    return text.lower()


def _file(text: str) -> str:
    if not text:
        raise ValueError("must name a file")
    return text


def _folder(text: str) -> str:
    if not text:
        raise ValueError("must name a folder")
    return text


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise ValueError("must be a finite number of seconds, more than 0")
    return value


def _addresses(text: str) -> tuple[str, ...]:
    addresses = tuple(part.strip() for part in text.split(",") if part.strip())
    for address in addresses:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) <= 65535:
            raise ValueError(f"must be HOST:PORT addresses separated by commas; {address!r} is not")
    if len(set(addresses)) != len(addresses):
        raise ValueError("must name each shard once")
    return addresses


def _sync_mode(text: str) -> str:
    if text.lower() not in SYNC_MODES:
        raise ValueError(f"must be one of {', '.join(SYNC_MODES)}")
    return text.lower()


def _flag(flag: str, parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """Wraps a parser so that argparse's error names the flag and says why."""

    def checked(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            reason = str(error) if "must" in str(error) else f"{text!r} is not valid"
            raise argparse.ArgumentTypeError(reason) from None

    checked.__name__ = flag
    return checked


_FLAGS: list[tuple[str, Callable[[str], Any], str]] = [
    ("host", str, "address to listen on (0.0.0.0 or :: to serve other machines)"),
    ("port", _port, "port to listen on; 0 picks a free one, and the log says which"),
    ("max-sessions", _positive_int, "sessions at once"),
    ("max-session-numbers", _positive_int, "numbers in one session"),
    ("max-total-numbers", _positive_int, "numbers in all sessions together"),
    ("max-message-bytes", _positive_int, "largest request message, in bytes"),
    ("session-ttl", _seconds, "seconds a session may stay untouched; 0 keeps sessions forever"),
    ("grace", _seconds, "seconds calls in flight may take to finish after SIGTERM"),
    ("log-level", _log_level, "debug, info, warning or error"),
    ("log-format", _log_format, "text (for people) or json (one object per line)"),
    ("metrics-port", _port, "port of --host for Prometheus /metrics; 0 picks a free one"),
    ("auth-tokens", _file, "file of `token tenant` lines; MedianService calls need a token"),
    ("tls-cert", _file, "PEM certificate chain; with --tls-key the server speaks TLS only"),
    ("tls-key", _file, "PEM private key of --tls-cert, unencrypted"),
    ("tls-client-ca", _file, "PEM CA certificates; clients must show a certificate they signed"),
    ("data-dir", _folder, "folder of the SQLite database that keeps sessions across restarts"),
    ("sync", _sync_mode, "with --data-dir: always (a commit per request) or batch (grouped)"),
    ("max-streams", _positive_int, "AddNumbers and RunningMedian streams open at once, in all"),
    (
        "keepalive-min-ping-interval",
        _positive_seconds,
        "seconds a client must leave between keepalive pings (more often: GOAWAY too_many_pings)",
    ),
    ("keepalive-time", _positive_seconds, "seconds between the server's keepalive pings"),
    (
        "keepalive-timeout",
        _positive_seconds,
        "seconds a keepalive ping may go unanswered before the connection and its calls end",
    ),
    (
        "cluster-shards",
        _addresses,
        "every shard's HOST:PORT, in order, this one's included: this server is a shard of them",
    ),
    (
        "shard",
        _positive_int,
        "with --cluster-shards: this server's place in the list, from 1 (found by itself when "
        "--host:--port is in the list)",
    ),
]


def _shown(default: Any) -> Any:
    return "off" if default in (None, (), 0) else default


def env_name(flag: str) -> str:
    """`--max-sessions` -> `MEDIAN_MAX_SESSIONS`."""
    return ENV_PREFIX + flag.upper().replace("-", "_")


def parse_config(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> Config:
    """Reads flags, then environment variables for the flags not given; exits 2 on a bad value."""
    parser = argparse.ArgumentParser(
        prog="median-server",
        description="Serve the running-median gRPC service (median.v1.MedianService).",
        epilog="Every flag also reads an environment variable, MEDIAN_ plus the flag's name in "
        "capitals with _ for - (--max-sessions: MEDIAN_MAX_SESSIONS); the flag wins.",
    )
    defaults = Config()
    for flag, parse, help_text in _FLAGS:
        attribute = flag.replace("-", "_")
        default = getattr(defaults, attribute)
        variable = env_name(flag)
        if variable in environ:
            try:
                default = _flag(flag, parse)(environ[variable])
            except argparse.ArgumentTypeError as error:
                parser.error(f"environment variable {variable}={environ[variable]!r}: {error}")
        parser.add_argument(
            f"--{flag}",
            dest=attribute,
            type=_flag(flag, parse),
            default=default,
            metavar=variable.removeprefix(ENV_PREFIX),
            help=f"{help_text} (default: {_shown(getattr(defaults, attribute))}; env {variable})",
        )
    reflection_default = environ.get(env_name("no-reflection"), "").lower() not in (
        "1",
        "true",
        "yes",
    )
    parser.add_argument(
        "--no-reflection",
        dest="reflection",
        action="store_false",
        default=reflection_default,
        help=f"turn server reflection off (env {env_name('no-reflection')}=1)",
    )
    config = Config(**vars(parser.parse_args(argv)))
    if problem := _tls_flags_problem(config):
        parser.error(problem)
    if config.cluster_shards and not config.shard and config.address in config.cluster_shards:
        # Listening on one of the shards' addresses says which shard this is.
        config = dataclasses.replace(config, shard=config.cluster_shards.index(config.address) + 1)
    if problem := _cluster_flags_problem(config):
        parser.error(problem)
    return config


def _tls_flags_problem(config: Config) -> str | None:
    """What is wrong with the combination of TLS flags, if anything."""
    if (config.tls_cert is None) != (config.tls_key is None):
        return (
            "--tls-cert and --tls-key go together: give both (the certificate chain and its "
            "private key) to serve TLS, or neither"
        )
    if config.tls_client_ca is not None and config.tls_cert is None:
        return (
            "--tls-client-ca needs --tls-cert and --tls-key: the server asks for client "
            "certificates only over TLS"
        )
    return None


def _cluster_flags_problem(config: Config) -> str | None:
    """What is wrong with --cluster-shards and --shard, if anything."""
    if not config.cluster_shards:
        if config.shard:
            return "--shard needs --cluster-shards: the addresses of every shard, in order"
        return None
    if not 1 <= config.shard <= len(config.cluster_shards):
        return (
            f"--shard must say which of the {len(config.cluster_shards)} --cluster-shards "
            f"addresses is this server: a number from 1 to {len(config.cluster_shards)} (it "
            f"may be left out when --host and --port are one of them; {config.address} is not)"
        )
    if config.tls_cert is not None:
        return (
            "--cluster-shards with --tls-cert is not supported: shards list each other's "
            "sessions over plaintext, so run them on a private network and let the proxy in "
            "front (Envoy) terminate TLS"
        )
    return None
