"""The delivery core is sans-I/O: only eventlog.py may touch files, and lazily."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import doubletick.delivery

PACKAGE = Path(doubletick.delivery.__file__).parent
IO_LIBRARIES = {
    "aiohttp",
    "asyncio",
    "http",
    "os",
    "pandas",
    "pysher",
    "pusher",
    "requests",
    "select",
    "selectors",
    "socket",
    "sqlite3",
    "ssl",
    "subprocess",
    "threading",
    "time",
    "urllib",
    "websocket",
    "websockets",
}
PURE_MODULES = sorted(p for p in PACKAGE.glob("*.py") if p.name != "eventlog.py")


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", PURE_MODULES, ids=lambda path: path.name)
def test_the_pure_modules_import_no_io_library(path: Path) -> None:
    assert imported_roots(path) & IO_LIBRARIES == set()


@pytest.mark.parametrize("path", PURE_MODULES, ids=lambda path: path.name)
def test_the_pure_modules_read_no_clock(path: Path) -> None:
    clocks = {"monotonic", "perf_counter", "time_ns", "now", "utcnow"}
    called = {
        node.func.attr
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert called & clocks == set()


def test_importing_the_package_loads_neither_sqlite_nor_pandas() -> None:
    probe = (
        "import sys, doubletick.delivery; "
        "print(sorted({'sqlite3', 'pandas', 'socket', 'asyncio'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
