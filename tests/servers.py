"""Starts the real `median-server` as a child process on a free loopback port, for tests."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from deploy.cluster import free_ports

ROOT = Path(__file__).resolve().parent.parent
SERVER = Path(sys.executable).with_name("median-server")
LISTENING = re.compile(r"listening on (\S+):(\d+)")


@dataclass
class RunningServer:
    """A server process, the address it bound, and every line it has logged so far."""

    process: subprocess.Popen[str]
    target: str
    log: list[str] = field(default_factory=list)

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def log_text(self) -> str:
        return "\n".join(self.log)

    def wait_for_log(self, text: str, timeout: float = 10.0) -> bool:
        """Whether `text` appears in the log within `timeout` seconds (lines arrive on a thread)."""
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


def run_server_expecting_exit(*flags: str) -> tuple[int, str]:
    """Runs `median-server --port 0 FLAGS...` that should stop at start: its status and stderr."""
    result = subprocess.run(
        [str(SERVER), "--port", "0", *flags],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.returncode, result.stderr


@contextmanager
def running_server(
    *flags: str, env: dict[str, str] | None = None, port: int = 0
) -> Iterator[RunningServer]:
    """Runs `median-server --port PORT FLAGS...` (PORT 0: a free one) until the block ends, then
    stops it."""
    process = subprocess.Popen(
        [str(SERVER), "--port", str(port), *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stderr is not None
    log: list[str] = []
    target = ""
    for line in process.stderr:
        log.append(line.rstrip("\n"))
        if match := LISTENING.search(line):
            host = match.group(1)
            target = f"[{host}]:{match.group(2)}" if ":" in host else f"{host}:{match.group(2)}"
            break
    if not target:
        process.wait(timeout=10)
        raise RuntimeError("median-server exited before listening:\n" + "\n".join(log))
    server = RunningServer(process, target, log)
    stderr = process.stderr
    reader = threading.Thread(target=lambda: log.extend(line.rstrip("\n") for line in stderr))
    reader.start()
    try:
        yield server
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        reader.join(timeout=10)
        stderr.close()


class CrashingServer:
    """A `median-server --data-dir` on a fixed port that the test SIGKILLs and restarts."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_ports(1)[0]  # restarted on it: a port no connection can take meanwhile
        self.target = f"127.0.0.1:{self.port}"
        self.kills = 0
        self._stack = contextlib.ExitStack()
        self._server: RunningServer | None = None

    def __enter__(self) -> CrashingServer:
        self._start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        deadline = time.monotonic() + 30
        while True:  # the killed server's port may take a moment to be free again
            try:
                self._server = self._stack.enter_context(
                    running_server("--data-dir", str(self.data_dir), port=self.port)
                )
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILLs the server: no drain, nothing flushed but what was committed."""
        assert self._server is not None
        self._server.process.kill()
        assert self._server.process.wait(timeout=30) == -9
        self.kills += 1

    def restart(self) -> None:
        """Starts the server again on the same folder and port."""
        self._start()

    def kill_and_restart(self) -> None:
        self.kill()
        self.restart()
