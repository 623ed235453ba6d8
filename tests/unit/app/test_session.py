"""The dashboard's stores driven by a real session: two chat clients on the embedded server."""

from __future__ import annotations

import csv
import io
import threading

import pytest
import requests

from app.latency import LatencyStore
from app.session import DashboardSession
from doubletick.delivery import DeliveryState
from doubletick.embedded import EmbeddedRuntime
from tests.unit.app.conftest import SessionFactory, settle
from tests.waiting import wait_until

D, R, S = DeliveryState.DELIVERED, DeliveryState.READ, DeliveryState.SENT


def state_is(session: DashboardSession, message_id: str, state: DeliveryState) -> bool:
    return session.state_of("alice", message_id) is state


def test_message_sent_by_alice_reaches_bob_and_turns_read(session: DashboardSession) -> None:
    item = session.store.alice.send("hello bob")
    assert item is not None and item.state is DeliveryState.PENDING
    settle(session, lambda: state_is(session, item.message_id, R), "alice's message read")
    assert [m.text for m in session.store.bob.messages] == ["hello bob"]
    assert list(item.steps) == ["pending", "sent", "delivered", "read"]
    assert item.steps["pending"] <= item.steps["sent"] <= item.steps["read"]


def test_blank_text_is_not_sent(session: DashboardSession) -> None:
    assert session.store.alice.send("   ") is None
    assert session.store.alice.sent_count == 0


def test_chat_in_background_stays_delivered_until_opened(session: DashboardSession) -> None:
    session.store.bob.chat_open = False
    item = session.store.alice.send("are you there?")
    assert item is not None
    settle(session, lambda: state_is(session, item.message_id, D), "delivered")
    session.store.alice.send("second")  # a later round trip: nothing read meanwhile
    settle(session, lambda: session.store.bob.received_count == 2, "bob got both")
    assert session.state_of("alice", item.message_id) is D
    session.store.bob.chat_open = True
    settle(session, lambda: state_is(session, item.message_id, R), "read once opened")


def test_read_receipts_off_hide_read_both_ways(session: DashboardSession) -> None:
    session.store.bob.read_receipts = False
    to_bob = session.store.alice.send("to bob")
    to_alice = session.store.bob.send("to alice")
    assert to_bob is not None and to_alice is not None
    settle(session, lambda: state_is(session, to_bob.message_id, D), "delivered to bob")
    settle(
        session,
        lambda: session.state_of("bob", to_alice.message_id) is D,
        "bob sees delivered",
    )
    session.store.alice.send("later")  # round trips after both were shown
    settle(session, lambda: session.store.bob.received_count == 2, "bob got the later one")
    assert session.state_of("alice", to_bob.message_id) is D  # bob sends no read receipt
    assert session.state_of("bob", to_alice.message_id) is D  # nor sees alice's (reciprocity)


def test_offline_peer_keeps_one_tick_until_back_then_resend_delivers(
    session: DashboardSession,
) -> None:
    session.store.bob.online = False
    settle(session, lambda: not session.store.alice.peer_online, "alice sees bob offline")
    item = session.store.alice.send("while you were away")
    assert item is not None
    settle(session, lambda: state_is(session, item.message_id, S), "one tick")
    session.store.bob.online = True
    settle(session, lambda: state_is(session, item.message_id, R), "resent, then read")
    assert session.store.bob.received_count == 1


def test_own_offline_message_fails_and_retry_sends_it(open_session: SessionFactory) -> None:
    session = open_session(give_up_after=0.3)
    session.store.alice.online = False
    settle(session, lambda: session.store.alice.connection != "connected", "alice offline")
    item = session.store.alice.send("no network")
    assert item is not None
    settle(session, lambda: item.state is DeliveryState.FAILED, "failed")
    assert "within" in item.failure
    session.store.alice.online = True
    settle(session, lambda: session.store.alice.connection == "connected", "back online")
    assert session.store.alice.retry_failed() == 1
    settle(session, lambda: item.state is R, "retried and read")


def published(latency: LatencyStore) -> int:
    return sum(int(values["count"]) for values in latency.stats.values())


