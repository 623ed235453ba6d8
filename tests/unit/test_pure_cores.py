"""The pure cores (protocol/, delivery/) do no I/O: they import no I/O library."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2] / "doubletick"
IO_MODULES = {
    "asyncio",
    "socket",
    "ssl",
    "selectors",
    "threading",
    "sqlite3",
    "aiohttp",
    "websocket",
    "websockets",
    "pysher",
    "requests",
    "urllib",
    "http",
    "subprocess",
    "pandas",
}
# The event log is the delivery core's one door to disk (the issue puts it in delivery/).
ALLOWED = {"delivery/eventlog.py"}


def imported_modules(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


CORE_FILES = [
    p
    for core in ("protocol", "delivery")
    for p in sorted((ROOT / core).glob("*.py"))
    if str(p.relative_to(ROOT)) not in ALLOWED
]


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_imports_no_io_library(path: pathlib.Path) -> None:
    assert imported_modules(path) & IO_MODULES == set()
