from __future__ import annotations

import pytest

from doubletick.delivery import (
    TRANSITIONS,
    DeliveryState,
    LocalProtocolError,
    Trigger,
    advance,
    aggregate,
)
from doubletick.delivery.states import is_at_least

from .conftest import D, F, P, R, S

RECEIPTS = (Trigger.DELIVERED_RECEIPT, Trigger.READ_RECEIPT)


def test_a_message_walks_from_clock_to_blue_ticks() -> None:
    state = P
    for trigger in (Trigger.HANDED_OFF, Trigger.DELIVERED_RECEIPT, Trigger.READ_RECEIPT):
        state = advance(state, trigger)
    assert state is R


@pytest.mark.parametrize("state", list(DeliveryState))
@pytest.mark.parametrize("trigger", RECEIPTS)
def test_receipts_are_defined_for_every_state_so_peers_never_hit_a_gap(
    state: DeliveryState, trigger: Trigger
) -> None:
    assert (state, trigger) in TRANSITIONS


@pytest.mark.parametrize("state", list(DeliveryState))
@pytest.mark.parametrize("trigger", RECEIPTS)
def test_applying_the_same_receipt_twice_changes_nothing(
    state: DeliveryState, trigger: Trigger
) -> None:
    once = advance(state, trigger)
    assert advance(once, trigger) is once


@pytest.mark.parametrize("state", [P, S, D, R])
@pytest.mark.parametrize("trigger", [*RECEIPTS, Trigger.HANDED_OFF])
def test_states_only_move_forward(state: DeliveryState, trigger: Trigger) -> None:
    assert is_at_least(advance(state, trigger), state)


def test_a_late_read_implies_delivered_and_a_late_delivered_changes_nothing() -> None:
    assert advance(S, Trigger.READ_RECEIPT) is R
    assert advance(R, Trigger.DELIVERED_RECEIPT) is R


def test_a_receipt_lifts_a_failed_message_because_it_got_through() -> None:
    assert advance(F, Trigger.DELIVERED_RECEIPT) is D
    assert advance(F, Trigger.READ_RECEIPT) is R


def test_only_a_pending_message_can_fail_and_only_a_failed_one_can_be_retried() -> None:
    assert advance(P, Trigger.GAVE_UP) is F
    assert advance(F, Trigger.RETRY) is P
    with pytest.raises(LocalProtocolError, match="cannot apply GAVE_UP to a SENT message"):
        advance(S, Trigger.GAVE_UP)
    with pytest.raises(LocalProtocolError, match="RETRY"):
        advance(R, Trigger.RETRY)


def test_a_failed_message_is_never_handed_off_without_a_retry() -> None:
    with pytest.raises(LocalProtocolError):
        advance(F, Trigger.HANDED_OFF)


def test_a_group_tick_is_the_least_advanced_recipient() -> None:
    assert aggregate([R, D, R]) is D
    assert aggregate([R, R]) is R
    assert aggregate([S, R]) is S


def test_a_group_tick_is_failed_when_any_copy_failed() -> None:
    assert aggregate([R, F]) is F


def test_a_message_without_recipients_is_a_bug_of_ours() -> None:
    with pytest.raises(LocalProtocolError, match="at least one recipient"):
        aggregate([])


def test_every_state_has_a_tick_to_show() -> None:
    assert [state.tick for state in (P, S, D, R, F)] == ["🕓", "✓", "✓✓", "✓✓", "!"]


def test_failed_is_behind_every_other_state() -> None:
    assert not is_at_least(F, P)
    assert is_at_least(P, F)
