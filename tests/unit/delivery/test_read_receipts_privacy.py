"""Read receipts off, with WhatsApp's reciprocity; DELIVERED keeps flowing."""

from __future__ import annotations

from doubletick.delivery import DeliveryState

from .conftest import Chat, make_chat


def test_with_my_read_receipts_off_i_send_none_but_still_acknowledge_delivery() -> None:
    chat = make_chat("alice", "bob")
    chat.subscribe_all()
    chat["bob"].set_read_receipts(False)
    chat["alice"].compose("hi", 0.0, message_id="m1")
    chat.pump()
    chat["bob"].mark_read(1.0)
    chat.pump()
    assert [e.event for u, e in chat.wire if u == "bob"] == ["client-message-delivered"]
    assert chat["alice"].message_state("m1") is DeliveryState.DELIVERED


def test_with_my_read_receipts_off_i_see_others_reads_as_delivered_only(pair: Chat) -> None:
    pair["alice"].set_read_receipts(False)
    assert pair["alice"].read_receipts is False
    pair["alice"].compose("hi", 0.0, message_id="m1")
    pair.pump(drop=lambda user, event: event.event == "client-message-delivered")
    pair["bob"].mark_read(1.0)
    pair.now = 1.0
    pair.pump()
    [change] = [c for c in pair.changes("alice") if c.new is not DeliveryState.SENT]
    assert (change.new, change.remote_at) == (DeliveryState.DELIVERED, None)
    assert pair["alice"].message_info("m1").recipients[0].read_at is None


def test_turning_read_receipts_off_drops_the_ones_not_yet_sent(pair: Chat) -> None:
    pair["alice"].compose("hi", 0.0, message_id="m1")
    pair.pump()
    pair["bob"].mark_read(1.0)
    pair["bob"].set_read_receipts(False)
    pair.pump()
    assert pair["alice"].message_state("m1") is DeliveryState.DELIVERED


def test_turning_read_receipts_back_on_sends_them_for_messages_shown_afterwards(
    pair: Chat,
) -> None:
    pair["bob"].set_read_receipts(False)
    pair["bob"].set_read_receipts(True)
    pair["alice"].compose("hi", 0.0, message_id="m1")
    pair.pump()
    pair["bob"].mark_read(1.0)
    pair.pump()
    assert pair["alice"].message_state("m1") is DeliveryState.READ
