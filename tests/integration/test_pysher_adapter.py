"""The pysher adapter against the real local server: one test per pysher bug it absorbs
(CLIENTS.md, "Bugs to absorb"), plus reconnect and resubscribe behaviour."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator

import pytest

from doubletick.client.auth import LocalSigner
from doubletick.client.link import (
    Backoff,
    ChannelEvent,
    LinkEvent,
    PusherLink,
    StateChanged,
    Subscribed,
    SubscriptionFailed,
)
from doubletick.server import ServerInfo, ServerThread
from tests.waiting import wait_until


class Recorder:
    """Collects a link's events (they arrive on the link's actor thread)."""

    def __init__(self) -> None:
        self.events: list[LinkEvent] = []
        self._lock = threading.Lock()

    def __call__(self, event: LinkEvent) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type) -> list:
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]

    def states(self) -> list[str]:
        return [e.current for e in self.of(StateChanged)]

    def subscribed(self, channel: str) -> int:
        return sum(1 for e in self.of(Subscribed) if e.channel == channel)


@pytest.fixture
def server() -> Iterator[ServerThread]:
    thread = ServerThread()
    thread.start()
    yield thread
    thread.stop()


def make_link(info: ServerInfo, recorder: Recorder, **options: object) -> PusherLink:
    signer = LocalSigner(info.key, info.secret, {"user_id": "u1", "user_info": {}})
    options.setdefault("backoff", Backoff(first=0.05, cap=0.5))
    return PusherLink(info.ws_url, recorder, authorizer=signer, **options)  # type: ignore[arg-type]


def pysher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "PysherEventLoop"]


def test_bug1_close_ends_pyshers_socket_thread_at_once(server: ServerThread) -> None:
    recorder = Recorder()
    link = make_link(server.info, recorder).start()
    wait_until(lambda: link.state == "connected", what="connected")
    before = set(pysher_threads())
    assert before
    link.close()
    # close() joins with a deadline of a few seconds; pysher alone can block ~100 s
    assert not any(t.is_alive() for t in before)
    assert recorder.states()[-1] == "closed"


def test_bug2_the_adapter_owns_the_backoff_when_the_server_is_gone(server: ServerThread) -> None:
    recorder = Recorder()
    link = make_link(server.info, recorder, backoff=Backoff(first=0.02, cap=0.2)).start()
    try:
        wait_until(lambda: link.state == "connected")
        server.stop()  # graceful: pysher gets 4200, which alone would make it retry 0 s forever
        wait_until(lambda: recorder.states().count("unavailable") >= 5, what="5 retries")
        retries = [e for e in recorder.of(StateChanged) if e.current == "unavailable"]
        delays = [float(e.reason.split()[2].rstrip("s")) for e in retries]
        assert all(d > 0 for d in delays)
        assert delays[3] > delays[0]  # it backs off
    finally:
        link.close()


def test_bug3_private_channels_resubscribe_with_fresh_auth_after_a_restart(
    server: ServerThread,
) -> None:
    recorder = Recorder()
    link = make_link(server.info, recorder).start()
    try:
        link.subscribe("private-room")
        wait_until(lambda: recorder.subscribed("private-room") == 1)
        server.restart()
        wait_until(lambda: recorder.subscribed("private-room") == 2, what="resubscribed")
        assert not recorder.of(SubscriptionFailed)
    finally:
        link.close()


def test_bug5_a_failing_observer_does_not_stop_the_link(server: ServerThread) -> None:
    recorder = Recorder()
    calls = []

    def explode(event: LinkEvent) -> None:
        recorder(event)
        calls.append(event)
        raise RuntimeError("observer bug")

    link = make_link(server.info, explode).start()  # type: ignore[arg-type]
    try:
        link.subscribe("private-a")
        link.subscribe("private-b")
        wait_until(lambda: recorder.subscribed("private-a") and recorder.subscribed("private-b"))
        assert link.state == "connected"
    finally:
        link.close()


def test_bug6_subscriptions_from_another_thread_never_lose_their_success(
    server: ServerThread,
) -> None:
    recorder = Recorder()
    link = make_link(server.info, recorder).start()
    try:
        wait_until(lambda: link.state == "connected")
        channels = [f"private-c{i}" for i in range(60)]
        worker = threading.Thread(target=lambda: [link.subscribe(c) for c in channels])
        worker.start()
        worker.join()
        wait_until(lambda: all(recorder.subscribed(c) for c in channels), what="all subscribed")
    finally:
        link.close()


def test_bug7_subscribing_before_the_connection_exists_signs_the_real_socket_id(
    server: ServerThread,
) -> None:
    recorder = Recorder()
    link = make_link(server.info, recorder)
    link.subscribe("private-early")
    link.start()
    try:
        wait_until(lambda: recorder.subscribed("private-early") == 1)
        assert not recorder.of(SubscriptionFailed)
    finally:
        link.close()


def test_bug8_an_unknown_app_key_fails_without_reconnecting(server: ServerThread) -> None:
    recorder = Recorder()
    info = server.info
    wrong = dataclasses.replace(info, key="nope")
    link = make_link(wrong, recorder).start()
    try:
        wait_until(lambda: link.state == "failed", what="failed")
        assert recorder.states().count("connecting") == 1
    finally:
        link.close()


def test_bug9_pysher_logs_at_warning_and_above(server: ServerThread) -> None:
    recorder = Recorder()
    link = make_link(server.info, recorder).start()
    try:
        wait_until(lambda: link.state == "connected")
        assert logging.getLogger("pysher.connection").level == logging.WARNING
    finally:
        link.close()


def test_client_events_flow_between_two_links_without_echo(server: ServerThread) -> None:
    a, b = Recorder(), Recorder()
    link_a = make_link(server.info, a, events=["client-ping"]).start()
    link_b = make_link(server.info, b, events=["client-ping"]).start()
    try:
        for link, rec in ((link_a, a), (link_b, b)):
            link.subscribe("private-pair")
            wait_until(lambda rec=rec: rec.subscribed("private-pair"))
        sent = threading.Event()
        link_a.post(
            lambda: sent.set() if link_a.trigger("private-pair", "client-ping", {"n": 1}) else None
        )
        wait_until(lambda: b.of(ChannelEvent), what="b receives")
        assert sent.is_set()
        assert b.of(ChannelEvent)[0].data == {"n": 1}
        assert not a.of(ChannelEvent)
    finally:
        link_a.close()
        link_b.close()


def test_going_offline_and_back_reconnects_and_resubscribes(server: ServerThread) -> None:
    recorder = Recorder()
    link = make_link(server.info, recorder).start()
    try:
        link.subscribe("private-x")
        wait_until(lambda: recorder.subscribed("private-x") == 1)
        link.set_online(False)
        wait_until(lambda: link.state == "disconnected")
        link.set_online(True)
        wait_until(lambda: recorder.subscribed("private-x") == 2)
    finally:
        link.close()