def test_latency_points_and_percentiles_are_recorded(session: DashboardSession) -> None:
    items = [session.store.alice.send(f"m{i}") for i in range(5)]
    settle(
        session,
        lambda: all(i is not None and i.state is R for i in items),
        "all read",
    )
    latency = session.store.latency
    settle(session, lambda: published(latency) == latency.count(), "every point published")
    stats = latency.stats
    assert 0 < stats["delivered"]["p50"] <= stats["delivered"]["p99"] < 5000
    reader = csv.DictReader(io.StringIO(session.store.latency.to_csv()))
    table = list(reader)
    assert reader.fieldnames is not None and reader.fieldnames[:3] == [
        "wall_time",
        "t",
        "message_id",
    ]
    assert {row["message_id"] for row in table} <= {i.message_id for i in items if i}
    assert len(table) == stats["delivered"]["count"] + stats.get("read", {}).get("count", 0)


def test_network_delay_slows_delivery(session: DashboardSession) -> None:
    session.store.bob.delay_ms = 300
    assert session.clients["bob"].network.delay == pytest.approx(0.3)
    item = session.store.alice.send("slow")
    assert item is not None
    settle(session, lambda: state_is(session, item.message_id, R), "read")
    assert item.steps["delivered"] - item.steps["sent"] >= 0.6  # 300 ms each way


def test_peer_typing_shows_in_the_other_pane(session: DashboardSession) -> None:
    session.store.alice.typing()
    settle(session, lambda: session.store.bob.peer_typing, "bob sees alice typing")


def test_automatic_conversation_sends_rate_messages_per_second_in_turns(
    session: DashboardSession,
) -> None:
    session.store.param.update(auto_chat=True, rate=10.0)
    session.drain(now=100.0)  # the first message goes at once
    session.drain(now=100.5)  # half a second at 10/s: five more
    session.store.auto_chat = False
    session.drain(now=101.0)
    alice, bob = session.store.alice.sent_count, session.store.bob.sent_count
    assert (alice, bob) == (3, 3)
    own = [m for store in session.stores.values() for m in store.messages if m.own]
    settle(session, lambda: len(own) == 6 and all(m.state is R for m in own), "all six read")


def test_inspector_lists_frames_and_filters_them(session: DashboardSession) -> None:
    inspector = session.store.inspector
    session.store.alice.send("frame me")
    settle(session, lambda: "client-message-read" in inspector.rows()["event"], "read frame")
    rows = inspector.rows()
    assert {"Alice", "Bob"} <= set(rows["user"]) and {"in", "out"} <= set(rows["direction"])
    refreshed = inspector.refreshed
    inspector.param.update(user="Bob", direction="out", event="MESSAGE-READ")
    assert inspector.refreshed > refreshed
    rows = inspector.rows()
    assert set(rows["event"]) == {"client-message-read"} and set(rows["user"]) == {"Bob"}


def test_clear_history_empties_the_stores(session: DashboardSession) -> None:
    item = session.store.alice.send("to be cleared")
    assert item is not None
    settle(session, lambda: state_is(session, item.message_id, R), "read")
    session.store.clear_history()
    assert session.store.alice.messages == [] and session.store.bob.messages == []
    assert session.store.latency.count() == 0 and session.store.inspector.total == 0


def test_closing_the_session_ends_its_threads_and_accounts(
    runtime: EmbeddedRuntime,
) -> None:
    session = DashboardSession(runtime).start()
    assert session.wait_connected()
    names = tuple(account.user for account in session.accounts)
    session.close()
    assert not [t.name for t in threading.enumerate() if any(n in t.name for n in names)]
    login = requests.post(
        runtime.endpoint.auth_url + "/login",
        json={"user": names[0], "password": session.accounts[0].password},
        timeout=5,
    )
    assert login.status_code == 401
    rest = runtime.rest_client()
    wait_until(
        lambda: not any(names[0] in c for c in rest.channels_info()["channels"]),
        what="the server forgot the session's channels",
    )


def test_server_restart_reconnects_and_resends(open_session: SessionFactory) -> None:
    session = open_session()
    session.store.bob.online = False
    settle(session, lambda: not session.store.alice.peer_online, "bob offline")
    item = session.store.alice.send("before the restart")
    assert item is not None
    settle(session, lambda: state_is(session, item.message_id, S), "one tick")
    session.store.bob.online = True
    session.store.request_restart()
    settle(session, lambda: "restarted" in session.store.server_status, "restart reported")
    settle(session, lambda: state_is(session, item.message_id, R), "resent and read")
    assert session.wait_connected()
