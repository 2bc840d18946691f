"""The bench's output: one table, the targets with their verdicts, the markdown page and its plot.

Everything here reads the results dictionary that `bench.run` also writes as JSON, so that the
table, the JSON and `docs/benchmarks.md` always show the same run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COLUMNS = ("ours", "classic", "floor", "redis")
HEADER = ("measurement", "ours", "classic", "floor", "Redis", "ours vs")
PLOT_NAME = "benchmarks.png"


def git_state(root: Path) -> str:
    """The commit measured, marked "+changes" when the server's files differ from it."""
    git = shutil.which("git")
    if git is None:
        return "unknown"
    try:
        commit = subprocess.run(
            [git, "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            [git, "status", "--porcelain", "--", "server"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError):
        return "unknown"
    return f"{commit}+changes" if changed else commit


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def rate(value: float | None) -> str:
    """A rate in compact form: 1.23 M, 845 k, 8.4 k, 950."""
    if value is None:
        return "-"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e4:
        return f"{value / 1e3:.0f} k"
    if value >= 1e3:
        return f"{value / 1e3:.1f} k"
    return f"{value:.0f}"


def millis(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def power_of_ten(value: int) -> str:
    exponent = len(str(value)) - 1
    return f"10^{exponent}" if value == 10**exponent else f"{value:,}"


def ratio(ours: float, other: float | None, name: str) -> str:
    if not other:
        return ""
    value = ours / other
    if value < 1:
        return f"{value:.0%} of {name}"
    return f"{value:.1f}x {name}"


def rates_line(row: dict[str, Any]) -> str:
    """A one-line progress summary of a row's columns."""
    parts = []
    for name in COLUMNS:
        value = row.get(name)
        if isinstance(value, dict):
            value = value.get("per_second")
        if isinstance(value, float):
            parts.append(f"{name} {rate(value)}/s")
    return ", ".join(parts)


def _ratios(row: dict[str, Any], names: tuple[str, ...]) -> str:
    ours = row["ours"]
    return ", ".join(text for name in names if (text := ratio(ours, row.get(name), _label(name))))


def _label(name: str) -> str:
    return "Redis" if name == "redis" else name


def _latency(entry: dict[str, float] | None) -> str:
    if not entry:
        return "-"
    return f"{rate(entry['per_second'])}/s, {millis(entry['p50_ms'])}/{millis(entry['p99_ms'])} ms"


def _rate_row(row: dict[str, Any]) -> tuple[str, ...]:
    return (
        f"batch {row['batch']:,}",
        *(rate(row.get(name)) for name in COLUMNS),
        _ratios(row, ("classic", "floor", "redis")),
    )


def rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    """The table's rows; a row with one cell is a section heading."""
    table: list[tuple[str, ...]] = []

    table.append(("In process: numbers/s, MedianFinder batch path vs the classic addNum loop",))
    table.extend(
        (
            f"{row['order']}, batch {row['batch']:,}",
            rate(row["ours"]),
            rate(row["classic"]),
            "",
            "",
            _ratios(row, ("classic",)),
        )
        for row in results["in_process"]["rows"]
    )

    table.append(("AddNumbers end to end: numbers/s (one stream, client in another process)",))
    table.extend(_rate_row(row) for row in results["add_numbers"]["rows"])

    table.append(("RunningMedian: round trips/s (write a request, read its answer)",))
    table.extend(_rate_row(row) for row in results["running_median"]["rows"])

    get_median = results["get_median"]
    table.append(("GetMedian: queries/s, p50/p99 latency (floor: the empty unary call)",))
    for row in get_median["rows"]:
        clients = row["clients"]
        table.append(
            (
                f"{clients} client{'s' if clients > 1 else ''}",
                _latency(row["ours"]),
                "",
                _latency(row["floor"]),
                _latency(row.get("redis")),
                ratio(
                    row["ours"]["per_second"],
                    row["floor"]["per_second"],
                    "floor",
                ),
            )
        )
    under = get_median["under_ingest"]
    table.append(
        (
            f"1 client, while another ingests batches of {under['batch']:,}",
            f"p50 {millis(under['p50_ms'])}, p99 {millis(under['p99_ms'])}, "
            f"max {millis(under['max_ms'])} ms",
            "",
            "",
            "",
            f"ingest {rate(under['ingest_per_second'])} numbers/s; longest server loop "
            f"stall {millis(under['server_loop_stall_ms'])} ms, server CPU meanwhile "
            f"{millis(under['server_cpu_during_stall_ms'])} ms; max of each round: "
            + ", ".join(millis(found["max_ms"]) for found in under["rounds"])
            + " ms",
        )
    )

    if "ghz" in results:
        found = results["ghz"]
        table.append((f"ghz {found['version']}, GetMedian, {found['concurrency']} workers",))
        table.append(
            (
                "queries/s, p50/p99",
                _latency(found["ours"]),
                "",
                _latency(found["floor"]),
                "",
                ratio(found["ours"]["per_second"], found["floor"]["per_second"], "floor"),
            )
        )

    growth = results["growth"]
    table.append((f"Growth of one session: numbers/s (pipelined batches of {growth['batch']:,})",))
    first = growth["points"][0]["per_second"]
    table.extend(
        (
            f"{power_of_ten(point['from'])} -> {power_of_ten(point['to'])} numbers",
            rate(point["per_second"]),
            "",
            "",
            "",
            f"{point['per_second'] / first:.0%} of the first",
        )
        for point in growth["points"]
    )
    table.append(
        (
            f"memory, bytes per number, one session of {power_of_ten(growth['stored_numbers'])}",
            f"{growth['bytes_per_number']:.1f}",
            "",
            "",
            f"{growth['redis_bytes_per_number']:.1f}" if "redis_numbers" in growth else "-",
            (
                f"Redis at {power_of_ten(growth['redis_numbers'])}"
                if "redis_numbers" in growth
                else ""
            ),
        )
    )

    table.append(
        (
            f"one full garbage collection at {power_of_ten(growth['stored_numbers'])}",
            f"{millis(growth['full_gc_ms'])} ms",
            "",
            "",
            "",
            "on the event loop's thread: no call is answered meanwhile",
        )
    )

    memory = results["memory"]
    table.append(
        (
            f"memory, bytes per number, {memory['sessions']:,} sessions of "
            f"{power_of_ten(memory['numbers_each'])} "
            f"({power_of_ten(memory['stored_numbers'])} numbers)",
            f"{memory['bytes_per_number']:.1f}",
            "",
            "",
            "",
            f"filled at {rate(memory['ingest_per_second'])} numbers/s, "
            f"one AddNumbers stream of {memory['batch']:,}-number requests per session",
        )
    )

    sessions = results["sessions"]
    probe = sessions["store_create_probe"]
    table.append(
        (
            f"{sessions['sessions']:,} sessions of {sessions['numbers_each']} numbers "
            "(server with --session-ttl 0)",
        )
    )
    table.append(("CreateSession/s (32 in flight)", rate(sessions["create_per_second"]), "", ""))
    table.append(("AddNumbers of 100 numbers/s (32 in flight)", rate(sessions["fill_per_second"])))
    table.append(("bytes per empty session", f"{sessions['bytes_per_empty_session']:,.0f}"))
    table.append(("bytes per session of 100 numbers", f"{sessions['bytes_per_session']:,.0f}"))
    table.append(
        (
            f"SessionStore.create/s at {probe['many_sessions']:,} sessions, default TTL",
            rate(probe["at_many_sessions"]),
            "",
            "",
            "",
            f"at 1,000: {rate(probe['at_1000_sessions'])}/s; "
            f"TTL off: {rate(probe['at_many_sessions_ttl_off'])}/s",
        )
    )

    found = results["read_back"]
    table.append(("Read-back of a data folder (open, read every row, check, build the finder)",))
    table.append(
        (
            f"{power_of_ten(found['numbers'])} numbers in {found['rows']:,} rows",
            f"{found['seconds']:.2f} s",
            "",
            "",
            "",
            f"{rate(found['numbers_per_second'])} numbers/s, "
            f"{found['file_bytes'] / found['seconds'] / 1e6:.0f} MB/s of database file",
        )
    )
    return table


def _render_text(table: list[tuple[str, ...]]) -> str:
    width = [max(len(row[i]) for row in [HEADER, *table] if len(row) > 1 and i < len(row))
             for i in range(len(HEADER))]  # fmt: skip
    lines = ["  ".join(cell.ljust(width[i]) for i, cell in enumerate(HEADER)).rstrip()]
    for row in table:
        if len(row) == 1:
            lines.append(row[0])
            continue
        cells = [*row, *[""] * (len(HEADER) - len(row))]
        lines.append(
            "  ".join(
                (cell.ljust(width[i]) if i in (0, len(HEADER) - 1) else cell.rjust(width[i]))
                for i, cell in enumerate(cells)
            ).rstrip()
        )
    return "\n".join(lines)


def _render_markdown(table: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "| --- |" + " ---: |" * 4 + " --- |"]
    for row in table:
        if len(row) == 1:
            lines.append(f"| **{row[0]}** |" + " |" * (len(HEADER) - 1))
            continue
        cells = [*row, *[""] * (len(HEADER) - len(row))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


NOTES_PAGE = "performance-notes.md"


@dataclass(frozen=True)
class Target:
    """A target: what is compared, the bar, the figure when it was set, and where its shortfall
    is explained (a section of the hand-written notes page, so that no sentence here goes stale
    when the numbers move)."""

    key: str
    title: str
    before: str  # the figure when the target was set (issue 10's "today")
    bar: float
    unit: str  # "x" (times), "%" (fraction), "ms", "bytes", "M/s"
    higher_is_better: bool
    measured: Callable[[dict[str, Any]], float | None]
    detail: Callable[[dict[str, Any]], str]  # the run's own figures that bear on a shortfall
    anchor: str  # the section of the notes page

    @property
    def shown_bar(self) -> str:
        return ("≥ " if self.higher_is_better else "≤ ") + _show(self.bar, self.unit)


def _row(rows: list[dict[str, Any]], key: str, value: int) -> dict[str, Any]:
    return next(row for row in rows if row[key] == value)


def _in_process(results: dict[str, Any], order: str, batch: int) -> dict[str, Any]:
    rows = results["in_process"]["rows"]
    return next(row for row in rows if row["order"] == order and row["batch"] == batch)


def _add(results: dict[str, Any], batch: int) -> dict[str, Any]:
    return _row(results["add_numbers"]["rows"], "batch", batch)


def _query(results: dict[str, Any], clients: int) -> dict[str, Any]:
    return _row(results["get_median"]["rows"], "clients", clients)


def _ratio_or_none(row: dict[str, Any], name: str) -> float | None:
    other = row.get(name)
    return row["ours"] / other if other else None


def _in_process_detail(order: str, batch: int) -> Callable[[dict[str, Any]], str]:
    def detail(results: dict[str, Any]) -> str:
        row = _in_process(results, order, batch)
        return (
            f"ours {1e9 / row['ours']:.0f} ns per number, the classic loop "
            f"{1e9 / row['classic']:.0f} ns"
        )

    return detail


def _floor_detail(batch: int) -> Callable[[dict[str, Any]], str]:
    def detail(results: dict[str, Any]) -> str:
        cpu = _add(results, batch)["server_cpu_ns_per_number"]
        if "ours" not in cpu or "floor" not in cpu:
            return "the run was too short to read the servers' CPU time (10 ms ticks)"
        unit, scale = ("µs per message", 1e3) if batch == 1 else ("ns per number", 1.0)
        return (
            f"server CPU: ours {cpu['ours'] / scale:.1f} {unit}, "
            f"the floor {cpu['floor'] / scale:.1f}"
        )

    return detail


def _redis_detail(results: dict[str, Any]) -> str:
    row = _add(results, 1_000)
    return f"ours {rate(row['ours'])}/s, Redis {rate(row.get('redis'))}/s"


def _query_detail(clients: int) -> Callable[[dict[str, Any]], str]:
    def detail(results: dict[str, Any]) -> str:
        row = _query(results, clients)
        ours = row["ours"].get("server_cpu_us_per_call")
        floor = row["floor"].get("server_cpu_us_per_call")
        if not (ours and floor):
            return "the run was too short to read the servers' CPU time (10 ms ticks)"
        return f"server CPU per call: ours {ours:.0f} µs, the empty call {floor:.0f} µs"

    return detail


def _ingest_detail(results: dict[str, Any]) -> str:
    under = results["get_median"]["under_ingest"]
    text = (
        f"longest server loop stall {under['server_loop_stall_ms']:.1f} ms with "
        f"{under['server_cpu_during_stall_ms']:.1f} ms of server CPU meanwhile; "
        f"max of each round: {', '.join(millis(r['max_ms']) for r in under['rounds'])} ms"
    )
    if "longest_gc_ms" in under:
        text += f"; longest garbage collection {under['longest_gc_ms']:.1f} ms"
    return text


def _memory_detail(results: dict[str, Any]) -> str:
    memory = results["memory"]
    return (
        f"{memory['sessions']:,} sessions of {power_of_ten(memory['numbers_each'])}: "
        f"{memory['bytes_per_number']:.1f} bytes per number"
    )


def _read_back_detail(results: dict[str, Any]) -> str:
    found = results["read_back"]
    return (
        f"{power_of_ten(found['numbers'])} numbers in {found['rows']:,} rows "
        f"({found['file_bytes'] / 1e6:.0f} MB) in {found['seconds']:.2f} s"
    )


TARGETS = (
    Target(
        "in_process_10000_random",
        "in process, batch 10,000, random",
        "10.7x classic",
        50.0,
        "x",
        True,
        lambda r: _in_process(r, "random", 10_000)["ratio"],
        _in_process_detail("random", 10_000),
        "in-process",
    ),
    Target(
        "in_process_1000_random",
        "in process, batch 1,000, random",
        "9.3x classic",
        20.0,
        "x",
        True,
        lambda r: _in_process(r, "random", 1_000)["ratio"],
        _in_process_detail("random", 1_000),
        "in-process",
    ),
    Target(
        "in_process_1000_ascending",
        "in process, batch 1,000, ascending",
        "1.6-1.9x classic",
        5.0,
        "x",
        True,
        lambda r: _in_process(r, "ascending", 1_000)["ratio"],
        _in_process_detail("ascending", 1_000),
        "sorted-input",
    ),
    Target(
        "in_process_1000_descending",
        "in process, batch 1,000, descending",
        "1.6-1.9x classic",
        5.0,
        "x",
        True,
        lambda r: _in_process(r, "descending", 1_000)["ratio"],
        _in_process_detail("descending", 1_000),
        "sorted-input",
    ),
    Target(
        "add_numbers_10000_vs_floor",
        "AddNumbers end to end, batch 10,000, of the transport floor",
        "6%",
        0.40,
        "%",
        True,
        lambda r: _ratio_or_none(_add(r, 10_000), "floor"),
        _floor_detail(10_000),
        "end-to-end-batches",
    ),
    Target(
        "add_numbers_1000_vs_floor",
        "AddNumbers end to end, batch 1,000, of the transport floor",
        "24%",
        0.50,
        "%",
        True,
        lambda r: _ratio_or_none(_add(r, 1_000), "floor"),
        _floor_detail(1_000),
        "end-to-end-batches",
    ),
    Target(
        "add_numbers_1_vs_floor",
        "AddNumbers end to end, batch 1, of the transport floor",
        "74%",
        0.90,
        "%",
        True,
        lambda r: _ratio_or_none(_add(r, 1), "floor"),
        _floor_detail(1),
        "per-message-and-per-call",
    ),
    Target(
        "get_median_16_vs_empty",
        "GetMedian, 16 clients, of the empty unary call's queries/s",
        "76%",
        0.90,
        "%",
        True,
        lambda r: _query(r, 16)["ours"]["per_second"] / _query(r, 16)["floor"]["per_second"],
        _query_detail(16),
        "per-message-and-per-call",
    ),
    Target(
        "get_median_1_vs_empty",
        "GetMedian, 1 client, of the empty unary call's queries/s",
        "92%",
        0.90,
        "%",
        True,
        lambda r: _query(r, 1)["ours"]["per_second"] / _query(r, 1)["floor"]["per_second"],
        _query_detail(1),
        "per-message-and-per-call",
    ),
    Target(
        "memory_per_number",
        "memory per number, one session of 10^7",
        "41.9 bytes",
        10.0,
        "bytes",
        False,
        lambda r: r["growth"]["bytes_per_number"],
        _memory_detail,
        "memory",
    ),
    Target(
        "get_median_max_under_ingest",
        "GetMedian worst latency while another client ingests batches of 100,000",
        "45-114 ms",
        20.0,
        "ms",
        False,
        lambda r: r["get_median"]["under_ingest"]["max_ms"],
        _ingest_detail,
        "latency-under-ingest",
    ),
    Target(
        "read_back",
        "read-back of a data folder, numbers/s",
        "2 M numbers in 0.45 s",
        50e6,
        "M/s",
        True,
        lambda r: r["read_back"]["numbers_per_second"],
        _read_back_detail,
        "read-back",
    ),
    Target(
        "add_numbers_1000_vs_redis",
        "AddNumbers end to end, batch 1,000, against Redis",
        "25.2x Redis",
        10.0,
        "x",
        True,
        lambda r: _ratio_or_none(_add(r, 1_000), "redis"),
        _redis_detail,
        "redis",
    ),
)


def _show(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.1f}x"
    if unit == "%":
        return f"{value:.0%}"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "M/s":
        return f"{value / 1e6:.1f} M/s"
    return f"{value:.1f} bytes"


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its measured value and verdict; a skipped column is said so."""
    verdicts = []
    for target in TARGETS:
        value = target.measured(results)
        entry: dict[str, Any] = {
            "key": target.key,
            "title": target.title,
            "before": target.before,
            "bar": target.bar,
            "shown_bar": target.shown_bar,
            "anchor": target.anchor,
        }
        if value is None:
            entry.update(verdict="skipped", note="the baseline was not measured in this run")
        else:
            meets = value >= target.bar if target.higher_is_better else value <= target.bar
            entry.update(
                measured=value,
                shown=_show(value, target.unit),
                verdict="meets" if meets else "falls short",
                note=target.detail(results),
            )
        if target.key == "memory_per_number" and results["growth"]["stored_numbers"] < 10**7:
            entry["title"] = target.title.replace(
                "10^7", f"{power_of_ten(results['growth']['stored_numbers'])} (quick run)"
            )
        verdicts.append(entry)
    return verdicts


def _targets_text(results: dict[str, Any]) -> list[str]:
    lines = []
    for entry in results["targets"]:
        shown = entry.get("shown", "-")
        lines.append(f"  {entry['verdict']:<12} {entry['title']}: {shown} ({entry['shown_bar']})")
        if entry["note"]:
            lines.append(f"               {entry['note']}")
    return lines


def _targets_markdown(results: dict[str, Any]) -> list[str]:
    lines = [
        "| measure | at the start of issue 10 | target | measured | verdict | this run's figures |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for entry in results["targets"]:
        verdict = entry["verdict"]
        if verdict == "falls short":
            verdict = f"**falls short** ([why]({NOTES_PAGE}#{entry['anchor']}))"
        lines.append(
            f"| {entry['title']} | {entry['before']} | {entry['shown_bar']} | "
            f"{entry.get('shown', '-')} | {verdict} | {entry['note']} |"
        )
    return lines


def _title(results: dict[str, Any]) -> str:
    meta = results["meta"]
    return (
        f"median service benchmarks ({meta['mode']} run, {meta['cpus']} CPUs, "
        f"Python {meta['python']}, grpcio {meta['grpcio']}, "
        f"Redis {meta.get('redis', 'not run')})"
    )


def table(results: dict[str, Any]) -> str:
    """The whole printed report: title, table, skipped columns, targets."""
    lines = [_title(results), "", _render_text(rows(results)), ""]
    for name, reason in results["meta"]["skipped"].items():
        lines.append(f"skipped {name}: {reason}")
    lines.append("Targets")
    lines.extend(_targets_text(results))
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    """numbers/s against batch size and against session size, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_batch, by_size) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100)
    add_rows = results["add_numbers"]["rows"]
    batches = [row["batch"] for row in add_rows]
    styles = {"ours": "o-", "classic": "s-", "floor": "^--", "redis": "d-"}
    names = {"ours": "ours", "classic": "classic", "floor": "transport floor", "redis": "Redis"}
    for name in COLUMNS:
        values = [row.get(name) for row in add_rows]
        if all(values):
            by_batch.plot(batches, values, styles[name], label=f"AddNumbers, {names[name]}")
    in_process = [row for row in results["in_process"]["rows"] if row["order"] == "random"]
    for name, style in (("ours", "o:"), ("classic", "s:")):
        by_batch.plot(
            [row["batch"] for row in in_process],
            [row[name] for row in in_process],
            style,
            alpha=0.6,
            label=f"in process, {names[name]}",
        )
    by_batch.set(
        xscale="log",
        yscale="log",
        xlabel="batch size (numbers per request)",
        ylabel="numbers/s",
        title="numbers/s against batch size",
    )
    by_batch.grid(True, which="both", alpha=0.3)
    by_batch.legend(fontsize=8)

    growth = results["growth"]
    sizes = [point["to"] for point in growth["points"]]
    by_size.plot(sizes, [p["per_second"] for p in growth["points"]], "o-", label="ours")
    by_size.set(
        xscale="log",
        xlabel="session size at the end of each decade (numbers)",
        ylabel="numbers/s",
        title=f"one session growing, batches of {growth['batch']:,}",
        ylim=(0, max(p["per_second"] for p in growth["points"]) * 1.2),
    )
    by_size.grid(True, which="both", alpha=0.3)
    by_size.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        "# Benchmarks",
        "",
        "Made by `make bench` (this page, the plot and `bench/results/latest.json`); "
        "`make bench-quick` runs the same harness on small budgets. Do not edit by hand.",
        "",
        f"Run of {meta['started']} (commit {meta['commit']}) on {meta['cpus']} CPUs "
        f"({meta['machine']}), Python {meta['python']}, grpcio {meta['grpcio']}, "
        f"Redis {meta.get('redis', 'not run')}; the machine's load average was "
        f"{meta['load_average'][0]:.1f} at the start and {meta['load_average'][1]:.1f} at the "
        "end, from other work sharing it. Absolute figures drift by 20% or more between runs; "
        "every ratio compares figures measured in the same run, with the server and its "
        f"baselines measured in alternation, round after round ({meta['rounds']} "
        f"round{'s' if meta['rounds'] > 1 else ''}), each "
        "keeping its best round, since load from elsewhere only ever slows a measurement "
        "down. Under ingest, the worst round is shown and every round's maximum is listed: a "
        "pause of the server's own (a garbage collection) may fall into any round.",
        "",
        "Columns: **ours** is `median-server`; **classic** is the textbook per-number two-heap "
        "`addNum` (in process, and behind the same gRPC service as a bench-only servicer); "
        "**floor** is a servicer with the same messages that only counts the numbers it "
        "receives, i.e. what gRPC in Python allows here (for GetMedian: the empty unary call); "
        "**Redis** is an exact median on a sorted set (pipelined `ZADD` with unique members, a "
        "Lua script for the median in one round trip). Servers run in their own processes on "
        "127.0.0.1; the load comes from Python gRPC clients in another process.",
        "",
        _render_markdown(rows(results)),
        "",
    ]
    for name, reason in meta["skipped"].items():
        lines += [f"Skipped {name}: {reason}", ""]
    lines += ["## Targets", ""]
    lines += _targets_markdown(results)
    lines += [
        "",
        f"What the figures mean, why a target falls short and what would move it: [performance "
        f"notes]({NOTES_PAGE}) (written by hand; this page only reports).",
        "",
        f"![numbers/s against batch size and against session size]({PLOT_NAME})",
        "",
        "## Reproduce",
        "",
        "```sh",
        "make bench        # a few minutes; writes this page",
        "make bench-quick  # under a minute; writes bench/results/latest.json only",
        "```",
        "",
        "Redis comes from Debian's `redis-server` package and ghz from `go install` at a "
        "pinned version into `tools/bin`; without either, its column is skipped with a "
        "message.",
        "",
    ]
    return "\n".join(lines)


def write_docs(results: dict[str, Any], docs: Path) -> list[Path]:
    """Writes benchmarks.md and its plot into `docs`; returns the paths written."""
    docs.mkdir(parents=True, exist_ok=True)
    page, image = docs / "benchmarks.md", docs / PLOT_NAME
    plot(results, image)
    page.write_text(markdown(results))
    return [page, image]
