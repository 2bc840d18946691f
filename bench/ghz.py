"""`ghz`, the Go load-testing tool, against GetMedian: an outside client's view of the server.

ghz is installed with `go install` at a pinned version into `tools/bin`. The full bench installs
it when it is missing and Go is present; the quick bench only uses it when it is already there.
Without it, the ghz column is skipped with a message that says why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GHZ_MODULE = "github.com/bojand/ghz"
GHZ_VERSION = "v0.120.0"
GHZ = ROOT / "tools" / "bin" / "ghz"
PROTO_ROOT = ROOT / "protos"
PROTO = "median/v1/median.proto"
INSTALL_TIMEOUT = 900.0  # seconds; the first install downloads and builds ghz's dependencies


class GhzUnavailableError(RuntimeError):
    """ghz is not installed and cannot be; the message says why."""


def _installed_version(go: str) -> str:
    """The module version `go version -m` reads from the binary ("" when it cannot)."""
    try:
        listing = subprocess.run(
            [go, "version", "-m", str(GHZ)], capture_output=True, text=True, timeout=60, check=True
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return ""
    for line in listing.splitlines():
        fields = line.split()
        if fields[:2] == ["mod", GHZ_MODULE] and len(fields) > 2:
            return fields[2]
    return ""


def ensure_ghz(install: bool) -> Path:
    """The path of ghz at the pinned version, installing it first when `install` is set."""
    go = shutil.which("go")
    if GHZ.exists() and (go is None or _installed_version(go) == GHZ_VERSION):
        return GHZ
    if go is None:
        raise GhzUnavailableError(
            "ghz is not installed and Go is missing to install it; the ghz column is skipped"
        )
    if not install:
        raise GhzUnavailableError(
            f"ghz {GHZ_VERSION} is not in tools/bin; `make bench` installs it "
            "(the quick bench does not, to stay quick); the ghz column is skipped"
        )
    print(f"installing ghz {GHZ_VERSION} into tools/bin with go install ...", flush=True)
    environment = {**os.environ, "GOBIN": str(GHZ.parent)}
    try:
        subprocess.run(
            [go, "install", f"{GHZ_MODULE}/cmd/ghz@{GHZ_VERSION}"],
            env=environment,
            check=True,
            timeout=INSTALL_TIMEOUT,
        )
    except (subprocess.SubprocessError, OSError) as error:
        raise GhzUnavailableError(
            f"go install of ghz failed ({error}); the ghz column is skipped"
        ) from None
    return GHZ


@dataclass(frozen=True)
class GhzResult:
    """What ghz reports for one run: rate and latency percentiles in milliseconds."""

    per_second: float
    p50_ms: float
    p99_ms: float
    calls: int
    errors: int

    def as_dict(self) -> dict[str, float]:
        return {
            "per_second": self.per_second,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "calls": self.calls,
        }


def run_ghz(
    ghz: Path, target: str, session_id: str, concurrency: int, calls: int, timeout: float
) -> GhzResult:
    """`calls` GetMedian calls from ghz with `concurrency` workers on one connection."""
    command = [
        str(ghz),
        "--insecure",
        "--import-paths", str(PROTO_ROOT),
        "--proto", PROTO,
        "--call", "median.v1.MedianService/GetMedian",
        "--data", json.dumps({"session_id": session_id}),
        "--concurrency", str(concurrency),
        "--total", str(calls),
        "--timeout", "20s",
        "--format", "json",
        target,
    ]  # fmt: skip
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT
    )
    if completed.returncode != 0 or not completed.stdout.strip():
        raise RuntimeError(f"ghz failed ({completed.returncode}): {completed.stderr.strip()}")
    report: dict[str, Any] = json.loads(completed.stdout)
    percentiles = {
        int(entry["percentage"]): float(entry["latency"]) / 1e6
        for entry in report.get("latencyDistribution") or ()
    }
    errors = int(sum((report.get("statusCodeDistribution") or {}).values())) - int(
        (report.get("statusCodeDistribution") or {}).get("OK", 0)
    )
    if errors:
        raise RuntimeError(f"ghz saw {errors} failed calls: {report.get('errorDistribution')}")
    return GhzResult(
        per_second=float(report["rps"]),
        p50_ms=percentiles[50],
        p99_ms=percentiles[99],
        calls=int(report["count"]),
        errors=errors,
    )
