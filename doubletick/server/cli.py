"""`doubletick server`: run the local Pusher-compatible server until SIGINT/SIGTERM.

When it listens it prints exactly one line to stdout::

    doubletick server ready: ws://HOST:PORT/app/KEY PUSHER_URL=http://KEY:SECRET@HOST:PORT/apps/ID

A bad configuration prints one line to stderr and exits with status 2. Options given on the
command line override the config file (`--config`): app options apply to its first app.
Every setting is described in `doubletick.server.config`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from doubletick.server.app import start_server
from doubletick.server.config import ConfigError, ServerConfig, load_config, replace_app

# command-line option -> setting of the first app (only applied when given)
_APP_OPTIONS = {
    "app_id": "app_id",
    "key": "key",
    "secret": "secret",
    "webhook_url": "webhook_urls",
    "activity_timeout": "activity_timeout",
    "max_client_events_per_second": "max_client_events_per_second",
    "allowed_origin": "allowed_origins",
    "user_authentication_timeout": "user_authentication_timeout",
}
# command-line option -> setting of the server
_SERVER_OPTIONS = {"cors_origin": "cors_origins", "path_prefix": "path_prefix"}
_REPEATABLE = {"webhook_urls", "allowed_origins", "cors_origins"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=6001, help="port, 0 for any (default 6001)")
    parser.add_argument("--app-id", help="numeric app id (default 1)")
    parser.add_argument("--key", help="app key (default app-key)")
    parser.add_argument("--secret", help="app secret (default app-secret)")
    parser.add_argument(
        "--webhook-url", action="append", metavar="URL", help="webhook receiver (repeatable)"
    )
    parser.add_argument(
        "--activity-timeout", type=int, metavar="SECONDS", help="sent to clients (default 120)"
    )
    parser.add_argument(
        "--max-client-events-per-second", type=int, metavar="N", help="0 = unlimited (default 10)"
    )
    parser.add_argument(
        "--allowed-origin",
        action="append",
        metavar="ORIGIN",
        help="WebSocket Origin allow-list entry, e.g. https://app.example.com or *.example.com "
        "(repeatable; default: any origin; others are refused with 4009)",
    )
    parser.add_argument(
        "--user-authentication-timeout",
        type=float,
        metavar="SECONDS",
        help="close sockets neither signed in nor on a private/presence channel after this "
        "(4009; Pusher uses 30; default 0 = off)",
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        help="origin allowed to call the REST API from a page, e.g. http://localhost:5173 "
        "(repeatable; default *)",
    )
    parser.add_argument(
        "--path-prefix",
        metavar="PREFIX",
        help="serve under PREFIX, e.g. /pusher: WebSocket at PREFIX/app/KEY, REST at "
        "PREFIX/apps/ID (signed without the prefix)",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML file with apps and limits")
    parser.add_argument("--log-level", default="warning", help="logging level (default warning)")


def build_config(args: argparse.Namespace) -> ServerConfig:
    """The config file (or the defaults) with the command-line settings applied (app options
    to its first app)."""
    config = load_config(args.config) if args.config else ServerConfig()
    app_changes = _given(args, _APP_OPTIONS)
    server_changes = _given(args, _SERVER_OPTIONS)
    try:
        if app_changes:
            config = replace_app(config, 0, **app_changes)
        return dataclasses.replace(config, **server_changes) if server_changes else config
    except ConfigError as exc:
        raise ConfigError(f"command line: {exc}") from None


def _given(args: argparse.Namespace, options: dict[str, str]) -> dict[str, Any]:
    """The settings of the options given on the command line."""
    changes: dict[str, Any] = {}
    for option, setting in options.items():
        value = getattr(args, option, None)
        if value is not None:
            changes[setting] = tuple(value) if setting in _REPEATABLE else value
    return changes


def run(args: argparse.Namespace) -> int:
    try:
        config = build_config(args)
        level = logging.getLevelName(str(args.log_level).upper())
        if not isinstance(level, int):
            raise ConfigError(f"unknown log level {args.log_level!r}")
    except ConfigError as exc:
        print(f"doubletick server: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return _run_loop(_serve(config, args.host, args.port))


def _run_loop(main: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    result: int = uvloop.run(main)
    return result


async def _serve(config: ServerConfig, host: str, port: int) -> int:
    try:
        server = await start_server(config, host, port)
    except OSError as exc:
        print(f"doubletick server: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    info = server.info
    print(f"doubletick server ready: {info.ws_url} PUSHER_URL={info.pusher_url}", flush=True)
    await stop.wait()
    await server.stop()
    return 0
