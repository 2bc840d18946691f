"""The systemd unit in deploy/ starts the server with flags the server accepts."""

from __future__ import annotations

import shlex

from median_server.config import parse_config

from tests.servers import ROOT

UNIT = (ROOT / "deploy" / "median.service").read_text()
SHARD_UNIT = (ROOT / "deploy" / "median-shard@.service").read_text()
ENVOY_UNIT = (ROOT / "deploy" / "median-envoy.service").read_text()


def exec_start(unit: str = UNIT, instance: str = "") -> list[str]:
    joined = unit.replace("\\\n", " ").replace("%i", instance)
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


def test_shard_unit_makes_the_instance_port_a_shard_that_finds_its_place() -> None:
    environ = {"MEDIAN_CLUSTER_SHARDS": "127.0.0.1:50052,127.0.0.1:50053,127.0.0.1:50054"}
    config = parse_config(exec_start(SHARD_UNIT, "50053")[1:], environ=environ)
    assert (config.port, config.shard, config.in_cluster) == (50053, 2, True)
    assert config.data_dir == "/var/lib/median/shard-50053"
    assert "EnvironmentFile=/etc/default/median-cluster" in SHARD_UNIT


def test_envoy_unit_runs_the_pinned_envoy_on_the_installed_config() -> None:
    command = exec_start(ENVOY_UNIT)
    assert command[:3] == ["/opt/median/.venv/bin/envoy", "-c", "/etc/median/envoy.yaml"]
    assert "ExecStartPre=/opt/median/.venv/bin/envoy --mode validate" in ENVOY_UNIT
