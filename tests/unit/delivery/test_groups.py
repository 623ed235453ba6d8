"""Groups: one copy per member, the tick is the minimum, and "message info" lists each."""

from __future__ import annotations

import pytest

from doubletick.delivery import DeliveryState

from .conftest import Chat, make_chat


@pytest.fixture
def group() -> Chat:
    chat = make_chat("alice", "bob", "carol")
    chat.subscribe_all()
    return chat


def test_two_ticks_appear_only_when_every_member_stored_the_message(group: Chat) -> None:
    group["alice"].compose("hi all", 0.0, message_id="m1")
    group.pump(drop=lambda user, event: user == "carol")
    assert group["alice"].message_state("m1") is DeliveryState.SENT
    info = {r.recipient: r.state for r in group["alice"].message_info("m1").recipients}
    assert info == {"bob": DeliveryState.DELIVERED, "carol": DeliveryState.SENT}
    group.now = 1.0
    group.pump()
    assert group["alice"].message_state("m1") is DeliveryState.DELIVERED


def test_blue_ticks_appear_only_when_every_member_read_it(group: Chat) -> None:
    group["alice"].compose("hi all", 0.0, message_id="m1")
    group.pump()
    group["bob"].mark_read(1.0)
    group.pump()
    assert group["alice"].message_state("m1") is DeliveryState.DELIVERED
    group["carol"].mark_read(2.0)
    group.now = 2.0
    group.pump()
    info = group["alice"].message_info("m1")
    assert info.state is DeliveryState.READ
    assert [(r.recipient, r.read_remote_at) for r in info.recipients] == [
        ("bob", 1.0),
        ("carol", 2.0),
    ]


def test_each_change_carries_the_group_tick(group: Chat) -> None:
    group["alice"].compose("hi all", 0.0, message_id="m1")
    group.pump()
    delivered = [c for c in group.changes("alice") if c.new is DeliveryState.DELIVERED]
    assert [c.message_state for c in delivered] == [DeliveryState.SENT, DeliveryState.DELIVERED]


def test_members_ignore_receipts_for_each_others_messages(group: Chat) -> None:
    group["bob"].compose("from bob", 0.0, message_id="b1")
    group.pump()
    assert group.changes("alice") == []
    assert group.changes("carol") == []
    assert group["bob"].message_state("b1") is DeliveryState.DELIVERED


def test_a_receipt_that_names_nobody_is_ambiguous_in_a_group(group: Chat) -> None:
    rejection = group["alice"].receive_event("client-message-delivered", {"id": "m1"}, 0.0)
    assert rejection is not None and "ambiguous in a group" in rejection.reason


def test_a_tutorial_message_in_a_group_has_no_known_sender(group: Chat) -> None:
    group["alice"].receive_event("client-message-added", {"id": "t1", "message": "?"}, 0.0)
    assert group.poll("alice").received[0].sender is None


def test_a_receipt_from_a_member_that_got_a_failed_message_after_all_lifts_only_its_copy() -> None:
    chat = make_chat("alice", "bob", "carol", give_up_after=1.0)
    chat["alice"].compose("hi", 0.0, message_id="m1")
    chat.now = 1.0
    chat.poll("alice")
    receipt = {"id": "m1", "recipient": "bob", "sender": "alice", "at": 0.5}
    chat["alice"].receive_event("client-message-delivered", receipt, 1.0)
    info = chat["alice"].message_info("m1")
    assert info.state is DeliveryState.FAILED and info.failure is not None
    states = {r.recipient: r.state for r in info.recipients}
    assert states == {"bob": DeliveryState.DELIVERED, "carol": DeliveryState.FAILED}
    chat.subscribe_all()
    chat.now = 2.0
    assert chat.poll("alice").send == ()  # a failed message waits for the user's retry
    chat["alice"].retry("m1", 2.0)
    chat.pump()
    assert chat["alice"].message_state("m1") is DeliveryState.DELIVERED
