"""Server-side liveness (PROTOCOL.md section 4) with one periodic sweep per server, not a
timer per connection: each pass asks every connection's state machine whether to ping it or
close it (4201, or 4009 when it stayed unauthorized too long), and drops expired cache
entries."""

from __future__ import annotations

import asyncio
import logging
import time

from doubletick.server.state import ServerState

log = logging.getLogger(__name__)

_MAX_INTERVAL = 1.0
_MIN_INTERVAL = 0.02


def sweep_interval(state: ServerState) -> float:
    """Often enough to act within a quarter of the shortest timeout, at most once a second."""
    timeouts = [
        timeout
        for runtime in state.runtimes
        for timeout in (
            runtime.limits.activity_timeout,
            runtime.limits.pong_timeout,
            runtime.limits.user_authentication_timeout,
        )
        if timeout > 0
    ]
    return max(_MIN_INTERVAL, min(_MAX_INTERVAL, min(timeouts) / 4))


async def run_heartbeat(state: ServerState) -> None:
    """Sweep forever (cancel the task to stop)."""
    interval = sweep_interval(state)
    while True:
        await asyncio.sleep(interval)  # the sweep period
        now = time.monotonic()
        for runtime in state.runtimes:
            try:
                runtime.tick(now)
            except Exception:  # a bug in one sweep must not stop liveness for good
                log.exception("heartbeat sweep failed for app %s", runtime.config.app_id)
