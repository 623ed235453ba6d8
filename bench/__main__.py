"""`python -m bench`: run the benchmarks side by side against our server and the minimal one.

python -m bench                      # everything, full size (~5 min), updates the docs
python -m bench --quick              # smoke run, < 60 s, results under bench/results/quick
python -m bench --only fanout,memory --rounds 3
python -m bench --profile            # also py-spy our server under fan-out and receipts
"""

from __future__ import annotations

import argparse
import functools
import os
import shlex
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import fanout, memory, receipt, report
from bench.common import (
    LOAD_CORE,
    MINIMAL,
    OURS,
    ROOT,
    STARTERS,
    Target,
    machine_facts,
    pin_to,
    raise_fd_limit,
)

BENCHMARKS = ("receipt", "fanout", "memory")
RESULTS = ROOT / "bench" / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset")
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds (< 60 s)")
    parser.add_argument("--rounds", type=int, help="rounds per benchmark (default 7, memory 3)")
    parser.add_argument("--connections", type=int, help="memory: idle connections (10,000)")
    parser.add_argument("--subscribers", type=int, help="fan-out: subscribers (1,000)")
    parser.add_argument("--targets", default=f"{OURS},{MINIMAL}", help="servers to compare")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--out", type=Path, help="results folder (bench/results[/quick])")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/performance.md")
    parser.add_argument("--profile", action="store_true", help="py-spy our server (slower)")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    return args


def configs(args: argparse.Namespace) -> dict[str, Any]:
    """Sizes per benchmark: full, quick, then the explicit overrides."""
    chosen: dict[str, Any] = {
        "receipt": receipt.ReceiptConfig(),
        "fanout": fanout.FanoutConfig(),
        "memory": memory.MemoryConfig(),
    }
    if args.quick:
        chosen["receipt"] = receipt.ReceiptConfig(
            rounds=3, raw_samples=100, pysher_samples=40, warmup=10
        )
        chosen["fanout"] = fanout.FanoutConfig(rounds=3, publishes=50)
        chosen["memory"] = memory.MemoryConfig(connections=2_000, rounds=1)
    if args.rounds is not None:
        chosen = {name: replace(config, rounds=args.rounds) for name, config in chosen.items()}
    if args.connections is not None:
        chosen["memory"] = replace(chosen["memory"], connections=args.connections)
    if args.subscribers is not None:
        chosen["fanout"] = replace(chosen["fanout"], subscribers=args.subscribers)
    return chosen


def run_benchmarks(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    names = [n for n in BENCHMARKS if n in args.only.split(",")]
    sizes = configs(args)
    starters = {
        name: functools.partial(STARTERS[name], loop=args.loop) for name in args.targets.split(",")
    }
    results: list[dict[str, Any]] = []
    live = [n for n in names if n != "memory"]
    if live:
        targets: dict[str, Target] = {}
        try:
            for name, start in starters.items():
                targets[name] = start(workdir)
            for name in live:
                print(f"running {name} ...", file=sys.stderr, flush=True)
                module = receipt if name == "receipt" else fanout
                results.append(module.run(targets, sizes[name]))
            if args.profile and OURS in targets:
                from bench import profile

                results.append(profile.run(targets[OURS], workdir))
        finally:
            for target in targets.values():
                target.stop()
    if "memory" in names:
        print("running memory ...", file=sys.stderr, flush=True)
        results.append(memory.run(starters, workdir, sizes["memory"]))
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pin_to(LOAD_CORE)
    raise_fd_limit()
    command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    header = report.context(command.strip(), args.loop, args.quick, machine_facts())
    out = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    with tempfile.TemporaryDirectory(prefix="doubletick-bench-") as workdir:
        results = run_benchmarks(args, Path(workdir))
    header["load_average_after"] = os.getloadavg()  # a busy box shows here
    for result in results:
        print(f"wrote {report.write_json(result, out, header)}", file=sys.stderr)
    measured = [r for r in results if r["benchmark"] in BENCHMARKS]
    profiled = next((r for r in results if r["benchmark"] == "profile"), None)
    generated = report.block(measured, header, profiled)
    print(generated)
    if not args.no_docs and not args.quick:
        report.write_doc(generated)
        print(f"updated {report.DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
