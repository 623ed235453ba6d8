"""The outbox: resends with the same id, backoff, presence, and when to wake up."""

from __future__ import annotations

import pytest

from doubletick.delivery import Backoff, DeliveryState, LocalProtocolError

from .conftest import Chat, make_chat


def lose_everything(user: str, event: object) -> bool:
    return True


def message_ids_sent(chat: Chat, user: str) -> list[str]:
    return [e.data["id"] for u, e in chat.wire if u == user and e.event == "client-message-added"]


def test_an_unacknowledged_message_is_resent_with_the_same_id_after_a_backoff(pair: Chat) -> None:
    pair["alice"].compose("hi", 0.0, message_id="m1")
    pair.pump(drop=lose_everything)
    assert pair["alice"].next_deadline() == 1.0
    for now, expected in ((1.0, 3.0), (3.0, 7.0), (7.0, 15.0)):
        pair.now = now
        pair.pump(drop=lose_everything)
        assert pair["alice"].next_deadline() == expected
    assert message_ids_sent(pair, "alice") == ["m1"] * 4
    assert pair["alice"].message_info("m1").attempts == 4
    assert pair["alice"].message_info("m1").first_sent_at == 0.0
    pair.now = 15.0
    pair.pump()
    assert pair["alice"].message_state("m1") is DeliveryState.DELIVERED
    assert pair["alice"].next_deadline() is None


def test_a_resubscribe_resends_at_once_and_restarts_the_backoff(pair: Chat) -> None:
    pair["alice"].compose("hi", 0.0, message_id="m1")
    for now in (0.0, 1.0, 3.0):
        pair.now = now
        pair.pump(drop=lose_everything)
    pair["alice"].unsubscribed()
    assert pair["alice"].next_deadline() is None  # nothing to do until subscribed again
    pair.now = 3.5
    pair["alice"].subscribed(3.5)
    assert pair["alice"].next_deadline() == 3.5
    pair.pump(drop=lose_everything)
    assert pair["alice"].next_deadline() == 4.5


def test_no_timed_resends_while_the_recipient_is_offline_and_one_when_it_returns() -> None:
    chat = make_chat("alice", "bob")
    chat["alice"].subscribed(0.0, members=["alice"])
    chat["alice"].compose("hi", 0.0, message_id="m1")
    chat.pump()  # one tick even though bob is away: the endpoint took it
    assert chat["alice"].message_state("m1") is DeliveryState.SENT
    assert chat["alice"].next_deadline() is None
    chat.now = 50.0
    chat["bob"].subscribed(50.0)
    chat["alice"].peer_online("bob", 50.0)
    chat.pump()
    assert chat["alice"].message_state("m1") is DeliveryState.DELIVERED
    assert message_ids_sent(chat, "alice") == ["m1", "m1"]


def test_a_peer_going_offline_stops_timed_resends(pair: Chat) -> None:
    pair["alice"].compose("hi", 0.0, message_id="m1")
    pair.pump(drop=lose_everything)
    pair["alice"].peer_offline("bob")
    assert pair["alice"].next_deadline() is None


def test_presence_of_users_outside_the_conversation_changes_nothing(pair: Chat) -> None:
    pair["alice"].compose("hi", 0.0, message_id="m1")
    pair.pump(drop=lose_everything)
    pair["alice"].peer_offline("dashboard")
    pair["alice"].peer_online("dashboard", 0.5)
    assert pair["alice"].next_deadline() == 1.0


def test_a_peer_coming_online_resends_only_what_it_lacks() -> None:
    chat = make_chat("alice", "bob", "carol")
    chat.subscribe_all()
    chat["alice"].compose("one", 0.0, message_id="m1")
    chat.pump(drop=lambda user, event: user == "alice" and event.data.get("id") == "m1")
    chat["alice"].compose("two", 0.0, message_id="m2")
    chat.pump()
    chat["alice"].peer_online("bob", 0.5)
    chat.now = 0.5
    chat.pump()
    assert message_ids_sent(chat, "alice") == ["m1", "m2", "m1"]


def test_messages_beyond_the_budget_wait_in_order_and_the_deadline_says_when() -> None:
    chat = make_chat("alice", "bob", rate=2)
    chat.subscribe_all()
    for n in range(4):
        chat["alice"].compose(f"hi {n}", 0.0, message_id=f"m{n}")
    assert [e.data["id"] for e in chat.poll("alice").send] == ["m0", "m1"]
    assert chat["alice"].next_deadline() == 0.5
    chat.now = 0.5
    assert [e.data["id"] for e in chat.poll("alice").send] == ["m2"]


def test_a_custom_backoff_spaces_resends() -> None:
    chat = make_chat("alice", "bob", backoff=Backoff(initial=0.25, factor=3, maximum=1))
    chat.subscribe_all()
    chat["alice"].compose("hi", 0.0)
    chat.pump(drop=lose_everything)
    assert chat["alice"].next_deadline() == 0.25


def test_acknowledged_messages_leave_the_outboxs_work_indexes(pair: Chat) -> None:
    """Per-event work follows the messages in flight, not the history (the dashboard's
    automatic conversation keeps thousands of messages)."""
    outbox = pair["alice"]._outbox
    pair["alice"].compose("hi", 0.0, message_id="m1")
    assert [entry.id for entry in outbox.live()] == ["m1"]
    pair.pump()
    assert pair["alice"].message_state("m1") is DeliveryState.DELIVERED
    assert outbox.live() == []
    assert [entry.id for entry in outbox.up_to_seq(1)] == ["m1"]
    pair["bob"].mark_read(pair.now)
    pair.pump()
    assert outbox.up_to_seq(1) == []
    entry = outbox.get("m1")
    assert entry is not None
    assert outbox.send_time(entry, lambda peer: True) is None


def test_a_long_conversation_forgets_its_oldest_settled_messages() -> None:
    chat = make_chat("alice", "bob", keep_settled=2)
    chat.subscribe_all()
    for n in (1, 2, 3):
        chat["alice"].compose(f"text {n}", chat.now, message_id=f"m{n}")
        chat.pump()
    assert [info.id for info in chat["alice"].messages()] == ["m2", "m3"]
    with pytest.raises(LocalProtocolError, match="no message of ours"):
        chat["alice"].message_info("m1")
    late = {"id": "m1", "recipient": "bob", "sender": "alice"}
    assert chat["alice"].receive_event("client-message-read", late, chat.now) is None
    assert chat["alice"].poll(chat.now).status_changes == ()


def test_messages_still_in_flight_are_never_forgotten() -> None:
    chat = make_chat("alice", "bob", keep_settled=1)
    chat.subscribe_all()
    for n in (1, 2, 3):
        chat["alice"].compose(f"text {n}", chat.now, message_id=f"m{n}")
    chat.pump(drop=lose_everything)
    assert [info.id for info in chat["alice"].messages()] == ["m1", "m2", "m3"]


def test_keeping_no_settled_messages_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="keep_settled"):
        make_chat("alice", "bob", keep_settled=0)
