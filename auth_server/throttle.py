"""Slowing down password guessing, per user name and per client address.

Each failed login waits ``base * 2**(failures - 1)`` seconds (capped) before its 401, where
`failures` is the larger count of the user's and the address's recent failures. Attempts that
share a key are serialised, so parallel guesses queue behind each other's delays instead of
running side by side. Counts are forgotten `memory` seconds after the last failure; a
successful login clears the user's count (not the address's, or one valid account would let
an address keep guessing at others). All waiting is `asyncio`: the loop keeps serving.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

_PURGE_ABOVE = 4096  # records kept before expired ones are swept


@dataclass
class _Failures:
    count: int
    last: float


class LoginThrottle:
    def __init__(
        self,
        base_delay: float,
        max_delay: float,
        memory: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.memory = memory
        self._clock = clock
        self._failures: dict[str, _Failures] = {}
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def failures(self, key: str) -> int:
        """Recent failures recorded for `key` (0 once forgotten)."""
        record = self._failures.get(key)
        if record is None or self._clock() - record.last > self.memory:
            return 0
        return record.count

    def record_failure(self, keys: Iterable[str]) -> float:
        """Count one failure for every key; return how long to wait before answering."""
        now, worst = self._clock(), 0
        for key in keys:
            count = self.failures(key) + 1
            self._failures[key] = _Failures(count, now)
            worst = max(worst, count)
        if len(self._failures) > _PURGE_ABOVE:
            self._forget_old(now)
        return self.delay(worst)

    def record_success(self, key: str) -> None:
        self._failures.pop(key, None)

    def delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return min(self.max_delay, self.base_delay * 2.0 ** min(failures - 1, 64))

    @asynccontextmanager
    async def serialized(self, keys: Iterable[str]) -> AsyncIterator[None]:
        """Hold every key's lock (in sorted order, so two attempts cannot deadlock)."""
        async with AsyncExitStack() as stack:
            for key in sorted(set(keys)):
                await stack.enter_async_context(self._lock(key))
            yield

    @asynccontextmanager
    async def _lock(self, key: str) -> AsyncIterator[None]:
        lock, holders = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, holders + 1)
        try:
            async with lock:
                yield
        finally:
            lock, holders = self._locks[key]
            if holders == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, holders - 1)

    def _forget_old(self, now: float) -> None:
        for key in [k for k, r in self._failures.items() if now - r.last > self.memory]:
            del self._failures[key]
