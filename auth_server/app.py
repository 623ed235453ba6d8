"""The HTTP application: ``/login``, ``/pusher/auth``, ``/pusher/user-auth``, ``/health``.

Every answer is JSON; errors are ``{"error": "..."}`` with the matching status. Bad input from
a client is a 4xx, never a 500, and never stops the server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pusher
from aiohttp import web

from auth_server.config import AuthConfig, is_name
from auth_server.passwords import dummy_hash, verify_password
from auth_server.policy import (
    CHANNEL_RE,
    SOCKET_ID_RE,
    may_join,
    presence_user_data,
    signin_user_data,
)
from auth_server.throttle import LoginThrottle
from auth_server.tokens import TokenError, issue_token, verify_token

log = logging.getLogger(__name__)

CONFIG = web.AppKey("config", AuthConfig)
SIGNER = web.AppKey("signer", pusher.Pusher)
THROTTLE = web.AppKey("throttle", LoginThrottle)
MAX_BODY_BYTES = 16 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ClientError(Exception):
    """A 4xx answer whose JSON body says what was wrong."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def create_app(config: AuthConfig) -> web.Application:
    """The aiohttp application for `config`; run it with any aiohttp runner."""
    app = web.Application(
        middlewares=[cors_middleware, error_middleware], client_max_size=MAX_BODY_BYTES
    )
    app[CONFIG] = config
    app[SIGNER] = pusher.Pusher(
        app_id=config.app_id,
        key=config.key,
        secret=config.secret,
        ssl=config.pusher_ssl,
        host=config.pusher_host,
        port=config.pusher_port,
    )
    app[THROTTLE] = LoginThrottle(
        config.failure_base_delay, config.failure_max_delay, config.failure_memory
    )
    app.router.add_get("/health", health)
    app.router.add_post("/login", login)
    app.router.add_post("/pusher/auth", channel_auth)
    app.router.add_post("/pusher/user-auth", user_auth)
    return app


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def login(request: web.Request) -> web.Response:
    config, throttle = request.app[CONFIG], request.app[THROTTLE]
    fields = await read_fields(request, "user", "password")
    user, password = fields["user"], fields["password"]
    user_key = f"user:{user}" if is_name(user) else None
    keys = [key for key in (user_key, f"addr:{request.remote}") if key]
    async with throttle.serialized(keys):
        stored = config.users.get(user) if user_key else None
        matches = await asyncio.to_thread(verify_password, password, stored or dummy_hash())
        if not (matches and stored):
            delay = throttle.record_failure(keys)
            log.info("failed login for %r from %s; answering in %.2fs", user, request.remote, delay)
            await asyncio.sleep(delay)
            raise ClientError(401, "invalid user or password")
        throttle.record_success(f"user:{user}")
    expires_at = int(time.time() + config.token_ttl)
    return web.json_response(
        {
            "token": issue_token(config.token_secret, user, expires_at),
            "user": user,
            "user_data": presence_user_data(config, user),
            "expires_at": expires_at,
        }
    )


async def channel_auth(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    user = signed_in_user(request)
    fields = await read_fields(request, "socket_id", "channel_name")
    socket_id, channel = valid_socket_id(fields), fields["channel_name"]
    if not CHANNEL_RE.fullmatch(channel):
        raise ClientError(400, "channel_name is missing or not a valid channel name")
    if not may_join(user, channel, config.groups):
        raise ClientError(403, f"{user} may not join {channel}")
    custom_data = presence_user_data(config, user) if channel.startswith("presence-") else None
    return _signed(lambda: request.app[SIGNER].authenticate(channel, socket_id, custom_data))


async def user_auth(request: web.Request) -> web.Response:
    user = signed_in_user(request)
    socket_id = valid_socket_id(await read_fields(request, "socket_id"))
    user_data = signin_user_data(request.app[CONFIG], user)
    return _signed(lambda: request.app[SIGNER].authenticate_user(socket_id, user_data))


def _signed(sign: Callable[[], dict[str, Any]]) -> web.Response:
    """The SDK's answer as JSON; input it refuses (we check first, so rarely) is a 400."""
    try:
        return web.json_response(sign())
    except ValueError as exc:
        raise ClientError(400, str(exc)) from None


def signed_in_user(request: web.Request) -> str:
    """The user named by a valid bearer token that the config still knows; else 401."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing bearer token")
    config = request.app[CONFIG]
    try:
        user = verify_token(config.token_secret, token.strip())
    except TokenError as exc:
        log.info("rejected token from %s: %s", request.remote, exc)
        raise _unauthorized("invalid or expired token") from None
    if user not in config.users:
        raise _unauthorized("unknown user")
    return user


def _unauthorized(message: str) -> ClientError:
    return ClientError(401, message, headers={"WWW-Authenticate": "Bearer"})


def valid_socket_id(fields: Mapping[str, str]) -> str:
    socket_id = fields["socket_id"]
    if not SOCKET_ID_RE.fullmatch(socket_id):
        raise ClientError(400, "socket_id is missing or not of the form 123.456")
    return socket_id


async def read_fields(request: web.Request, *names: str) -> dict[str, str]:
    """The named string fields of a JSON object or form body ("" when absent).

    Other fields are ignored: pysher adds ``user_data`` as repeated form fields on presence.
    """
    if request.content_type == "application/json":
        try:
            body: Any = await request.json()
        except (ValueError, LookupError):  # bad JSON, bad UTF-8, unknown charset
            raise ClientError(400, "body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ClientError(400, "body must be a JSON object")
    else:
        try:
            body = await request.post()
        except (ValueError, LookupError):
            raise ClientError(400, "body is not a valid form") from None
    fields = {name: body.get(name, "") for name in names}
    for name, value in fields.items():
        if not isinstance(value, str):
            raise ClientError(400, f"{name} must be a string")
    return fields


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ClientError as exc:
        return web.json_response({"error": exc.message}, status=exc.status, headers=exc.headers)
    except web.HTTPException as exc:  # aiohttp's own: 404, 405, 413, ...
        if exc.status < 400:
            raise
        response = web.json_response({"error": exc.reason.lower()}, status=exc.status)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("internal error answering %s %s", request.method, request.path)
        return web.json_response({"error": "internal server error"}, status=500)


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """CORS for the configured origins only (``*`` allows any); preflights answered here."""
    origin = request.headers.get("Origin")
    allowed = origin is not None and _origin_allowed(request.app[CONFIG], origin)
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        if not allowed:
            return web.json_response({"error": "origin not allowed"}, status=403)
        response: web.StreamResponse = web.Response(status=204)
        response.headers.update(
            {
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": "Authorization, Content-Type",
                "Access-Control-Max-Age": "600",
            }
        )
    else:
        response = await handler(request)
    if allowed and origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


def _origin_allowed(config: AuthConfig, origin: str) -> bool:
    return origin in config.cors_origins or "*" in config.cors_origins
