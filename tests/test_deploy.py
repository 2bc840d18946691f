"""The systemd unit in deploy/ starts the server with flags the server accepts."""

from __future__ import annotations

import shlex

from median_server.config import parse_config

from tests.servers import ROOT

UNIT = (ROOT / "deploy" / "median.service").read_text()


def exec_start() -> list[str]:
    joined = UNIT.replace("\\\n", " ")
    (line,) = [line for line in joined.splitlines() if line.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


def test_unit_runs_the_console_script_of_the_virtual_environment() -> None:
    assert exec_start()[0] == "/opt/median/.venv/bin/median-server"


def test_unit_flags_parse_into_a_durable_tls_server_with_tokens_and_metrics() -> None:
    config = parse_config(exec_start()[1:], environ={})
    assert config.host == "0.0.0.0"  # noqa: S104 - the unit serves other machines, over TLS
    assert config.data_dir == "/var/lib/median"
    assert config.tls_cert == "/etc/median/server.pem"
    assert config.auth_tokens == "/etc/median/tokens.txt"
    assert config.metrics_port == 9464
    assert config.log_format == "json"


def test_unit_reloads_with_sighup_and_stops_with_sigterm() -> None:
    assert "ExecReload=/bin/kill -HUP $MAINPID" in UNIT
    assert "KillSignal=SIGTERM" in UNIT
