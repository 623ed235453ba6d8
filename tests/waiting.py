"""Waiting for conditions instead of sleeping: the only way tests here wait."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0


def wait_until(
    condition: Callable[[], T], *, timeout: float = DEFAULT_TIMEOUT, what: str = ""
) -> T:
    """Poll `condition` (cheaply, with a short backoff) until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    event = threading.Event()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        event.wait(delay)  # not a sleep standing in for a condition: the poll interval
        delay = min(delay * 2, 0.05)


async def async_wait_until(
    condition: Callable[[], T], *, timeout: float = DEFAULT_TIMEOUT, what: str = ""
) -> T:
    """Async twin of `wait_until`, yielding to the event loop between polls."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        await asyncio.sleep(delay)  # the poll interval, not a stand-in for a condition
        delay = min(delay * 2, 0.05)


async def within(awaitable: Awaitable[T], *, timeout: float = DEFAULT_TIMEOUT) -> T:
    """Await with a deadline and a clear failure message."""
    return await asyncio.wait_for(awaitable, timeout)
