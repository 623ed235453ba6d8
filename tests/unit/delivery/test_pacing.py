from __future__ import annotations

import math

import pytest

from doubletick.delivery import Backoff, LocalProtocolError, TokenBucket


def count_taken(bucket: TokenBucket, start: float, seconds: float, step: float) -> int:
    taken, now = 0, start
    while now < start + seconds:
        taken += bucket.try_take(now)
        now += step
    return taken


def test_the_default_bucket_never_exceeds_pushers_ten_events_in_any_second() -> None:
    bucket = TokenBucket()
    assert count_taken(bucket, 0.0, 1.0, 0.001) <= 10
    assert count_taken(bucket, 1.0, 1.0, 0.001) <= 10


def test_a_full_bucket_lets_a_burst_leave_at_once_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=10, burst=3)
    assert [bucket.try_take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.ready_at() == pytest.approx(0.1)
    assert not bucket.try_take(0.05)
    assert bucket.try_take(0.1)


def test_an_unused_bucket_is_ready_at_once() -> None:
    assert TokenBucket().ready_at() == -math.inf


def test_a_clock_going_backwards_never_adds_budget() -> None:
    bucket = TokenBucket(rate=1, burst=1)
    assert bucket.try_take(10.0)
    assert not bucket.try_take(5.0)
    assert bucket.available(10.5) == pytest.approx(0.5)


def test_the_bucket_never_holds_more_than_its_burst() -> None:
    bucket = TokenBucket(rate=5, burst=2)
    bucket.try_take(0.0)
    assert bucket.available(100.0) == 2


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (1, 0.5), (math.inf, 1), (1, math.nan)])
def test_a_bucket_that_could_never_send_is_a_bug_of_ours(rate: float, burst: float) -> None:
    with pytest.raises(LocalProtocolError, match="rate > 0"):
        TokenBucket(rate=rate, burst=burst)


def test_backoff_doubles_from_its_initial_delay_up_to_its_cap() -> None:
    backoff = Backoff(initial=1, factor=2, maximum=5)
    assert [backoff.delay(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]


def test_backoff_stays_at_its_cap_however_many_attempts() -> None:
    assert Backoff(initial=1.0, factor=10.0, maximum=60.0).delay(10_000) == 60.0


@pytest.mark.parametrize(("initial", "factor", "maximum"), [(0, 2, 1), (2, 2, 1), (1, 0.5, 2)])
def test_a_backoff_that_shrinks_or_never_waits_is_a_bug_of_ours(
    initial: float, factor: float, maximum: float
) -> None:
    with pytest.raises(LocalProtocolError):
        Backoff(initial, factor, maximum)


def test_backoff_attempts_count_from_one() -> None:
    with pytest.raises(LocalProtocolError, match="from 1"):
        Backoff().delay(0)
