"""A message between two members, from clock to blue ticks, as both sides see it."""

from __future__ import annotations

import pytest

from doubletick.delivery import (
    Conversation,
    LocalProtocolError,
    OutgoingEvent,
)

from .conftest import Chat, D, F, P, R, S, make_chat


def test_a_composed_message_waits_on_the_clock_until_subscribed() -> None:
    chat = make_chat("alice", "bob")
    message_id = chat["alice"].compose("hi", 0.0)
    assert chat.poll("alice").send == ()
    assert chat["alice"].message_state(message_id) is P


def test_a_message_goes_out_with_tutorial_fields_plus_extensions(pair: Chat) -> None:
    pair.now = 1.0
    message_id = pair["alice"].compose("hi", 1.0, message_id="m1")
    output = pair.poll("alice")
    assert output.send == (
        OutgoingEvent(
            "client-message-added",
            {"id": "m1", "message": "hi", "sender": "alice", "seq": 1, "sent_at": 1.0},
        ),
    )
    change = output.status_changes[0]
    assert (change.message_id, change.recipient, change.old, change.new) == (
        message_id,
        "bob",
        P,
        S,
    )
    assert change.message_state is S


def test_the_receiver_stores_displays_and_acknowledges_a_message(pair: Chat) -> None:
    pair["alice"].compose("hi", 0.0, message_id="m1")
    pair.pump()
    [received] = pair.received("bob")
    assert (received.id, received.sender, received.text, received.seq) == ("m1", "alice", "hi", 1)
    assert pair["alice"].message_state("m1") is D
    assert pair.wire[1] == (
        "bob",
        OutgoingEvent(
            "client-message-delivered",
            {"id": "m1", "recipient": "bob", "sender": "alice", "up_to_seq": 1, "at": 0.0},
        ),
    )


def test_ticks_turn_blue_when_the_recipient_reads_and_latencies_are_measured(pair: Chat) -> None:
    pair["alice"].compose("hi", 0.0, message_id="m1")
    [event] = pair.poll("alice").send
    pair.now = 0.5
    pair.deliver("alice", event)
    pair.pump()
    pair.now = 2.0
    pair["bob"].mark_read(2.0)
    pair.now = 2.25
    pair.pump()
    delivered, read = pair.changes("alice")[1:]
    assert (delivered.new, delivered.since_sent, delivered.remote_at) == (D, 0.5, 0.5)
    assert (read.new, read.since_delivered, read.since_sent, read.remote_at) == (R, 1.75, 2.25, 2.0)
    assert delivered.one_way is None and read.one_way is None
    info = pair["alice"].message_info("m1")
    assert info.state is R and info.recipients[0].read_remote_at == 2.0


def test_one_way_times_are_reported_only_when_both_users_share_a_clock() -> None:
    chat = make_chat("alice", "bob", shared_clock=True)
    chat.subscribe_all()
    chat["alice"].compose("hi", 0.0, message_id="m1")
    [event] = chat.poll("alice").send
    chat.now = 0.25
    chat.deliver("alice", event)
    chat.pump()
    assert chat.received("bob")[0].one_way == 0.25
    [delivered] = [c for c in chat.changes("alice") if c.new is D]
    assert delivered.one_way == 0.25


def test_a_read_receipt_that_overtakes_the_delivered_one_implies_delivered(pair: Chat) -> None:
    pair["alice"].compose("hi", 0.0, message_id="m1")
    pair.pump(drop=lambda user, event: event.event == "client-message-delivered")
    pair["bob"].mark_read(1.0, ["m1"])
    pair.now = 1.0
    pair.pump()
    read = pair.changes("alice")[-1]
    assert (read.old, read.new, read.since_delivered) == (S, R, None)
    assert pair["alice"].message_info("m1").recipients[0].delivered_at == 1.0


def test_a_late_delivered_receipt_after_read_changes_nothing(pair: Chat) -> None:
    pair["alice"].compose("hi", 0.0, message_id="m1")
    pair.pump()
    pair["bob"].mark_read(1.0)
    pair.pump()
    before = len(pair.changes("alice"))
    late = {"id": "m1", "recipient": "bob", "sender": "alice"}
    assert pair["alice"].receive_event("client-message-delivered", late, 2.0) is None
    assert pair.poll("alice").status_changes == ()
    assert len(pair.changes("alice")) == before


