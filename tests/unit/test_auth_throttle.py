from __future__ import annotations

import asyncio

from auth_server.throttle import LoginThrottle


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_throttle(clock: FakeClock) -> LoginThrottle:
    return LoginThrottle(base_delay=1.0, max_delay=5.0, memory=60.0, clock=clock)


def test_each_failure_doubles_the_delay_up_to_the_cap() -> None:
    throttle = make_throttle(FakeClock())
    delays = [throttle.record_failure(["user:alice"]) for _ in range(5)]
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_the_worse_of_user_and_address_decides_the_delay() -> None:
    throttle = make_throttle(FakeClock())
    for user in ("alice", "bob"):
        throttle.record_failure([f"user:{user}", "addr:10.0.0.1"])
    assert throttle.record_failure(["user:dave", "addr:10.0.0.1"]) == 4.0  # 3rd from there
    assert throttle.record_failure(["user:dave", "addr:10.0.0.2"]) == 2.0  # 2nd for dave


def test_failures_are_forgotten_after_the_memory_window() -> None:
    clock = FakeClock()
    throttle = make_throttle(clock)
    throttle.record_failure(["user:alice"])
    throttle.record_failure(["user:alice"])
    clock.now += 61
    assert throttle.failures("user:alice") == 0
    assert throttle.record_failure(["user:alice"]) == 1.0


def test_success_clears_only_the_given_key() -> None:
    throttle = make_throttle(FakeClock())
    throttle.record_failure(["user:alice", "addr:10.0.0.1"])
    throttle.record_success("user:alice")
    assert throttle.failures("user:alice") == 0
    assert throttle.failures("addr:10.0.0.1") == 1


async def test_attempts_sharing_a_key_run_one_at_a_time() -> None:
    throttle = make_throttle(FakeClock())
    inside: list[str] = []
    overlaps: list[int] = []

    async def attempt(name: str, keys: list[str]) -> None:
        async with throttle.serialized(keys):
            inside.append(name)
            overlaps.append(len(inside))
            await asyncio.sleep(0)
            inside.remove(name)

    await asyncio.gather(
        attempt("a", ["user:alice", "addr:x"]),
        attempt("b", ["addr:x", "user:bob"]),
        attempt("c", ["user:carol", "addr:x", "user:alice"]),
    )
    assert overlaps == [1, 1, 1]
    assert throttle._locks == {}  # no lock outlives its attempts
