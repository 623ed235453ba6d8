"""Real Node clients for tests: pusher-js (long-running driver) and the Node `pusher` SDK.

Both need Node and `make node`; without them a test skips (locally) or fails (CI=true).

PusherJsDriver runs `node tests/node/pusher_js_driver.mjs`, which holds any number of named
pusher-js 8.6.0 clients. The API is synchronous and thread-safe: use it from plain tests, or
from tests whose server runs in a background thread (from a coroutine sharing the server's
event loop use `await asyncio.to_thread(driver.send, ...)`, or the blocking calls stall it).

    with PusherJsDriver() as js:
        js.connect("a", key="app-key", port=port)            # waits for state "connected"
        js.subscribe("a", "private-room")                    # waits for subscription_succeeded
        js.send("trigger", client="a", channel="private-room", event="client-x", data={"n": 1})
        js.wait_for({"type": "event", "client": "b", "event": "client-x"})

Ops (`send(op, **fields)` returns the ack's `result`, raises DriverError on an error reply):
    ping                                   -> "pong"
    connect {client, key, wsPort, wsHost="127.0.0.1", wssPort=wsPort, forceTLS=false,
             enabledTransports=["ws"], cluster="local", wsPath?, activityTimeout?, pongTimeout?,
             unavailableTimeout? (ms), authEndpoint? | channelAuthorization? {endpoint, headers?,
             params?, transport="ajax"}, userAuthentication? {endpoint, headers?, params?},
             options? (raw pusher-js options, applied last)}
                                           -> {client}  (a client of the same name is dropped)
    subscribe {client, channel}            -> true  (pusher.subscribe; all its events reported)
    unsubscribe {client, channel}          -> true
    bind {client, event, channel?}         -> true  (channel.bind, or pusher.bind without channel)
    bind_global {client}                   -> true  (pusher.bind_global)
    trigger {client, channel, event, data} -> bool  (channel.trigger: false if not connected;
                                                     error if event lacks the client- prefix)
    send_event {client, event, data, channel?} -> bool (raw pusher.send_event, no checks)
    signin {client}                        -> true  (pusher.signin())
    disconnect {client} / reconnect {client} -> true (pusher.disconnect() / pusher.connect())
    state {client}                         -> {state, socket_id}
    channels {client}                      -> [{name, subscribed}]
    members {client, channel}              -> {me: {id, info}|null, count, members: [{id, info}]}
    user {client}                          -> pusher.user.user_data (after signin) or null
    tutorial_autoack {client, channel, event="client-message-added",
                      reply="client-message-delivered"}
                                           -> true; then every incoming `event` {id, message}
                                              is answered with `reply` {id} on that channel
    exit                                   -> true, then the process disconnects all and exits

Reports (dicts, in arrival order; every one has "type"):
    {"type":"ready","pid","pusher_js"}                         once, at start
    {"type":"ack","id","op","result"} / {"type":"error","id","op","message"}
    {"type":"state","client","previous","current","socket_id"} every connection state change
        (states: initialized connecting connected unavailable failed disconnected)
    {"type":"message","client","event","channel"?,"data"?,"user_id"?}
        every frame pusher-js decoded after the handshake, as the wire had it (data already
        JSON-decoded by pusher-js when it was a JSON string), incl. pusher_internal:*, ping/pong
    {"type":"event","client","channel","event","data","user_id"?}
        what the application sees: every event of a subscribed channel (channel.bind_global:
        pusher:subscription_succeeded, pusher:subscription_error, pusher:subscription_count,
        pusher:cache_miss, pusher:member_added/removed, client-*, server events) and every
        connection-level event (channel null: pusher:error, pusher:signin_success, ...).
        For presence, subscription_succeeded data is {me, count, members} and member events
        carry data {id, info}.
    {"type":"event",...,"source":"user"}  pusher.user events: server-to-user events (channel
        "#server-to-user-<id>") and pusher:signin_error
    {"type":"bound",...} / {"type":"global","client","event","data"}   from bind / bind_global
    {"type":"connection_error","client","error":{type, data?, error?...}}   connection "error"
    {"type":"autoack","client","channel","id","result"}          tutorial_autoack answered one
    {"type":"crash","message"}                                   uncaught exception in Node
"""

