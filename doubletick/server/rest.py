"""The HTTP REST API (PROTOCOL.md section 12), on the same port as the WebSocket.

Every request is authenticated (key, timestamp within 600 s, body_md5, signature) before it
is read further, then checked against the app's optional rate limits (`ratelimit`). Errors
answer `{"error": "...", "code": status}` with 400, 401, 403, 404, 413 or 429; nothing a
client sends raises out of a handler.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from aiohttp import web

from doubletick.protocol.channels import is_valid_channel_name
from doubletick.protocol.errors import RemoteProtocolError
from doubletick.protocol.signing import RestAuthError, RestRequest, verify_rest_request
from doubletick.server.ratelimit import RateLimiter
from doubletick.server.rest_events import RestError, parse_batch, parse_event, parse_info
from doubletick.server.runtime import AppRuntime
from doubletick.server.websocket import STATE_KEY

log = logging.getLogger(__name__)

_EVENTS = "backend events (one per channel)"


def json_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message, "code": status}, status=status, headers=headers)


def rate_limit(limiter: RateLimiter | None, points: int, what: str) -> dict[str, str]:
    """Take `points` from an app's limiter: its `X-RateLimit-*` headers, or a 429."""
    if limiter is None:
        return {}
    decision = limiter.consume(points, time.monotonic())
    if not decision.allowed:
        message = f"too many requests: at most {decision.limit} {what} per second"
        raise RestError(429, message, decision.headers())
    return decision.headers()


async def authenticate(request: web.Request) -> tuple[AppRuntime, bytes]:
    """Find the app and check the request's signature; returns the app and the raw body."""
    state = request.app[STATE_KEY]
    app_id = request.match_info.get("app_id")
    if app_id is None:  # /users/{id}/terminate_connections: the key names the app
        runtime = next(
            (r for r in state.runtimes if r.config.key == request.query.get("auth_key")), None
        )
    else:
        runtime = state.by_id.get(app_id)
    if runtime is None:
        raise RestError(404, f"unknown app {app_id or request.query.get('auth_key')!r}")
    body = await request.read()
    params: dict[str, str | list[str]] = {}
    for name in request.query:
        values = request.query.getall(name)
        params[name] = values[0] if len(values) == 1 else values
    signed_path = request.path.removeprefix(state.config.path_prefix)  # as Reverb
    rest_request = RestRequest(request.method, signed_path, params, body)
    try:
        verify_rest_request(rest_request, runtime.config.key, runtime.config.secret, time.time())
    except RestAuthError as exc:
        raise RestError(exc.status, exc.message) from None
    if not runtime.config.enabled:
        raise RestError(403, "application is disabled")
    return runtime, body


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise RestError(400, "request body is not JSON") from None


async def post_events(request: web.Request) -> web.Response:
    runtime, body = await authenticate(request)
    event, info = parse_event(_json_body(body), runtime.config)
    headers = rate_limit(runtime.backend_events, len(event.channels), _EVENTS)
    runtime.publish(event)
    if not info:
        return web.json_response({}, headers=headers)
    channels = {c.name: runtime.channel_attributes(c.name, info) for c in event.channels}
    return web.json_response({"channels": channels}, headers=headers)


async def post_batch_events(request: web.Request) -> web.Response:
    runtime, body = await authenticate(request)
    items = parse_batch(_json_body(body), runtime.config)
    headers = rate_limit(runtime.backend_events, len(items), _EVENTS)
    for event, _info in items:
        runtime.publish(event)
    if not any(info for _event, info in items):
        return web.json_response({}, headers=headers)
    answers = [
        runtime.channel_attributes(event.channels[0].name, info) if info else {}
        for event, info in items
    ]
    return web.json_response({"batch": answers}, headers=headers)


async def authenticate_read(request: web.Request) -> tuple[AppRuntime, dict[str, str]]:
    """A GET request: authenticated, and counted against the app's read limit."""
    runtime, _body = await authenticate(request)
    return runtime, rate_limit(runtime.read_requests, 1, "read requests")


async def get_channels(request: web.Request) -> web.Response:
    runtime, headers = await authenticate_read(request)
    prefix = request.query.get("filter_by_prefix", "")
    info = parse_info(request.query.get("info"), {"user_count", "subscription_count"})
    if "user_count" in info and not prefix.startswith("presence-"):
        raise RestError(400, "info=user_count needs filter_by_prefix=presence-")
    channels = {
        name: runtime.channel_attributes(name, info)
        for name in runtime.registry.occupied_channels(prefix)
    }
    return web.json_response({"channels": channels}, headers=headers)


def _channel_name(request: web.Request, runtime: AppRuntime) -> str:
    name = request.match_info["channel_name"]
    if not is_valid_channel_name(name, runtime.config.max_channel_name_length):
        raise RestError(400, f"invalid channel name {name[:210]!r}")
    return name


async def get_channel(request: web.Request) -> web.Response:
    runtime, headers = await authenticate_read(request)
    name = _channel_name(request, runtime)
    info = parse_info(request.query.get("info"), {"user_count", "subscription_count", "cache"})
    if "user_count" in info and not name.startswith("presence-"):
        raise RestError(400, "info=user_count is only available for presence channels")
    answer: dict[str, object] = {"occupied": runtime.registry.subscription_count(name) > 0}
    answer.update(runtime.channel_attributes(name, info))
    if "cache" in info:
        cached = runtime.registry.cached(name, time.monotonic())
        if cached is not None:
            ttl = max(0, int(cached.expires_at - time.monotonic()))
            answer["cache"] = {"event": cached.event, "data": cached.data, "ttl": ttl}
    return web.json_response(answer, headers=headers)


async def get_channel_users(request: web.Request) -> web.Response:
    runtime, headers = await authenticate_read(request)
    name = _channel_name(request, runtime)
    if not name.startswith("presence-"):
        raise RestError(400, "users are only available for presence channels")
    users = [{"id": user_id} for user_id in runtime.registry.members(name)]
    return web.json_response({"users": users}, headers=headers)


async def terminate_connections(request: web.Request) -> web.Response:
    runtime, _body = await authenticate(request)
    runtime.terminate_user(request.match_info["user_id"])
    return web.json_response({})


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every failure of the REST API answers JSON `{"error", "code"}`; nothing escapes."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except RestError as exc:
        return json_error(exc.status, exc.message, exc.headers)
    except RemoteProtocolError as exc:
        return json_error(400, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_error(exc.status, exc.reason)
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return json_error(500, "internal server error")


def add_routes(app: web.Application, prefix: str = "") -> None:
    """The REST API's routes, under `prefix` (a `path_prefix` such as `/pusher`)."""
    base = prefix + "/apps/{app_id:[0-9]+}"
    app.router.add_post(f"{base}/events", post_events)
    app.router.add_post(f"{base}/batch_events", post_batch_events)
    app.router.add_get(f"{base}/channels", get_channels)
    app.router.add_get(base + "/channels/{channel_name}", get_channel)
    app.router.add_get(base + "/channels/{channel_name}/users", get_channel_users)
    app.router.add_post(base + "/users/{user_id}/terminate_connections", terminate_connections)
    app.router.add_post(prefix + "/users/{user_id}/terminate_connections", terminate_connections)
