"""Views render what the stores hold (no browser: the Panel objects themselves)."""

from __future__ import annotations

from typing import Any

from app.latency import LatencyStore
from app.stores import ChatStore, MessageItem
from app.ticks import tick_html, tooltip
from app.views import ChatPane, LatencyTimeline, bubble_html, header_html, stats_html
from doubletick.delivery import DeliveryState, StatusChange

S, R = DeliveryState.SENT, DeliveryState.READ


def own(n: int) -> MessageItem:
    return MessageItem(message_id=f"m{n}", text=f"text {n}", author="Alice", own=True)


def test_tick_html_has_label_state_and_step_times() -> None:
    item = own(1)
    item.param.update(state=R, steps={"pending": 10.0, "sent": 10.01, "read": 10.25})
    markup = tick_html(item)
    assert 'aria-label="Read"' in markup and 'data-state="read"' in markup
    assert "Sent " in tooltip(item) and "(+250 ms)" in tooltip(item)


def texts(pane: ChatPane) -> list[str]:
    return [item.text for item in pane.drawn()]


def order(row_view: Any) -> int:
    return int(row_view.styles["order"])


def test_chat_pane_updates_ticks_in_place() -> None:
    store = ChatStore(max_messages=10)
    pane = ChatPane(store=store)
    item = own(1)
    store._new.append(item)
    store.publish()
    (row,) = pane._rows
    assert pane.feed.objects == [row.view] and "text 1" in row.bubble.object
    assert 'aria-label="Sending"' in row.tick.object
    change = StatusChange("m1", "c", "alice", "bob", S, R, 1.0, R)
    store.apply_change(change, observed_at=5.0, reached_at=4.0)
    assert pane.feed.objects == [row.view] and 'aria-label="Read"' in row.tick.object


def test_chat_pane_draws_every_new_message_at_once_and_keeps_the_newest() -> None:
    store = ChatStore(max_messages=100)
    pane = ChatPane(store=store, max_rendered=3)
    for n in range(10):
        store.queue_own(f"m{n}", f"text {n}", at=0.0)
    store.publish()
    assert texts(pane) == ["text 7", "text 8", "text 9"]
    views = list(pane.feed.objects)
    for n in range(10, 12):
        store.queue_own(f"m{n}", f"text {n}", at=0.0)
    store.publish()
    assert texts(pane) == ["text 9", "text 10", "text 11"]
    assert pane.feed.objects == views  # rows are refilled where they are
    newest_lowest = sorted(pane._rows, key=lambda row: order(row.view))
    assert [row.item.text for row in newest_lowest if row.item] == ["text 11", "text 10", "text 9"]


def test_bubble_shows_author_and_escaped_text() -> None:
    item = MessageItem(message_id="m", text="<b>hi</b>", author="Bob", own=False)
    markup = bubble_html(item, shown_at=0.0)
    assert "&lt;b&gt;hi&lt;/b&gt;" in markup and 'aria-label="Bob at ' in markup


def test_clearing_the_store_empties_the_feed() -> None:
    store = ChatStore()
    pane = ChatPane(store=store)
    store.queue_own("m1", "hi", at=0.0)
    store.publish()
    store.clear()
    assert pane.drawn() == [] and not any(view.visible for view in pane.feed.objects)


def test_header_shows_presence_and_typing() -> None:
    assert "typing…" in header_html("Alice", "Bob", True, True, "connected")
    assert "offline" in header_html("Alice", "Bob", False, True, "connected")


def test_stats_table_shows_percentiles() -> None:
    markup = stats_html({"delivered": {"count": 3, "p50": 1.0, "p95": 2.0, "p99": 3.25}})
    assert 'data-stat="delivered-p99">3.2' in markup


def test_timeline_streams_each_batch_into_its_source() -> None:
    store = LatencyStore(origin=0.0)
    timeline = LatencyTimeline(store=store)
    change = StatusChange("m", "c", "a", "b", S, DeliveryState.DELIVERED, 1.0, S, since_sent=0.02)
    store.add(change, wall_at=2.0)
    store.flush()
    assert timeline.source.data["ms"] == [20.0] and timeline.source.name == "latency_source"
    store.clear()
    assert timeline.source.data["ms"] == []


def test_messages_that_scrolled_out_are_not_drawn_again() -> None:
    store = ChatStore(max_messages=100)
    pane = ChatPane(store=store, max_rendered=2)
    for n in range(6):
        store.queue_own(f"m{n}", f"text {n}", at=0.0)
        store.publish()
    assert texts(pane) == ["text 4", "text 5"]
    assert len(pane.feed.objects) == 2 and len(pane._free) == 0
