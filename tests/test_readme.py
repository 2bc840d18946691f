"""The README's examples work when pasted: its Python and grpcurl blocks, against a real server."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.servers import ROOT, RunningServer, running_server

README = (ROOT / "README.md").read_text()
DOCUMENTED_ADDRESS = "127.0.0.1:50051"
GRPCURL = ROOT / "tools" / "bin" / "grpcurl"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with running_server() as running:
        yield running


def test_readme_python_example_prints_what_its_comments_say(server: RunningServer) -> None:
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


def test_readme_grpcurl_session_works_as_written(server: RunningServer) -> None:
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
