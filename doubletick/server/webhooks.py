"""Webhooks (PROTOCOL.md section 13): signed, batched, retried, with delayed "gone" events.

Events wait `webhook_batch_seconds` and go out together as one POST
`{"time_ms", "events"}` per URL, signed with `X-Pusher-Signature`. A non-2xx answer or a
network error is retried with exponential backoff for up to `webhook_max_retry_seconds`.
`channel_vacated` and `member_removed` wait `webhook_delay_seconds` and are dropped, together
with the matching `channel_occupied`/`member_added`, when the channel or member comes back in
time (a page reload is not a departure). At most `webhook_queue_size` events wait per app;
more are dropped with a warning, so memory stays bounded when a receiver is down.

`subscription_count` is throttled as Pusher does: on a channel with more than
`subscription_count_webhook_threshold` subscribers at most one goes out every
`subscription_count_webhook_interval` seconds, and the one that goes out at the end of an
interval carries the latest count.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from doubletick.protocol import frames, signing
from doubletick.server.config import AppConfig, ServerConfig

log = logging.getLogger(__name__)

_MAX_BACKOFF_SECONDS = 60.0
_FIRST_BACKOFF_SECONDS = 1.0

WebhookEvent = dict[str, Any]


@dataclass(slots=True)
class _Throttled:
    """A busy channel's `subscription_count`: when one last went out, and the latest count
    waiting for the end of the interval (with its timer)."""

    sent_at: float
    latest: WebhookEvent | None = None
    timer: asyncio.TimerHandle | None = None


class WebhookSender:
    """Queues, batches and delivers one app's webhooks; does nothing without URLs."""

    def __init__(
        self,
        app: AppConfig,
        server: ServerConfig,
        session: Callable[[], aiohttp.ClientSession],
    ) -> None:
        self._app = app
        self._server = server
        self._session = session
        self._pending: list[WebhookEvent] = []
        self._in_flight = 0  # events inside batches not yet delivered or given up
        self._flush_handle: asyncio.TimerHandle | None = None
        self._delayed: dict[tuple[str, ...], tuple[asyncio.TimerHandle, WebhookEvent]] = {}
        self._throttled: dict[str, _Throttled] = {}  # only channels over the threshold
        self._tasks: set[asyncio.Task[None]] = set()
        self._dropped = 0
        self._closing = False  # shutting down: one attempt per batch, no retries

    @property
    def enabled(self) -> bool:
        return bool(self._app.webhook_urls)

    # -- the events of section 13 ----------------------------------------------------------

    def channel_occupied(self, channel: str) -> None:
        if not self._cancel_delayed(("channel_vacated", channel)):
            self.send({"name": "channel_occupied", "channel": channel})

    def channel_vacated(self, channel: str) -> None:
        self._end_throttle(channel)
        event = {"name": "channel_vacated", "channel": channel}
        self._send_later(("channel_vacated", channel), event)

    def member_added(self, channel: str, user_id: str) -> None:
        if not self._cancel_delayed(("member_removed", channel, user_id)):
            self.send({"name": "member_added", "channel": channel, "user_id": user_id})

    def member_removed(self, channel: str, user_id: str) -> None:
        event = {"name": "member_removed", "channel": channel, "user_id": user_id}
        self._send_later(("member_removed", channel, user_id), event)

    def client_event(
        self, channel: str, event: str, data: object, socket_id: str, user_id: str | None
    ) -> None:
        if not self.enabled:  # the hot path of client events: build nothing
            return
        payload: WebhookEvent = {
            "name": "client_event",
            "channel": channel,
            "event": event,
            "data": data if isinstance(data, str) else frames.dumps(data),
            "socket_id": socket_id,
        }
        if user_id is not None:
            payload["user_id"] = user_id
        self.send(payload)

    def cache_miss(self, channel: str) -> None:
        self.send({"name": "cache_miss", "channel": channel})

    def subscription_count(self, channel: str, count: int) -> None:
        if not self.enabled:
            return
        event = {"name": "subscription_count", "channel": channel, "subscription_count": count}
        busy = count > self._app.subscription_count_webhook_threshold
        if busy and self._app.subscription_count_webhook_interval > 0:
            self._send_throttled(channel, event)
        else:
            self._end_throttle(channel)
            self.send(event)

    # -- subscription_count throttling -----------------------------------------------------

    def _send_throttled(self, channel: str, event: WebhookEvent) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        interval = self._app.subscription_count_webhook_interval
        throttled = self._throttled.get(channel)
        if throttled is None or (throttled.timer is None and now - throttled.sent_at >= interval):
            self._throttled[channel] = _Throttled(sent_at=now)
            self.send(event)
            return
        throttled.latest = event
        if throttled.timer is None:
            delay = throttled.sent_at + interval - now
            throttled.timer = loop.call_later(delay, self._send_latest, channel)

    def _send_latest(self, channel: str) -> None:
        throttled = self._throttled[channel]
        throttled.timer = None
        throttled.sent_at = asyncio.get_running_loop().time()
        if throttled.latest is not None:
            self.send(throttled.latest)
            throttled.latest = None

    def _end_throttle(self, channel: str) -> None:
        """The channel is no longer busy: forget its throttle (and a count now outdated)."""
        throttled = self._throttled.pop(channel, None)
        if throttled is not None and throttled.timer is not None:
            throttled.timer.cancel()

    # -- queueing --------------------------------------------------------------------------

    def send(self, event: WebhookEvent) -> None:
        """Queue one event for the next batch (dropped, with a warning, when full)."""
        if not self.enabled:
            return
        if len(self._pending) + self._in_flight >= self._server.webhook_queue_size:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 1000 == 0:
                log.warning("webhook queue full: dropped %d events so far", self._dropped)
            return
        self._pending.append(event)
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(self._app.webhook_batch_seconds, self._flush)

    def _send_later(self, key: tuple[str, ...], event: WebhookEvent) -> None:
        if not self.enabled:
            return
        delay = self._app.webhook_delay_seconds
        if delay <= 0:
            self.send(event)
            return
        self._cancel_delayed(key)
        handle = asyncio.get_running_loop().call_later(delay, self._fire_delayed, key)
        self._delayed[key] = (handle, event)

    def _fire_delayed(self, key: tuple[str, ...]) -> None:
        entry = self._delayed.pop(key, None)
        if entry is not None:
            self.send(entry[1])

    def _cancel_delayed(self, key: tuple[str, ...]) -> bool:
        entry = self._delayed.pop(key, None)
        if entry is None:
            return False
        entry[0].cancel()
        return True

    def _flush(self) -> None:
        self._flush_handle = None
        batch, self._pending = self._pending, []
        if not batch:
            return
        body = frames.dumps({"time_ms": int(time.time() * 1000), "events": batch}).encode()
        for url in self._app.webhook_urls:
            self._in_flight += len(batch)
            task = asyncio.get_running_loop().create_task(self._deliver(url, body, len(batch)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, body: bytes, count: int) -> None:
        headers = {
            "Content-Type": "application/json",
            "X-Pusher-Key": self._app.key,
            "X-Pusher-Signature": signing.webhook_signature(self._app.secret, body),
        }
        deadline = time.monotonic() + self._server.webhook_max_retry_seconds
        delay = _FIRST_BACKOFF_SECONDS
        try:
            while not await self._post(url, body, headers):
                if self._closing or time.monotonic() + delay > deadline:
                    log.warning("webhook to %s: giving up on %d events", url, count)
                    return
                await asyncio.sleep(delay)  # backoff between retries
                delay = min(delay * 2, _MAX_BACKOFF_SECONDS)
        finally:
            self._in_flight -= count

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> bool:
        timeout = aiohttp.ClientTimeout(total=self._server.webhook_timeout)
        try:
            async with self._session().post(
                url, data=body, headers=headers, timeout=timeout
            ) as response:
                if 200 <= response.status < 300:
                    return True
                log.warning("webhook to %s answered %d: will retry", url, response.status)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("webhook to %s failed (%s): will retry", url, exc or type(exc).__name__)
        return False

    # -- shutdown --------------------------------------------------------------------------

    async def close(self, grace: float) -> None:
        """Send what is waiting (delayed events at once, one attempt, no more retries), wait
        up to `grace` seconds, then stop."""
        self._closing = True
        for key in list(self._delayed):
            handle, event = self._delayed.pop(key)
            handle.cancel()
            self.send(event)
        for channel, throttled in list(self._throttled.items()):
            if throttled.timer is not None:
                throttled.timer.cancel()
                self._send_latest(channel)
        self._throttled.clear()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush()
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
