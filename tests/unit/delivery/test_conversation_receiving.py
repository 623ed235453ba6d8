"""The receiver's side: dedupe, acknowledging every copy, coalescing, attribution."""

from __future__ import annotations

import json

import pytest

from doubletick.delivery import Conversation, DeliveryState, TokenBucket

from .conftest import Chat, make_chat


def bob(**options: object) -> Conversation:
    return Conversation("bob", "private-chat", ["alice"], **options)  # type: ignore[arg-type]


def test_the_receiver_stores_each_id_once_and_acknowledges_every_copy() -> None:
    receiver = bob()
    receiver.subscribed(0.0)
    copy = {"id": "m1", "message": "hi", "sender": "alice", "seq": 1}
    for now in (1.0, 2.0):
        assert receiver.receive_event("client-message-added", copy, now) is None
    output = receiver.poll(3.0)
    assert [m.id for m in output.received] == ["m1"]
    [receipt] = output.send  # both copies are pending at once: one coalesced receipt
    assert receipt.data["at"] == 1.0
    receiver.receive_event("client-message-added", copy, 4.0)
    assert [event.event for event in receiver.poll(4.0).send] == ["client-message-delivered"]


def test_a_copy_of_a_message_already_read_is_answered_with_a_read_receipt() -> None:
    receiver = bob()
    receiver.subscribed(0.0)
    receiver.receive_event("client-message-added", {"id": "m1", "message": "hi"}, 0.0)
    receiver.mark_read(1.0)
    receiver.poll(1.0)
    receiver.receive_event("client-message-added", {"id": "m1", "message": "hi"}, 2.0)
    [again] = receiver.poll(2.0).send
    assert again.event == "client-message-read" and again.data["at"] == 1.0


def test_a_tutorial_page_message_arrives_as_a_json_string_without_sender_or_seq() -> None:
    receiver = bob()
    receiver.subscribed(0.0)
    data = json.dumps({"id": "m1", "message": "hello from the tutorial"})
    assert receiver.receive_event("client-message-added", data, 0.0) is None
    output = receiver.poll(0.0)
    assert output.received[0].sender == "alice"  # the only peer
    assert output.send[0].data == {"id": "m1", "recipient": "bob", "sender": "alice", "at": 0.0}


def test_several_pending_read_receipts_leave_as_one_cumulative_receipt() -> None:
    receiver = bob()
    receiver.subscribed(0.0)
    for seq in (1, 2, 3):
        message = {"id": f"m{seq}", "message": "hi", "sender": "alice", "seq": seq}
        receiver.receive_event("client-message-added", message, float(seq))
    receiver.poll(3.0)
    receiver.mark_read(5.0)
    [read] = receiver.poll(5.0).send
    assert read.event == "client-message-read"
    assert read.data == {
        "id": "m3",
        "recipient": "bob",
        "sender": "alice",
        "up_to_seq": 3,
        "at": 5.0,
        "times": {"m1": 5.0, "m2": 5.0, "m3": 5.0},
    }


def test_a_cumulative_receipt_heals_receipts_that_were_lost(pair: Chat) -> None:
    for n in (1, 2, 3):
        pair["alice"].compose(f"hi {n}", 0.0, message_id=f"m{n}")
    pair.pump()
    pair["bob"].mark_read(1.0, ["m1", "m2"])
    pair.pump(drop=lambda user, event: event.event == "client-message-read")
    pair["bob"].mark_read(2.0, ["m3"])
    pair.pump()
    states = [info.state for info in pair["alice"].messages()]
    assert states == [DeliveryState.READ] * 3
    healed = [c for c in pair.changes("alice") if c.message_id == "m1"][-1]
    assert healed.remote_at is None  # healed by up_to_seq: no exact time for it


def test_receipts_wait_for_budget_and_the_deadline_says_when() -> None:
    receiver = bob(bucket=TokenBucket(rate=2, burst=1))
    receiver.subscribed(0.0)
    receiver.receive_event("client-message-added", {"id": "m1", "message": "a"}, 0.0)
    assert len(receiver.poll(0.0).send) == 1
    receiver.receive_event("client-message-added", {"id": "m2", "message": "b"}, 0.1)
    assert receiver.next_deadline() == -float("inf")  # a received message waits for poll
    assert receiver.poll(0.1).send == ()
    assert receiver.next_deadline() == pytest.approx(0.5)
    assert len(receiver.poll(0.5).send) == 1
    assert receiver.next_deadline() is None


def test_receipts_are_held_while_unsubscribed_and_leave_after_resubscribing() -> None:
    receiver = bob()
    receiver.receive_event("client-message-added", {"id": "m1", "message": "a"}, 0.0)
    assert receiver.poll(0.0).send == ()
    assert receiver.next_deadline() is None
    receiver.subscribed(1.0)
    assert len(receiver.poll(1.0).send) == 1


@pytest.mark.parametrize(
    ("event", "data", "user_id", "reason"),
    [
        ("client-message-added", {"id": "m", "message": "x", "sender": "eve"}, None, "not a peer"),
        ("client-message-added", {"id": "m", "message": "x", "sender": "bob"}, None, "not a peer"),
        ("client-message-added", {"id": "m", "message": "x", "sender": "eve"}, "alice", "is not"),
        ("client-message-read", {"id": "m", "recipient": "eve"}, None, "not a peer"),
        ("client-typing", {"sender": "eve"}, None, "not a peer"),
        ("client-message-added", "{oops", None, "not JSON"),
    ],
)
def test_peer_data_that_lies_about_who_sent_it_is_rejected(
    event: str, data: object, user_id: str | None, reason: str
) -> None:
    rejection = bob().receive_event(event, data, 0.0, user_id=user_id)
    assert rejection is not None and rejection.event == event and reason in rejection.reason


def test_a_presence_user_id_attributes_a_message_that_names_nobody() -> None:
    receiver = Conversation("bob", "presence-chat", ["alice", "carol"])
    receiver.receive_event("client-message-added", {"id": "m", "message": "x"}, 0.0, "carol")
    assert receiver.poll(0.0).received[0].sender == "carol"
    assert receiver.unread() == ("m",)


def test_a_peer_typing_is_handed_out_and_our_typing_is_throttled(pair: Chat) -> None:
    pair["alice"].typing(0.0)
    pair["alice"].typing(1.0)
    pair.pump()
    assert [e.event for _, e in pair.wire] == ["client-typing"]
    [typing] = [t for output in pair.outputs["bob"] for t in output.typing]
    assert (typing.sender, typing.conversation) == ("alice", "presence-chat")
    pair["alice"].typing(3.0)
    deadline = pair["alice"].next_deadline()
    assert deadline is not None and deadline <= 3.0
    pair.pump()
    assert len(pair.wire) == 2


def test_typing_is_dropped_not_queued_when_there_is_no_budget() -> None:
    chat = make_chat("alice", "bob", rate=1)
    chat.subscribe_all()
    chat["alice"].compose("hi", 0.0)
    chat["alice"].typing(0.0)
    assert [e.event for e in chat.poll("alice").send] == ["client-message-added"]
    chat.now = 0.9  # budget for one more would come only at 1.0
    assert chat.poll("alice").send == ()
