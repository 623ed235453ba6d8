"""ChatClients through the real local server and the real auth server (issue 3, acceptance)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from auth_server import AuthConfig, AuthServerThread, hash_password
from doubletick.client.chat import ChatClient, PresenceChanged
from doubletick.client.link import Backoff
from doubletick.delivery import DeliveryState, EventLog, ReceivedMessage, StatusChange
from doubletick.server import ServerInfo, ServerThread
from tests.waiting import wait_until

PASSWORD = "correct horse"
USERS = ("alice", "bob", "carol")
READY_RE = re.compile(r"ready: (ws://\S+) PUSHER_URL=(\S+)")


class Seen:
    """What one client's observers saw (called on the client's thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.changes: list[StatusChange] = []
        self.received: list[ReceivedMessage] = []
        self.presence: list[PresenceChanged] = []

    def __call__(self, event: object) -> None:
        with self.lock:
            if isinstance(event, StatusChange):
                self.changes.append(event)
            elif isinstance(event, ReceivedMessage):
                self.received.append(event)
            elif isinstance(event, PresenceChanged):
                self.presence.append(event)

    def received_ids(self) -> list[str]:
        with self.lock:
            return [m.id for m in self.received]

    def states_of(self, message_id: str) -> list[DeliveryState]:
        with self.lock:
            return [c.new for c in self.changes if c.message_id == message_id]


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    thread = ServerThread()
    thread.start()
    yield thread
    thread.stop()


def make_auth(pusher_url: str) -> AuthServerThread:
    hashed = hash_password(PASSWORD)
    config = AuthConfig.from_pusher_url(
        pusher_url, users=dict.fromkeys(USERS, hashed), groups={"trio": list(USERS)}
    )
    return AuthServerThread(config).start()


@pytest.fixture(scope="module")
def auth(server: ServerThread) -> Iterator[AuthServerThread]:
    thread = make_auth(server.info.pusher_url)
    yield thread
    thread.stop()


ClientFactory = Callable[..., tuple[ChatClient, Seen]]


@pytest.fixture
def clients(tmp_path: Path) -> Iterator[ClientFactory]:
    made: list[ChatClient] = []

    def make(user: str, ws_url: str, auth_url: str, **options: object) -> tuple[ChatClient, Seen]:
        options.setdefault("backoff", Backoff(first=0.05, cap=0.5))
        client = ChatClient.login(user, PASSWORD, ws_url=ws_url, auth_url=auth_url, **options)
        seen = Seen()
        client.add_observer(seen)
        made.append(client)
        return client.start(), seen

    yield make
    for client in made:
        client.close()


DM, DM_PRESENCE = "private-dm-alice-bob", "presence-dm-alice-bob"


def dm_pair(
    clients: ClientFactory, ws_url: str, auth_url: str, **alice_options: object
) -> tuple[tuple[ChatClient, Seen], tuple[ChatClient, Seen]]:
    """Alice and Bob in their dm conversation, with its presence channel for online state."""
    alice, alice_seen = clients("alice", ws_url, auth_url, **alice_options)
    bob, bob_seen = clients("bob", ws_url, auth_url)
    alice.join(DM, ["bob"], presence=DM_PRESENCE)
    bob.join(DM, ["alice"], presence=DM_PRESENCE)
    return (alice, alice_seen), (bob, bob_seen)


def test_two_clients_reach_delivered_then_read_and_log_every_transition(
    server: ServerThread, auth: AuthServerThread, clients: ClientFactory, tmp_path: Path
) -> None:
    log = EventLog(tmp_path / "events.sqlite")
    (alice, alice_seen), (bob, bob_seen) = dm_pair(
        clients, server.info.ws_url, auth.url, event_log=log
    )
    channel = DM
    message_id = alice.send(channel, "hello bob")
    wait_until(lambda: message_id in bob_seen.received_ids(), what="bob receives")
    wait_until(lambda: alice.message_state(channel, message_id) is DeliveryState.DELIVERED)
    bob.mark_read(channel)
    wait_until(lambda: alice.message_state(channel, message_id) is DeliveryState.READ)
    assert alice_seen.states_of(message_id) == [
        DeliveryState.SENT,
        DeliveryState.DELIVERED,
        DeliveryState.READ,
    ]
    read = next(c for c in alice_seen.changes if c.new is DeliveryState.READ)
    assert read.since_sent is not None and read.since_delivered is not None
    frame = log.to_dataframe()
    assert list(frame[frame.message_id == message_id].state) == ["sent", "delivered", "read"]
    log.close()


def test_a_message_to_an_offline_peer_stays_sent_until_the_peer_returns(
    server: ServerThread, auth: AuthServerThread, clients: ClientFactory
) -> None:
    channel = DM
    (alice, alice_seen), (bob, bob_seen) = dm_pair(clients, server.info.ws_url, auth.url)
    wait_until(lambda: any(p.online for p in alice_seen.presence), what="bob online")
    bob.set_online(False)
    wait_until(lambda: any(not p.online for p in alice_seen.presence), what="bob offline")
    message_id = alice.send(channel, "are you there?")
    wait_until(lambda: alice.message_state(channel, message_id) is DeliveryState.SENT)
    assert message_id not in bob_seen.received_ids()
    bob.set_online(True)
    wait_until(lambda: alice.message_state(channel, message_id) is DeliveryState.DELIVERED)
    assert bob_seen.received_ids().count(message_id) == 1


