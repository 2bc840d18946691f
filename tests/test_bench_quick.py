"""The quick benchmark runs end to end and reports a positive figure in every section.

It checks that the harness works, not how fast anything is: no assertion here is about speed.
A column whose tool is missing (Redis, ghz) must be declared skipped in the results' meta.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = (
    "in_process",
    "checks",
    "add_numbers",
    "running_median",
    "get_median",
    "growth",
    "sessions",
    "memory",
    "read_back",
    "targets",
)
OPTIONAL_SECTIONS = {"ghz": "ghz"}  # section: the name it is skipped under
REDIS_KEYS = {"redis", "redis_bytes_per_number", "redis_numbers"}
VERDICTS = {"meets", "falls short", "skipped"}


def _numbers(value: Any, path: str) -> Iterator[tuple[str, float]]:
    """Every number in a JSON value, with where it was found."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _numbers(item, f"{path}[{index}]")


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("bench") / "latest.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--results", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert "Targets" in completed.stdout, completed.stdout[-4000:]
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def test_quick_bench_reports_every_section(results: dict[str, Any]) -> None:
    skipped = results["meta"]["skipped"]
    assert results["meta"]["mode"] == "quick"
    missing = [name for name in SECTIONS if not results.get(name)]
    assert not missing, f"sections missing or empty: {missing}"
    for section, tool in OPTIONAL_SECTIONS.items():
        assert section in results or tool in skipped, f"{section} neither measured nor skipped"


def test_quick_bench_figures_are_all_positive(results: dict[str, Any]) -> None:
    measured = {name: results[name] for name in (*SECTIONS, *OPTIONAL_SECTIONS) if name in results}
    numbers = list(_numbers(measured, "results"))
    assert len(numbers) > 50
    not_positive = [(where, value) for where, value in numbers if not value > 0]
    assert not not_positive, f"figures that should be positive: {not_positive}"


def test_quick_bench_has_every_column_or_says_it_was_skipped(results: dict[str, Any]) -> None:
    rows = [
        *results["add_numbers"]["rows"],
        *results["running_median"]["rows"],
        *results["get_median"]["rows"],
    ]
    for row in rows:
        assert {"ours", "floor"} <= row.keys(), row
    if "redis" in results["meta"]["skipped"]:
        figures = {name: value for name, value in results.items() if name != "meta"}
        assert not REDIS_KEYS & set(_keys(figures)), "Redis was skipped but has figures"
    else:
        assert all("redis" in row for row in rows), "Redis ran but a row has no Redis figure"
        assert results["growth"]["redis_bytes_per_number"] > 0


def test_quick_bench_gives_every_target_a_verdict(results: dict[str, Any]) -> None:
    targets = results["targets"]
    assert len(targets) == 13
    for target in targets:
        assert target["verdict"] in VERDICTS, target
        if target["verdict"] == "falls short":
            assert target["note"], f"{target['title']} falls short without this run's figures"
            assert target["anchor"], f"{target['title']} falls short without a link to why"


def test_quick_cluster_bench_reports_every_setup_and_its_ratios() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.cluster", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads((ROOT / "bench" / "results" / "cluster.json").read_text())
    setups = {"one shard, direct", "one shard through Envoy", "two shards through Envoy"}
    for work in ("get_median", "add_numbers"):
        figures = document["results"][work]
        assert set(figures) == setups
        assert all(figure["per_second"] > 0 for figure in figures.values())
        assert all(figure["cpu"]["shards"] > 0 for figure in figures.values())
        assert set(document["ratios"][work]) == {"proxy_vs_direct", "two_vs_one_shard"}
    assert "two shards through Envoy" in result.stdout
