"""The stores on their own: fed records by hand, no client, no browser."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from app.inspector import InspectorStore
from app.latency import LatencyStore
from app.stores import ChatStore, MessageItem
from doubletick.client.link import FrameLogged
from doubletick.delivery import DeliveryState, ReceivedMessage, StatusChange

P, S, D, R, F = (
    DeliveryState.PENDING,
    DeliveryState.SENT,
    DeliveryState.DELIVERED,
    DeliveryState.READ,
    DeliveryState.FAILED,
)


@dataclass
class FakeActions:
    sent: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    typed: int = 0

    def send(self, text: str) -> str:
        self.sent.append(text)
        return f"id{len(self.sent)}"

    def typing(self) -> None:
        self.typed += 1

    def retry(self, message_id: str) -> None:
        self.retried.append(message_id)


def change(message_id: str, old: DeliveryState, new: DeliveryState, **times: float) -> StatusChange:
    return StatusChange(message_id, "c", "alice", "bob", old, new, 1.0, new, **times)


@pytest.fixture
def chat() -> ChatStore:
    return ChatStore(actions=FakeActions(), max_messages=3)


def test_send_shows_the_message_at_once_as_sending(chat: ChatStore) -> None:
    item = chat.send("  hi  ")
    assert item is not None and item.text == "hi" and item.label == "Sending"
    assert chat.messages == [item] and chat.actions.sent == ["hi"]


def test_status_changes_update_the_item_in_place(chat: ChatStore) -> None:
    item = chat.send("hi")
    assert item is not None
    chat.apply_change(change("id1", P, S), observed_at=10.0, reached_at=9.5)
    chat.apply_change(change("id1", S, R), observed_at=11.0, reached_at=10.5)
    assert chat.messages == [item]
    assert (item.state, item.label, item.changed_at) == (R, "Read", 11.0)
    assert item.steps["sent"] == 9.5 and item.steps["read"] == 10.5


def test_changes_for_unknown_messages_are_ignored(chat: ChatStore) -> None:
    chat.apply_change(change("nobody", P, S), 1.0, 1.0)
    assert chat.messages == []


def test_messages_are_capped_and_published_once_per_batch(chat: ChatStore) -> None:
    published: list[int] = []
    chat.param.watch(lambda e: published.append(len(e.new)), "messages")
    for n in range(5):
        chat.queue_own(f"m{n}", f"text {n}", at=float(n))
    chat.receive(ReceivedMessage("r1", "c", "bob", "from bob", 1.0))
    assert chat.messages == []
    chat.publish()
    assert published == [3]
    assert [m.message_id for m in chat.messages] == ["m3", "m4", "r1"]
    assert chat.message("m0") is None and chat.message("m4") is not None
    assert (chat.sent_count, chat.received_count) == (5, 1)


def test_peer_typing_expires(chat: ChatStore) -> None:
    chat.peer_is_typing(now=100.0)
    chat.publish(now=100.1)
    assert chat.peer_typing
    chat.publish(now=104.0)
    assert not chat.peer_typing


def test_retry_failed_retries_only_failed_own_messages(chat: ChatStore) -> None:
    first, second = chat.send("a"), chat.send("b")
    assert first is not None and second is not None
    chat.apply_change(
        change(
            first.message_id,
            P,
            F,
        ),
        1.0,
        1.0,
    )
    assert chat.retry_failed() == 1
    assert chat.actions.retried == [first.message_id]


def test_typing_is_passed_to_the_client(chat: ChatStore) -> None:
    chat.typing()
    assert chat.actions.typed == 1


def test_latency_store_streams_batches_and_keeps_percentiles() -> None:
    store = LatencyStore(origin=1000.0, window=10)
    for n in range(20):
        store.add(change(f"m{n}", S, D, since_sent=(n + 1) / 1000), wall_at=1000.0 + n)
    store.add(change("m0", D, R, since_delivered=0.5), wall_at=1030.0)
    store.add(change("m1", P, S), wall_at=1031.0)  # measures nothing
    assert store.batches == 0
    store.flush()
    assert store.batches == 1 and len(store.last_batch["t"]) == 21
    delivered = store.stats["delivered"]
    assert delivered["count"] == 10  # the window
    assert delivered["p50"] == pytest.approx(15.5)
    assert store.stats["read"]["p99"] == pytest.approx(500.0)
    store.flush()
    assert store.batches == 1  # nothing new: no update
    assert len(store.points()["t"]) == 11
    assert store.to_csv().count("\n") == 22


def test_latency_store_publishes_at_most_once_per_period() -> None:
    store = LatencyStore(flush_every=0.25)
    store.add(change("a", S, D, since_sent=0.01), wall_at=1.0)
    store.flush(now=10.0)
    store.add(change("b", S, D, since_sent=0.02), wall_at=1.1)
    store.flush(now=10.1)
    assert store.batches == 1 and store.stats["delivered"]["count"] == 1
    store.flush(now=10.25)
    assert store.batches == 2 and store.last_batch["message"] == ["b"]


def test_latency_store_clear_forgets_everything() -> None:
    store = LatencyStore()
    store.add(change("m", S, D, since_sent=0.01), wall_at=1.0)
    store.flush()
    store.clear()
    assert store.count() == 0 and store.stats == {} and store.cleared == 1
    assert store.to_csv().count("\n") == 1


def frame(direction: str, event: str, channel: str | None = "private-x") -> FrameLogged:
    return FrameLogged(direction, event, channel, {"id": "1"}, 0.0)


def test_inspector_filters_by_user_direction_and_event() -> None:
    store = InspectorStore(users=("Alice", "Bob"), shown=10)
    store.add("Alice", frame("out", "client-message-added"), 1.0)
    store.add("Bob", frame("in", "client-message-added"), 1.1)
    store.add("Bob", frame("out", "client-message-delivered"), 1.2)
    store.flush()
    assert store.last_batch["user"] == ["Alice", "Bob", "Bob"]
    store.param.update(user="Bob", event="DELIVERED")
    assert store.rows()["event"] == ["client-message-delivered"]
    store.param.update(user="both", event="", direction="out")
    assert store.rows()["user"] == ["Alice", "Bob"]


def test_inspector_pause_keeps_nothing_and_long_data_is_cut() -> None:
    store = InspectorStore()
    store.add("Alice", FrameLogged("in", "e", None, "x" * 1000, 0.0), 1.0)
    assert len(store.rows()["data"][0]) == 300
    store.paused = True
    store.add("Alice", frame("in", "e"), 1.0)
    store.flush()
    assert store.total == 1


def test_inspector_publishes_at_most_once_per_period() -> None:
    store = InspectorStore(flush_every=0.5)
    store.add("Alice", frame("in", "a"), 1.0)
    store.flush(now=10.0)
    store.add("Alice", frame("in", "b"), 1.0)
    store.flush(now=10.2)
    assert (store.batches, store.total) == (1, 1)
    store.flush(now=10.5)
    assert (store.batches, store.total, store.last_batch["event"]) == (2, 2, ["b"])


@pytest.mark.parametrize(
    ("state", "label"),
    [(P, "Sending"), (S, "Sent"), (D, "Delivered"), (R, "Read"), (F, "Failed")],
)
def test_message_item_label_follows_state(state: DeliveryState, label: str) -> None:
    assert MessageItem(message_id="m", text="t", state=state).label == label
