"""A pusher-js participant that speaks only the classic tutorial's two events chats with our
ChatClient, and with the bot (issue 3, acceptance)."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from auth_server import AuthConfig, AuthServerThread, hash_password
from doubletick.client.chat import ChatClient
from doubletick.client.link import Backoff
from doubletick.delivery import DeliveryState, ReceivedMessage
from doubletick.server import ServerThread
from tests.nodeclients import PusherJsDriver
from tests.waiting import wait_until

pytestmark = pytest.mark.node

PASSWORD = "tutorial"
CHANNEL = "private-dm-alice-bob"


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    thread = ServerThread()
    thread.start()
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def auth(server: ServerThread) -> Iterator[AuthServerThread]:
    users = dict.fromkeys(("alice", "bob"), hash_password(PASSWORD))
    thread = AuthServerThread(AuthConfig.from_pusher_url(server.info.pusher_url, users=users))
    yield thread.start()
    thread.stop()


@pytest.fixture
def page(server: ServerThread, auth: AuthServerThread) -> Iterator[PusherJsDriver]:
    """A pusher-js page logged in as alice, subscribed to the dm channel."""
    login = auth.login("alice", PASSWORD)
    with PusherJsDriver() as js:
        js.connect(
            "page",
            key=server.info.key,
            port=server.info.port,
            channelAuthorization={"endpoint": auth.auth_endpoint, "headers": login.headers},
        )
        report = js.subscribe("page", CHANNEL)
        assert report["event"] == "pusher:subscription_succeeded"
        yield js


def test_a_tutorial_page_and_a_chat_client_chat_both_ways(
    server: ServerThread, auth: AuthServerThread, page: PusherJsDriver
) -> None:
    received: list[ReceivedMessage] = []
    bob = ChatClient.login(
        "bob", PASSWORD, ws_url=server.info.ws_url, auth_url=auth.url, backoff=Backoff(0.05)
    )
    bob.add_observer(lambda e: received.append(e) if isinstance(e, ReceivedMessage) else None)
    page.send("tutorial_autoack", client="page", channel=CHANNEL)
    with bob.start():
        bob.join(CHANNEL, ["alice"])
        wait_until(lambda: bob.link.is_subscribed(CHANNEL), what="bob subscribed")
        # ChatClient -> page: the page's tutorial ack turns the message DELIVERED
        message_id = bob.send(CHANNEL, "hi from python")
        added = page.wait_for_event("page", "client-message-added", channel=CHANNEL)
        assert added["data"]["id"] == message_id
        assert added["data"]["message"] == "hi from python"
        wait_until(lambda: bob.message_state(CHANNEL, message_id) is DeliveryState.DELIVERED)
        # page -> ChatClient: only {id, message}, answered with client-message-delivered {id}
        mark = page.mark()
        page.send(
            "trigger",
            client="page",
            channel=CHANNEL,
            event="client-message-added",
            data={"id": "page-1", "message": "hi from the page"},
        )
        ack = page.wait_for_event("page", "client-message-delivered", channel=CHANNEL, since=mark)
        assert ack["data"]["id"] == "page-1"
        wait_until(lambda: received, what="bob shows the page's message")
        assert (received[0].id, received[0].text, received[0].sender) == (
            "page-1",
            "hi from the page",
            "alice",
        )


def read_json_lines(process: subprocess.Popen[str]) -> queue.Queue[dict[str, Any]]:
    lines: queue.Queue[dict[str, Any]] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(json.loads(line))

    threading.Thread(target=pump, daemon=True).start()
    return lines


def next_line(lines: queue.Queue[dict[str, Any]], **match: object) -> dict[str, Any]:
    """The bot's next stdout line matching `match` (earlier lines are skipped)."""
    while True:
        try:
            line = lines.get(timeout=15)
        except queue.Empty:
            raise AssertionError(f"the bot printed no line matching {match}") from None
        if all(line.get(k) == v for k, v in match.items()):
            return line


def test_the_bot_acknowledges_and_reads_a_tutorial_pages_messages_and_sends_its_own(
    server: ServerThread, auth: AuthServerThread, page: PusherJsDriver
) -> None:
    page.send("tutorial_autoack", client="page", channel=CHANNEL)
    bot = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "doubletick",
            "bot",
            "--user",
            "bob",
            "--password",
            PASSWORD,
            "--auth-url",
            auth.url,
            "--ws-url",
            server.info.ws_url,
            "--channel",
            CHANNEL,
            "--read-after",
            "0.2",
            "--send",
            "hello from the bot",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = read_json_lines(bot)
        sending = next_line(lines, type="sending")
        added = page.wait_for_event("page", "client-message-added", channel=CHANNEL)
        assert added["data"]["message"] == "hello from the bot"
        next_line(lines, type="status", id=sending["id"], state="DELIVERED")
        page.send(
            "trigger",
            client="page",
            channel=CHANNEL,
            event="client-message-added",
            data={"id": "page-2", "message": "hello bot"},
        )
        assert next_line(lines, type="message", id="page-2")["text"] == "hello bot"
        page.wait_for_event("page", "client-message-delivered", channel=CHANNEL)
        read = page.wait_for_event("page", "client-message-read", channel=CHANNEL)
        assert read["data"]["id"] == "page-2"
    finally:
        bot.terminate()
        assert bot.wait(timeout=10) == 0
        assert bot.stdout is not None
        bot.stdout.close()
