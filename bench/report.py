"""Results to files: one JSON per benchmark, and the markdown table printed and written into
docs/performance.md between its markers (the prose around them is kept as written)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import MINIMAL, OURS, ROOT

DOC = ROOT / "docs" / "performance.md"
BEGIN = "<!-- bench:begin (written by `python -m bench`; edit outside the markers) -->"
END = "<!-- bench:end -->"


def write_json(result: dict[str, Any], directory: Path, context: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result['benchmark']}.json"
    path.write_text(json.dumps({**context, **result}, indent=2) + "\n")
    return path


def context(command: str, loop: str, quick: bool, machine: dict[str, Any]) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return {
        "date": now.isoformat(),
        "command": command,
        "loop": loop,
        "quick": quick,
        "machine": machine,
    }


# --- the table ----------------------------------------------------------------------------


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _verdict(met: bool | None, note: str) -> str:
    if met is None:
        return "-"
    return f"met ({note})" if met else f"**missed** ({note})"


Row = tuple[str, str, str, str, str, str]


def _receipt_rows(result: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    target = result["target_p50_ratio"]
    for stack, measured in result["results"].items():
        ours, minimal = measured.get(OURS, {}), measured.get(MINIMAL, {})
        ratio = measured.get("p50_ratio_ours_to_minimal")
        met = None if ratio is None else ratio <= target
        rows.append(
            (
                f"receipt round trip p50, {stack} (µs)",
                _num(ours.get("p50_us")),
                _num(minimal.get("p50_us")),
                _num(ratio, 2),
                f"ratio ≤ {target}",
                _verdict(met, f"{(ratio or 0) / target - 1:+.0%} vs target"),
            )
        )
        p99 = measured.get("p99_ratio_ours_to_minimal")
        rows.append(
            (
                f"receipt round trip p99, {stack} (µs)",
                _num(ours.get("p99_us")),
                _num(minimal.get("p99_us")),
                _num(p99, 2),
                "-",
                "-",
            )
        )
        if stack == "websocket-client":  # the server's cost does not depend on the client
            rows.append(
                (
                    "server CPU per receipt round trip (µs; two relays)",
                    _num(ours.get("server_cpu_us_per_trip")),
                    _num(minimal.get("server_cpu_us_per_trip")),
                    _num(measured.get("cpu_ratio_ours_to_minimal"), 2),
                    "-",
                    "-",
                )
            )
    return rows


def _fanout_rows(result: dict[str, Any]) -> list[Row]:
    measured = result["results"]
    ours, minimal = measured.get(OURS, {}), measured.get(MINIMAL, {})
    subscribers = result["config"]["subscribers"]
    target = result["target_deliveries_per_second"]
    rate = ours.get("deliveries_per_second")
    met = None if rate is None else rate >= target
    return [
        (
            f"fan-out deliveries/s, {subscribers:,} subscribers, REST publishes",
            _num(rate),
            _num(minimal.get("deliveries_per_second")),
            _num(measured.get("ratio_ours_to_minimal"), 2),
            f"≥ {target:,}",
            _verdict(met, f"{(rate or 0) / target - 1:+.0%} vs target"),
        ),
        (
            "server CPU share during fan-out",
            _percent(ours.get("server_cpu_share")),
            _percent(minimal.get("server_cpu_share")),
            "-",
            "-",
            "-",
        ),
        (
            "other processes' share of the server's core during fan-out (noise)",
            _percent(ours.get("others_on_server_core_share")),
            _percent(minimal.get("others_on_server_core_share")),
            "-",
            "-",
            "-",
        ),
    ]


def _loads(loads: object) -> str:
    return "-" if not isinstance(loads, list | tuple) else " ".join(f"{x:.1f}" for x in loads)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _memory_rows(result: dict[str, Any]) -> list[Row]:
    measured = result["results"]
    ours, minimal = measured.get(OURS, {}), measured.get(MINIMAL, {})
    connections = result["config"]["connections"]
    target = result["target_kb_per_connection"]
    kb = ours.get("kb_per_connection")
    met = None if kb is None else kb <= target
    return [
        (
            f"memory per idle subscribed connection, {connections:,} connections (KB)",
            _num(kb, 1),
            _num(minimal.get("kb_per_connection"), 1),
            _num(measured.get("ratio_ours_to_minimal"), 2),
            f"≤ {target:g} KB",
            _verdict(met, f"{(kb or 0) / target - 1:+.0%} vs target"),
        )
    ]


_ROWS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "receipt": _receipt_rows,
    "fanout": _fanout_rows,
    "memory": _memory_rows,
}


def table(results: list[dict[str, Any]]) -> str:
    header = ("measure", "ours", "minimal aiohttp", "ours/minimal", "target", "verdict")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for result in results:
        for row in _ROWS[result["benchmark"]](result):
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def hot_spots(profile: dict[str, Any], top: int = 6) -> str:
    """Our server's top functions by self time under each load (py-spy samples)."""
    lines = ["| load | share of busy samples | function (file:line) |", "|---|---|---|"]
    for load in ("fanout", "receipt"):
        folded = profile.get(load, {})
        for frame, share in folded.get("self", [])[:top]:
            lines.append(f"| {load} | {share:.1%} | `{frame}` |")
    return "\n".join(lines)


def block(
    results: list[dict[str, Any]], header: dict[str, Any], profile: dict[str, Any] | None = None
) -> str:
    """The generated part of docs/performance.md: how it was run, the table, hot spots."""
    machine = header["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    return "\n".join(
        [
            BEGIN,
            f"Measured {header['date']} with `{header['command']}` "
            f"({'quick' if header['quick'] else 'full'} run, event loop {header['loop']}).",
            f"Machine: {machine['cpu_count']} × {machine['cpu_model']}, Linux "
            f"{machine['kernel']}, Python {machine['python']}; {versions}. "
            f"Server pinned to core {machine['server_core']}, clients to core "
            f"{machine['load_core']}. Medians over interleaved rounds; per-round ratios. "
            f"Load average before/after: {_loads(machine['load_average'])} / "
            f"{_loads(header.get('load_average_after'))}.",
            "",
            table(results),
            *_hot_spot_lines(profile),
            END,
        ]
    )


def _hot_spot_lines(profile: dict[str, Any] | None) -> list[str]:
    if not profile or "skipped" in profile:
        return []
    title = "Where our server's core goes (py-spy, self time, event-loop waits excluded):"
    return ["", title, "", hot_spots(profile)]


def write_doc(generated: str, path: Path = DOC) -> None:
    """Replace the text between the markers (or append it) keeping everything else."""
    text = path.read_text() if path.exists() else "# Performance\n\n"
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        text = before + generated + after
    else:
        text = text.rstrip("\n") + "\n\n" + generated + "\n"
    path.write_text(text)
