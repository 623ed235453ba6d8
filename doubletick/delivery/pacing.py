"""Pacing: the token bucket that keeps us under Pusher's client-event limit, and the backoff
that spaces resends. Both take the time as an argument; neither reads a clock.
"""

from __future__ import annotations

import math

from doubletick.delivery.states import LocalProtocolError


class TokenBucket:
    """One budget of client events per connection, shared by messages, receipts and typing.

    Pusher allows at most 10 client events per second per connection. A bucket admits at
    most `burst + rate * T` events in any window of T seconds, so the defaults (5 per second,
    burst 5) never exceed 10 in any one-second window, while a message and its receipts
    still leave at once. The embedded server may allow more: raise `rate` and `burst`.
    Share one bucket between all conversations that use the same connection.
    """

    def __init__(self, rate: float = 5.0, burst: float = 5.0) -> None:
        if not (rate > 0 and burst >= 1 and math.isfinite(rate) and math.isfinite(burst)):
            raise LocalProtocolError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._updated: float | None = None

    def _refill(self, now: float) -> None:
        if self._updated is not None and now > self._updated:
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        if self._updated is None or now > self._updated:
            self._updated = now

    def available(self, now: float) -> float:
        """How many events could leave at `now` (a fraction means: not yet one)."""
        self._refill(now)
        return self._tokens

    def try_take(self, now: float) -> bool:
        """Spend one event if the budget allows it at `now`; False means wait."""
        if self.available(now) < 1:
            return False
        self._tokens -= 1
        return True

    def ready_at(self) -> float:
        """The earliest time one event may leave, judged from the last use (-inf if unused);
        a time in the past means: now."""
        if self._updated is None:
            return -math.inf
        return self._updated + max(0.0, 1 - self._tokens) / self.rate


class Backoff:
    """Exponential spacing of resends: `initial`, then times `factor`, capped at `maximum`."""

    def __init__(self, initial: float = 1.0, factor: float = 2.0, maximum: float = 60.0) -> None:
        if not (0 < initial <= maximum and factor >= 1):
            raise LocalProtocolError("backoff needs 0 < initial <= maximum and factor >= 1")
        self.initial = initial
        self.factor = factor
        self.maximum = maximum

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th send (1 for the first) before the next."""
        if attempt < 1:
            raise LocalProtocolError("attempts are counted from 1")
        try:
            return min(self.maximum, self.initial * self.factor ** (attempt - 1))
        except OverflowError:
            return self.maximum
