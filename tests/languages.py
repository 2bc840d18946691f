"""The six languages' command-line clients, for the tests that drive them all.

A language whose toolchain is missing is skipped with what to install; with CI=true a skip is a
failure, so CI proves all six. `MEDIAN_TEST_LANGUAGES=python,go` narrows a developer's run to
some languages (refused with CI=true).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import ROOT

IN_CI = os.environ.get("CI", "").lower() == "true"
CLIENT_TIMEOUT = 120  # seconds any one run of a command-line client may take


@dataclass(frozen=True)
class Language:
    name: str
    tools: tuple[str, ...]
    install_hint: str

    def missing_tools(self) -> list[str]:
        return [tool for tool in self.tools if shutil.which(tool) is None]


LANGUAGES = [
    Language("python", (), ""),
    Language("go", ("go",), "install Go 1.25 or newer"),
    Language("java", ("java", "mvn"), "install a JDK 17 and Maven 3.8"),
    Language("typescript", ("node", "npm"), "install Node.js 20 with npm"),
    Language(
        "cpp",
        ("cmake", "g++", "grpc_cpp_plugin"),
        "apt-get install cmake g++ protobuf-compiler protobuf-compiler-grpc libgrpc++-dev",
    ),
    Language("rust", ("cargo",), "install Rust with rustup"),
]
LANGUAGE_IDS = [language.name for language in LANGUAGES]


def _chosen() -> set[str] | None:
    value = os.environ.get("MEDIAN_TEST_LANGUAGES", "").strip()
    return {name.strip() for name in value.split(",") if name.strip()} if value else None


def languages_narrowed() -> bool:
    """Whether MEDIAN_TEST_LANGUAGES narrows this run to some languages."""
    return _chosen() is not None


def require(language: Language) -> None:
    """Skips (or, with CI=true, fails) a test of a language that cannot run here."""
    chosen = _chosen()
    if chosen is not None and language.name not in chosen:
        if IN_CI:
            pytest.fail("MEDIAN_TEST_LANGUAGES narrows the languages; CI runs all six")
        pytest.skip(f"{language.name}: not in MEDIAN_TEST_LANGUAGES")
    missing = language.missing_tools()
    if missing:
        message = (
            f"{language.name} skipped: {', '.join(missing)} not found; {language.install_hint}"
        )
        if IN_CI:
            pytest.fail(f"{message} (CI=true: every language must run)")
        pytest.skip(message)


def client_command(language: Language) -> Path:
    """`clients/<language>/run`, once the language can run here."""
    require(language)
    launcher = ROOT / "clients" / language.name / "run"
    assert launcher.is_file(), f"{launcher} is missing: `make clients-{language.name}` builds it"
    return launcher


def runnable_languages() -> list[Language]:
    """The languages a test that mixes several runs with (all six in CI)."""
    chosen = _chosen()
    if chosen is not None and IN_CI:
        pytest.fail("MEDIAN_TEST_LANGUAGES narrows the languages; CI runs all six")
    result = []
    for language in LANGUAGES:
        if chosen is not None and language.name not in chosen:
            continue
        client_command(language)  # skips or fails the whole test when one cannot run
        result.append(language)
    return result


def client_env(changes: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """This process's environment with `changes` (None removes a variable), and never a
    MEDIAN_TOKEN the developer's shell had set unless `changes` gives one."""
    env = {key: value for key, value in os.environ.items() if key != "MEDIAN_TOKEN"}
    for key, value in (changes or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_client(
    launcher: Path,
    args: Sequence[str],
    stdin: str,
    env: Mapping[str, str | None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs one client to its end (at most CLIENT_TIMEOUT seconds; a client that hangs fails
    the test with whatever it had printed)."""
    try:
        return subprocess.run(
            [str(launcher), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
            check=False,
            env=client_env(env),
        )
    except subprocess.TimeoutExpired as expired:
        pytest.fail(
            f"{[str(launcher), *args]} did not finish within {CLIENT_TIMEOUT} s\n"
            f"stdout:\n{_text(expired.stdout)}\nstderr:\n{_text(expired.stderr)}"
        )


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def as_bits(text: str) -> bytes:
    return struct.pack("<d", float(text))


def parse_line(line: str) -> tuple[int, bytes | None]:
    """`count=N median=M` as (N, bits of M); `count=0` as (0, None)."""
    fields = dict(part.split("=", 1) for part in line.split())
    assert set(fields) <= {"count", "median"}, line
    median = fields.get("median")
    return int(fields["count"]), None if median is None else as_bits(median)