def test_a_receipt_for_an_unknown_id_is_ignored(pair: Chat) -> None:
    assert pair["alice"].receive_event("client-message-read", {"id": "nope"}, 0.0) is None
    assert pair.poll("alice").status_changes == ()


def test_a_message_too_large_for_a_client_event_fails_at_once() -> None:
    chat = make_chat("alice", "bob")
    message_id = chat["alice"].compose("x" * 11_000, 0.0)
    [change] = chat.poll("alice").status_changes
    assert change.new is F and change.reason is not None and "too large" in change.reason
    chat.subscribe_all()
    assert chat.poll("alice").send == ()
    with pytest.raises(LocalProtocolError, match="has not failed"):
        chat["alice"].retry(chat["alice"].compose("ok", 0.0), 0.0)
    chat["alice"].retry(message_id, 1.0)
    changes = chat.poll("alice").status_changes
    assert [c.new for c in changes if c.message_id == message_id] == [P, F]


def test_a_message_nobody_accepted_in_time_fails_and_a_retry_sends_it_with_the_same_id() -> None:
    chat = make_chat("alice", "bob", give_up_after=30.0)
    chat["alice"].compose("hi", 0.0, message_id="m1")
    assert chat["alice"].next_deadline() == 30.0
    chat.now = 30.0
    [failed] = chat.poll("alice").status_changes
    assert (failed.new, failed.reason) == (F, "no endpoint accepted it within 30 s")
    chat.subscribe_all()
    assert chat.poll("alice").send == ()
    chat["alice"].retry("m1", 31.0)
    chat.now = 31.0
    chat.pump()
    assert chat["alice"].message_state("m1") is D
    assert [c.new for c in chat.changes("alice")] == [F, P, S, D]


def test_a_message_that_was_sent_never_fails_however_long_it_waits(pair: Chat) -> None:
    pair["alice"].compose("hi", 0.0, message_id="m1")
    pair.pump(drop=lambda user, event: True)
    pair.now = 10_000.0
    pair.poll("alice")
    assert pair["alice"].message_state("m1") is S


def test_without_a_give_up_time_a_pending_message_waits_forever() -> None:
    chat = make_chat("alice", "bob", give_up_after=None)
    chat["alice"].compose("hi", 0.0)
    assert chat["alice"].next_deadline() is None
    chat.now = 1e9
    assert chat.poll("alice").status_changes == ()


def test_our_own_code_cannot_misuse_a_conversation() -> None:
    with pytest.raises(LocalProtocolError, match="peers"):
        Conversation("alice", "presence-chat", [])
    with pytest.raises(LocalProtocolError, match="peers"):
        Conversation("alice", "presence-chat", ["alice", "bob"])
    alice = Conversation("alice", "presence-chat", ["bob"])
    with pytest.raises(LocalProtocolError, match="needs text"):
        alice.compose("", 0.0)
    alice.compose("hi", 0.0, message_id="m1")
    with pytest.raises(LocalProtocolError, match="already used"):
        alice.compose("again", 0.0, message_id="m1")
    with pytest.raises(LocalProtocolError, match="no message of ours"):
        alice.message_info("m2")
    with pytest.raises(LocalProtocolError, match="no received message"):
        alice.mark_read(0.0, ["m9"])
    with pytest.raises(LocalProtocolError, match="id must be 1 to 128"):
        alice.compose("hi", 0.0, message_id="x" * 200)
    assert [info.id for info in alice.messages()] == ["m1"]
    with pytest.raises(LocalProtocolError, match="sender must be 1 to 128"):
        Conversation("a" * 200, "presence-chat", ["bob"])


def test_message_ids_are_made_unique_when_not_given_and_seqs_continue(pair: Chat) -> None:
    alice = Conversation("alice", "presence-chat", ["bob"], first_seq=41)
    first, second = alice.compose("a", 0.0), alice.compose("b", 0.0)
    assert first != second
    assert [info.seq for info in alice.messages()] == [41, 42]
    assert alice.is_subscribed is False
