"""The benchmarks run end to end at their smallest size against the real server (started by
its CLI, as `python -m bench` does) and the minimal yardstick server, and report every number
the table needs. Speed is never asserted: only the shape of the results."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import fanout, memory, receipt, report
from bench.common import MINIMAL, OURS, STARTERS, Target, machine_facts, raise_fd_limit

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Target]]:
    raise_fd_limit()
    workdir = tmp_path_factory.mktemp("bench")
    started = {name: start(workdir) for name, start in STARTERS.items()}
    yield started
    for target in started.values():
        target.stop()


def test_receipt_benchmark_reports_percentiles_and_ratios_for_both_client_stacks(
    targets: dict[str, Target],
) -> None:
    config = receipt.ReceiptConfig(rounds=2, raw_samples=5, pysher_samples=3, warmup=2)
    result = receipt.run(targets, config)
    assert set(result["results"]) == {"websocket-client", "pysher"}
    for measured in result["results"].values():
        for name in (OURS, MINIMAL):
            assert measured[name]["p50_us"] > 0
            assert len(measured[name]["p99_us_rounds"]) == 2
        assert measured["p50_ratio_ours_to_minimal"] > 0


def test_fanout_benchmark_counts_every_delivery_on_both_servers(
    targets: dict[str, Target],
) -> None:
    config = fanout.FanoutConfig(subscribers=20, processes=2, publishes=5, window=2, rounds=1)
    result = fanout.run(targets, config)
    for name in (OURS, MINIMAL):
        assert result["results"][name]["deliveries_per_second"] > 0
        assert result["results"][name]["server_cpu_share"] >= 0
    assert result["results"]["ratio_ours_to_minimal"] > 0


def test_memory_benchmark_reports_kilobytes_per_connection_from_fresh_servers(
    tmp_path: Path,
) -> None:
    result = memory.run(STARTERS, tmp_path, memory.MemoryConfig(connections=50, rounds=1))
    for name in (OURS, MINIMAL):
        assert len(result["results"][name]["rounds"]) == 1
        assert "kb_per_connection" in result["results"][name]
    assert "ratio_ours_to_minimal" in result["results"]


def test_report_renders_a_row_per_measure_and_keeps_the_prose_around_the_markers(
    tmp_path: Path,
) -> None:
    fake_fanout = fanout.summarise(
        {OURS: [_fanout_round(120_000.0)], MINIMAL: [_fanout_round(150_000.0)]},
        fanout.FanoutConfig(rounds=1),
    )
    header = report.context("python -m bench", "uvloop", False, machine_facts())
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nprose before\n\nprose after\n")
    report.write_doc(report.block([fake_fanout], header), doc)
    report.write_doc(report.block([fake_fanout], header), doc)
    text = doc.read_text()
    assert text.count(report.BEGIN) == 1
    assert "prose before" in text and "prose after" in text
    assert (
        "| fan-out deliveries/s, 1,000 subscribers, REST publishes | 120,000 | 150,000 | 0.80"
        in text
    )


def _fanout_round(rate: float) -> dict[str, float]:
    return {
        "deliveries_per_second": rate,
        "publishes_per_second": rate / 1000,
        "elapsed_seconds": 1.0,
        "post_seconds": 1.0,
        "server_cpu_share": 1.0,
        "others_on_server_core_share": 0.0,
    }