from __future__ import annotations

import collections
import itertools
import json
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.requirements import require, require_path

NODE_DIR = Path(__file__).resolve().parent / "node"
DRIVER = NODE_DIR / "pusher_js_driver.mjs"
SDK = NODE_DIR / "sdk.mjs"
DEFAULT_TIMEOUT = 10.0

Report = dict[str, Any]
Predicate = Callable[[Report], object] | Mapping[str, Any]


class DriverError(RuntimeError):
    """The driver answered a command with an error, or died."""


def require_node() -> str:
    """Path of `node`; skip (locally) or fail (CI) when Node or the node_modules are missing."""
    node = require("node", why="Node clients (pusher-js, the pusher SDK)")
    require_path(str(NODE_DIR / "node_modules"), why="run make node")
    return node


def matches(report: Report, predicate: Predicate) -> bool:
    """A mapping predicate matches when every one of its items is in the report."""
    if callable(predicate):
        return bool(predicate(report))
    return all(key in report and report[key] == value for key, value in predicate.items())


class PusherJsDriver:
    """One `node pusher_js_driver.mjs` process holding named pusher-js clients."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        node = require_node()
        self.timeout = timeout
        self._reports: list[Report] = []
        self._changed = threading.Condition()
        self._ids = itertools.count(1)
        self._write_lock = threading.Lock()
        self._stderr: collections.deque[str] = collections.deque(maxlen=200)
        self._exited = False
        self._proc = subprocess.Popen(
            [node, str(DRIVER)],
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._threads = [
            threading.Thread(target=self._read_stdout, name="pusher-js-stdout", daemon=True),
            threading.Thread(target=self._read_stderr, name="pusher-js-stderr", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        try:
            self.wait_for({"type": "ready"})
        except BaseException:
            self.close()
            raise

    # -- reading ---------------------------------------------------------------------------

    def _read_stdout(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                report = json.loads(line)
            except json.JSONDecodeError:
                report = {"type": "noise", "line": line.rstrip("\n")}
            with self._changed:
                self._reports.append(report)
                self._changed.notify_all()
        with self._changed:
            self._exited = True
            self._changed.notify_all()

    def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line.rstrip("\n"))

    # -- the API ---------------------------------------------------------------------------

    @property
    def reports(self) -> list[Report]:
        """A snapshot of every report so far."""
        with self._changed:
            return list(self._reports)

    def mark(self) -> int:
        """The number of reports so far: pass it as `since` to wait only for newer ones."""
        with self._changed:
            return len(self._reports)

    def wait_for(
        self,
        predicate: Predicate,
        timeout: float | None = None,
        *,
        since: int = 0,
        what: str = "",
    ) -> Report:
        """The first report at index >= `since` that matches, waiting for it if needed."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        index = since
        with self._changed:
            while True:
                for report in self._reports[index:]:
                    if matches(report, predicate):
                        return report
                index = len(self._reports)
                if self._exited:
                    raise DriverError(self._diagnose(f"driver exited while waiting for {what}"))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        self._diagnose(f"timed out waiting for {what or predicate}")
                    )
                self._changed.wait(remaining)

    def send(self, op: str, *, timeout: float | None = None, **fields: Any) -> Any:
        """Send one command and return its ack's result (DriverError on an error reply)."""
        command_id = next(self._ids)
        line = json.dumps({"id": command_id, "op": op, **fields}) + "\n"
        since = self.mark()
        with self._write_lock:
            if self._proc.stdin is None or self._proc.stdin.closed:
                raise DriverError("driver is closed")
            try:
                self._proc.stdin.write(line)
                self._proc.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                raise DriverError(self._diagnose(f"driver stdin is gone: {exc}")) from exc
        reply = self.wait_for(
            lambda r: r.get("id") == command_id and r.get("type") in {"ack", "error"},
            timeout,
            since=since,
            what=f"the answer to {op} #{command_id}",
        )
        if reply["type"] == "error":
            raise DriverError(f"{op} failed: {reply['message']}")
        return reply.get("result")

    def events(
        self, client: str, event: str | None = None, channel: str | None = None
    ) -> list[Report]:
        """Events the application of `client` saw so far (reports of type "event")."""
        return [
            r
            for r in self.reports
            if r.get("type") == "event"
            and r.get("client") == client
            and (event is None or r.get("event") == event)
            and (channel is None or r.get("channel") == channel)
        ]

    def wait_for_event(
        self,
        client: str,
        event: str,
        channel: str | None = None,
        *,
        since: int = 0,
        timeout: float | None = None,
    ) -> Report:
        """The first matching "event" report at index >= `since`."""
        predicate: dict[str, Any] = {"type": "event", "client": client, "event": event}
        if channel is not None:
            predicate["channel"] = channel
        return self.wait_for(predicate, timeout, since=since)

    def wait_for_state(
        self, client: str, state: str, *, since: int = 0, timeout: float | None = None
    ) -> Report:
        """The first change of `client` into `state` at index >= `since`."""
        predicate = {"type": "state", "client": client, "current": state}
        return self.wait_for(predicate, timeout, since=since)

    def connect(
        self,
        client: str,
        *,
        key: str,
        port: int,
        host: str = "127.0.0.1",
        wait: bool = True,
        **options: Any,
    ) -> str | None:
        """Create client `client`; with `wait`, wait until connected and return its socket_id.

        `options` are the driver's connect fields (authEndpoint, channelAuthorization,
        userAuthentication, activityTimeout, ...).
        """
        since = self.mark()
        self.send("connect", client=client, key=key, wsHost=host, wsPort=port, **options)
        if not wait:
            return None
        socket_id: str | None = self.wait_for_state(client, "connected", since=since)["socket_id"]
        return socket_id

    def subscribe(self, client: str, channel: str, *, timeout: float | None = None) -> Report:
        """Subscribe and wait for pusher:subscription_succeeded or pusher:subscription_error."""
        since = self.mark()
        self.send("subscribe", client=client, channel=channel)
        outcomes = {"pusher:subscription_succeeded", "pusher:subscription_error"}
        return self.wait_for(
            lambda r: (
                r.get("type") == "event"
                and r.get("client") == client
                and r.get("channel") == channel
                and r.get("event") in outcomes
            ),
            timeout,
            since=since,
            what=f"{client} subscribing to {channel}",
        )

    def close(self) -> None:
        """Ask the driver to exit, kill it if it does not, and reap it (no zombies)."""
        proc = self._proc
        if proc.poll() is None:
            with self._write_lock:
                try:
                    if proc.stdin is not None and not proc.stdin.closed:
                        proc.stdin.close()  # EOF: the driver disconnects its clients and exits
                except (BrokenPipeError, OSError):
                    pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for thread in self._threads:
            thread.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> PusherJsDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _diagnose(self, message: str) -> str:
        tail = "\n".join(json.dumps(r) for r in self._reports[-15:])
        stderr = "\n".join(list(self._stderr)[-15:])
        return f"{message}\n-- last reports:\n{tail}\n-- last stderr:\n{stderr}"


def node_sdk(config: Mapping[str, Any], call: str, *args: Any, timeout: float = 20.0) -> Any:
    """One call of the Node `pusher` SDK through tests/node/sdk.mjs; returns its JSON answer.

    `config` is the SDK's constructor options ({appId, key, secret, host, port}; useTLS
    defaults to false, timeout to 10000 ms). Answers:
      HTTP calls (trigger, triggerBatch, get, post, sendToUser, terminateUserConnections):
        {"status", "body"} or {"error", "status"?, "body"?, "cause"?}
      local calls (authorizeChannel, authenticateUser, createSignedQueryString, version):
        {"result"} or {"error"}
      webhook ({"headers": {...}, "body": "<raw>"}): {"isValid", "events", "time_ms"}
    """
    node = require_node()
    request = json.dumps({"config": dict(config), "call": call, "args": list(args)})
    done = subprocess.run(
        [node, str(SDK), request],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise DriverError(
            f"sdk.mjs {call} exited {done.returncode}: {done.stdout.strip()} {done.stderr.strip()}"
        )
    return json.loads(lines[-1])