def test_a_group_message_ticks_only_when_every_member_has_it(
    server: ServerThread, auth: AuthServerThread, clients: ClientFactory
) -> None:
    channel = "presence-group-trio"
    members = {user: clients(user, server.info.ws_url, auth.url) for user in USERS}
    for user, (client, _) in members.items():
        client.join(channel, [u for u in USERS if u != user])
    alice = members["alice"][0]
    bob, bob_seen = members["bob"]
    carol, carol_seen = members["carol"]
    carol.set_online(False)
    wait_until(lambda: carol.state == "disconnected")
    message_id = alice.send(channel, "hi both")
    wait_until(lambda: message_id in bob_seen.received_ids())
    wait_until(lambda: alice.messages(channel) and alice.messages(channel)[0].recipients)
    bob_copy = lambda: {r.recipient: r.state for r in alice.messages(channel)[0].recipients}  # noqa: E731
    wait_until(lambda: bob_copy()["bob"] is DeliveryState.DELIVERED)
    assert alice.message_state(channel, message_id) is DeliveryState.SENT
    carol.set_online(True)
    wait_until(lambda: alice.message_state(channel, message_id) is DeliveryState.DELIVERED)
    bob.mark_read(channel)
    wait_until(lambda: bob_copy()["bob"] is DeliveryState.READ)
    assert alice.message_state(channel, message_id) is DeliveryState.DELIVERED
    carol.mark_read(channel)
    wait_until(lambda: alice.message_state(channel, message_id) is DeliveryState.READ)
    assert carol_seen.received_ids() == [message_id]


# --- the server killed mid-conversation ------------------------------------------------


def start_server_process(port: int = 0) -> tuple[subprocess.Popen[str], str, str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "doubletick.server",
            "--port",
            str(port),
            "--max-client-events-per-second",
            "100",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = READY_RE.search(line)
    assert match, f"no ready line, got {line!r}"
    return process, match.group(1), match.group(2)


def test_a_server_killed_mid_conversation_loses_and_duplicates_nothing(
    clients: ClientFactory,
) -> None:
    process, ws_url, pusher_url = start_server_process()
    port = int(ws_url.split(":")[2].split("/")[0])
    auth = make_auth(pusher_url)
    try:
        channel = "private-dm-alice-bob"
        alice, _ = clients("alice", ws_url, auth.url, client_events_per_second=50)
        bob, bob_seen = clients("bob", ws_url, auth.url, client_events_per_second=50)
        alice.join(channel, ["bob"], presence="presence-dm-alice-bob")
        bob.join(channel, ["alice"], presence="presence-dm-alice-bob")
        ids = [alice.send(channel, f"message {i}") for i in range(10)]
        wait_until(lambda: len(bob_seen.received_ids()) >= 3, what="conversation under way")
        process.send_signal(signal.SIGKILL)
        process.wait()
        ids += [alice.send(channel, f"while down {i}") for i in range(5)]
        process, _, _ = start_server_process(port)
        wait_until(
            lambda: all(alice.message_state(channel, i) is DeliveryState.DELIVERED for i in ids),
            timeout=30,
            what="every message delivered",
        )
        received = bob_seen.received_ids()
        assert sorted(received) == sorted(ids)
        assert len(received) == len(set(received))
    finally:
        process.kill()
        process.wait()
        auth.stop()


def test_server_info_urls_agree(server: ServerThread) -> None:
    info: ServerInfo = server.info
    assert info.ws_url.endswith(f":{info.port}/app/{info.key}")
    assert (
        info.pusher_url
        == f"http://{info.key}:{info.secret}@127.0.0.1:{info.port}/apps/{info.app_id}"
    )


def test_presence_is_learned_again_after_the_server_restarts(
    server: ServerThread, auth: AuthServerThread, clients: ClientFactory
) -> None:
    (_, alice_seen), _ = dm_pair(clients, server.info.ws_url, auth.url)
    wait_until(lambda: [p.online for p in alice_seen.presence] == [True], what="bob online")
    server.restart()
    wait_until(
        lambda: [p.online for p in alice_seen.presence] == [True, False, True],
        what="offline while away, online again after reconnecting",
    )


def test_a_long_conversation_keeps_a_bounded_history(
    server: ServerThread, auth: AuthServerThread, clients: ClientFactory
) -> None:
    channel = "private-dm-alice-bob"
    alice, _ = clients("alice", server.info.ws_url, auth.url, keep_settled=3)
    bob, bob_seen = clients("bob", server.info.ws_url, auth.url)
    alice.join(channel, ["bob"])
    bob.join(channel, ["alice"])
    ids = [alice.send(channel, f"n{i}") for i in range(12)]
    wait_until(lambda: len(bob_seen.received_ids()) == 12, what="all received")
    wait_until(lambda: alice.message_state(channel, ids[-1]) is DeliveryState.DELIVERED)
    kept = [info.id for info in alice.messages(channel)]
    assert len(kept) <= 2 * 3
    assert kept[-1] == ids[-1]
