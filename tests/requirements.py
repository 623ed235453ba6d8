"""External tools some tests need: skipped locally when missing, a failure under CI=true."""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(tool: str, *, why: str = "") -> str:
    """Return the path of `tool`, or skip (locally) / fail (in CI) when it is missing."""
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} not found on PATH{': ' + why if why else ''}"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: a missing dependency is a failure)")
        pytest.skip(message)
    return path


def require_path(path: str, *, why: str) -> str:
    """Like `require`, for a file or folder that an install step creates."""
    if not os.path.exists(path):
        message = f"{path} is missing: {why}"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: a missing dependency is a failure)")
        pytest.skip(message)
    return path
