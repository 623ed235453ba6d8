"""CORS on the REST API (PROTOCOL.md section 12), so that a page can query the server.

`cors_origins` lists the origins allowed (`*`: any, the default, as soketi); `()` turns CORS
off. An allowed origin gets `Access-Control-Allow-Origin` on every REST answer, errors
included, and the rate-limit headers are exposed to it. A preflight (`OPTIONS` with
`Access-Control-Request-Method`) is answered here, without signature: 204 for an allowed
origin, 403 for another one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from doubletick.server.state import ServerState
from doubletick.server.websocket import STATE_KEY

_METHODS = "GET, POST, OPTIONS"
_HEADERS = "Accept, Authorization, Content-Type, Origin, X-Requested-With, X-Socket-Id"
_EXPOSED = "Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining"
_PREFLIGHT_MAX_AGE = "86400"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def allowed_origin(allowed: tuple[str, ...], origin: str | None) -> str | None:
    """The `Access-Control-Allow-Origin` value for a request from `origin` (None: none)."""
    if origin is None or not allowed:
        return None
    if "*" in allowed:
        return "*"
    return origin if origin.lower() in {a.lower() for a in allowed} else None


def is_rest_path(state: ServerState, path: str) -> bool:
    prefix = state.config.path_prefix
    return path.startswith((f"{prefix}/apps/", f"{prefix}/users/"))


@web.middleware
async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer preflights and add the CORS headers to the REST API's answers."""
    state = request.app[STATE_KEY]
    if not is_rest_path(state, request.path):
        return await handler(request)
    origin = allowed_origin(state.config.cors_origins, request.headers.get("Origin"))
    preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
    if preflight:
        return _preflight(request, origin)
    response = await handler(request)
    if origin is not None:
        _allow(response, origin)
        response.headers["Access-Control-Expose-Headers"] = _EXPOSED
    return response


def _preflight(request: web.Request, origin: str | None) -> web.Response:
    if origin is None:
        message = f"origin {request.headers.get('Origin', '')[:200]!r} is not in cors_origins"
        return web.json_response({"error": message, "code": 403}, status=403)
    response = web.Response(status=204)
    _allow(response, origin)
    requested = request.headers.get("Access-Control-Request-Headers")
    response.headers["Access-Control-Allow-Methods"] = _METHODS
    response.headers["Access-Control-Allow-Headers"] = requested or _HEADERS
    response.headers["Access-Control-Max-Age"] = _PREFLIGHT_MAX_AGE
    return response


def _allow(response: web.StreamResponse, origin: str) -> None:
    response.headers["Access-Control-Allow-Origin"] = origin
    if origin != "*":
        response.headers["Vary"] = "Origin"
