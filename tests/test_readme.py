"""The README's examples work when pasted: its Python and grpcurl blocks, against a real server."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from deploy.cluster import free_ports, is_listening
from tests.servers import ROOT, running_server

README = (ROOT / "README.md").read_text()
DOCUMENTED_ADDRESS = "127.0.0.1:50051"
GRPCURL = ROOT / "tools" / "bin" / "grpcurl"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


@dataclass
class Served:
    """Where the README's examples are pointed: one server, or `make serve-cluster`."""

    target: str


@contextlib.contextmanager
def make_serve_cluster(shards: int = 3) -> Iterator[tuple[Served, list[str]]]:
    """Runs `make serve-cluster` on free ports as a user would, in its own process group (the
    terminal's Ctrl-C reaches the whole group); SIGTERMs the group after, and yields the log."""
    port = free_ports(shards + 1)[0]
    process = subprocess.Popen(
        # `make` from PATH, as a user types it.
        ["make", "serve-cluster", f"PORT={port}", f"SHARDS={shards}"],  # noqa: S607
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stderr is not None
    log: list[str] = []
    for line in process.stderr:
        log.append(line)
        if "median cluster listening on" in line:
            break
    else:
        raise AssertionError("make serve-cluster did not start:\n" + "".join(log))
    reader = threading.Thread(target=lambda: log.extend(process.stderr or ()))
    reader.start()
    try:
        yield Served(f"127.0.0.1:{port}"), log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        reader.join(timeout=60)
        process.stderr.close()


@pytest.fixture(scope="module", params=["one server", "make serve-cluster"])
def server(request: pytest.FixtureRequest) -> Iterator[Served]:
    if request.param == "one server":
        with running_server() as running:
            yield Served(running.target)
    else:
        with make_serve_cluster() as (served, _log):
            yield served


def test_make_serve_cluster_drains_and_stops_every_shard_and_envoy_on_sigterm() -> None:
    with make_serve_cluster(shards=2) as (served, log):
        port = int(served.target.rsplit(":", 1)[1])
        ports = [port, port + 1, port + 2]
        assert all(is_listening("127.0.0.1", p) for p in ports)
    # The block's end sent SIGTERM to the group and waited for make to end.
    deadline = time.monotonic() + 30
    while any(is_listening("127.0.0.1", p) for p in ports):
        assert time.monotonic() < deadline, "a shard or Envoy still listens"
        time.sleep(0.2)
    text = "".join(log)
    assert text.count("draining: health is NOT_SERVING") == 2
    assert text.count("median_server.server: stopped") == 2


def test_readme_python_example_prints_what_its_comments_say(server: Served) -> None:
    (example,) = blocks("python")
    result = subprocess.run(
        [sys.executable, "-c", example.replace(DOCUMENTED_ADDRESS, server.target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["10000 5000.5", "10001 5000.0", "10003 5001.0"]
    assert lines[3].startswith("NOT_FOUND: session ")


def test_readme_grpcurl_session_works_as_written(server: Served) -> None:
    if not GRPCURL.exists():
        message = "grpcurl is not installed: `make grpcurl` installs it (needs Go)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    (session,) = [block for block in blocks("sh") if "grpcurl" in block]
    commands = [line for line in session.splitlines() if line.startswith("tools/bin/grpcurl")]
    outputs = []
    for line in commands:
        argv = shlex.split(line.replace(DOCUMENTED_ADDRESS, server.target))
        result = subprocess.run(
            [str(ROOT / argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        outputs.append((line, result))
    for line, result in outputs:
        if '"NaN"' in line:
            assert result.returncode != 0
            assert "InvalidArgument" in result.stderr
            assert "google.rpc.BadRequest" in result.stderr
        else:
            assert result.returncode == 0, f"{line}\n{result.stderr}"
    by_method = {
        line.rsplit(" ", 1)[1]: result.stdout for line, result in outputs if '"NaN"' not in line
    }
    assert "median.v1.MedianService" in by_method["list"]
    assert '"median": 3' in by_method["median.v1.MedianService/AddNumbers"]
    running = by_method["median.v1.MedianService/RunningMedian"]
    assert '"median": 3.5' in running
    assert '"median": 4.5' in running
    assert '"status": "SERVING"' in by_method["grpc.health.v1.Health/Check"]
    assert '"session_id": "demo"' in by_method["median.v1.MedianService/ListSessions"]
