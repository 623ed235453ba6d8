"""Rate limits of the REST API (PROTOCOL.md section 14, soketi style): backend events and
read requests per app and second, answered with HTTP 429 when over.

A window opens with the first request and admits `limit` points for one second (soketi's
`rate-limiter-flexible` with a duration of 1 s). An event costs one point per channel it
goes to (`/events`) or per event (`/batch_events`); a read request costs one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_WINDOW_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class RateDecision:
    """Whether a request may go on, and what its `X-RateLimit-*` headers say."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # whole seconds until the window ends

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class RateLimiter:
    """`limit` points per one-second window; a refused request consumes nothing."""

    __slots__ = ("_used", "_window_end", "limit")

    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError(f"a rate limit must be > 0, got {limit}")
        self.limit = limit
        self._used = 0
        self._window_end = -math.inf

    def consume(self, points: int, now: float) -> RateDecision:
        if now >= self._window_end:
            self._window_end = now + _WINDOW_SECONDS
            self._used = 0
        allowed = self._used + points <= self.limit
        if allowed:
            self._used += points
        retry_after = max(1, math.ceil(self._window_end - now))
        return RateDecision(allowed, self.limit, self.limit - self._used, retry_after)
