"""The yardstick: a minimal Pusher relay on the same transport as our server (aiohttp).

It speaks just enough Pusher for the benchmark clients: `pusher:connection_established`,
`pusher:subscribe` answered by `pusher_internal:subscription_succeeded` (no auth checked),
`pusher:ping` answered by `pusher:pong`, and client events relayed to the channel's other
subscribers. `POST /trigger` broadcasts the published event as one pre-encoded frame written to
every subscriber's transport: the raw broadcast rate of aiohttp, with an HTTP request per
publish as our REST API has.

    python -m bench.minimal --host 127.0.0.1 --port 0
    -> minimal server ready: ws://HOST:PORT/app/KEY TRIGGER_URL=http://HOST:PORT/trigger
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import struct

from aiohttp import WSMsgType, web

KEY = "app-key"
MAX_LIFETIME = 3600.0  # a forgotten server ends by itself

_counter = itertools.count(1)
_Subscribers = dict[web.WebSocketResponse, asyncio.BaseTransport]
CHANNELS = web.AppKey("channels", dict[str, _Subscribers])
FRAMES = web.AppKey("frames", dict[bytes, tuple[str, bytes]])


def text_frame(payload: bytes) -> bytes:
    """An unmasked WebSocket text frame."""
    length = len(payload)
    if length < 126:
        return bytes((0x81, length)) + payload
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _channel_of(data: object) -> str | None:
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    channel = data.get("channel") if isinstance(data, dict) else None
    return channel if isinstance(channel, str) else None


async def _handle_frame(
    ws: web.WebSocketResponse,
    transport: asyncio.BaseTransport,
    channels: dict[str, _Subscribers],
    text: str,
) -> None:
    try:
        frame = json.loads(text)
    except ValueError:
        return
    if not isinstance(frame, dict):
        return
    event = frame.get("event")
    if event == "pusher:subscribe":
        channel = _channel_of(frame.get("data"))
        if channel is not None:
            channels.setdefault(channel, {})[ws] = transport
            answer = {"event": "pusher_internal:subscription_succeeded", "channel": channel}
            await ws.send_str(_dumps({**answer, "data": "{}"}))
    elif event == "pusher:ping":
        await ws.send_str('{"event":"pusher:pong","data":"{}"}')
    elif isinstance(event, str) and event.startswith("client-"):
        channel = frame.get("channel")
        subscribers = channels.get(channel, {}) if isinstance(channel, str) else {}
        out = _dumps({"event": event, "channel": channel, "data": frame.get("data")})
        for other in list(subscribers):
            if other is not ws:
                await other.send_str(out)


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    transport = request.transport
    assert transport is not None
    channels = request.app[CHANNELS]
    socket_id = f"1.{next(_counter)}"
    established = _dumps({"socket_id": socket_id, "activity_timeout": 120})
    await ws.send_str(_dumps({"event": "pusher:connection_established", "data": established}))
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await _handle_frame(ws, transport, channels, message.data)
    finally:
        for subscribers in channels.values():
            subscribers.pop(ws, None)
    return ws


async def trigger(request: web.Request) -> web.Response:
    """Broadcast the posted `{name, channel, data}` as one frame built once per body."""
    body = await request.read()
    frames = request.app[FRAMES]
    if body not in frames:
        event = json.loads(body)
        wire = {"event": event["name"], "channel": event["channel"], "data": event["data"]}
        frames[body] = (event["channel"], text_frame(_dumps(wire).encode()))
    channel, frame = frames[body]
    for transport in request.app[CHANNELS].get(channel, {}).values():
        if not transport.is_closing():
            transport.write(frame)  # type: ignore[attr-defined]
    return web.Response(text="{}", content_type="application/json")


def make_app() -> web.Application:
    app = web.Application()
    app[CHANNELS] = {}
    app[FRAMES] = {}
    app.router.add_get("/app/{key}", websocket)
    app.router.add_post("/trigger", trigger)
    return app


async def serve(host: str, port: int, lifetime: float) -> None:
    runner = web.AppRunner(make_app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    base = f"{bound_host}:{bound_port}"
    print(
        f"minimal server ready: ws://{base}/app/{KEY} TRIGGER_URL=http://{base}/trigger",
        flush=True,
    )
    try:
        await asyncio.sleep(lifetime)
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--lifetime", type=float, default=MAX_LIFETIME)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    if args.loop == "uvloop":  # as our server's CLI does: compare like with like
        import uvloop

        uvloop.run(serve(args.host, args.port, args.lifetime))
    else:
        asyncio.run(serve(args.host, args.port, args.lifetime))


if __name__ == "__main__":
    main()
