"""``doubletick auth`` and ``python -m auth_server``: run the auth server, or hash a password.

Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM), 2 for invalid configuration, 1 when the
address cannot be bound. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import signal
import sys
from collections.abc import Sequence

from auth_server.config import (
    DEFAULT_TOKEN_TTL,
    AuthConfig,
    ConfigError,
    load_users_file,
    parse_pusher_url,
    parse_user_spec,
)
from auth_server.passwords import hash_password
from auth_server.runner import AuthServer

PROG = "auth server"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=5000, help="0 picks a free port")
    parser.add_argument(
        "--pusher-url",
        metavar="URL",
        help="http(s)://KEY:SECRET@HOST[:PORT]/apps/APP_ID to sign for (default: $PUSHER_URL)",
    )
    parser.add_argument(
        "--user", action="append", default=[], metavar="NAME:PASSWORD", help="a user (demos)"
    )
    parser.add_argument("--users-file", metavar="FILE", help="JSON users file (see docs)")
    parser.add_argument(
        "--group", action="append", default=[], metavar="GROUP:USER,...", help="a group"
    )
    parser.add_argument(
        "--cors-origin", action="append", default=[], metavar="ORIGIN", help="'*' allows any"
    )
    parser.add_argument("--token-ttl", type=float, default=DEFAULT_TOKEN_TTL, metavar="SECONDS")
    parser.add_argument(
        "--hash-password",
        action="store_true",
        help="read a password (prompt or stdin), print its hash for a users file, and exit",
    )


def run(args: argparse.Namespace) -> int:
    if args.hash_password:
        return hash_password_command()
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        return _fail(str(exc), 2)
    try:
        asyncio.run(serve(config, args.host, args.port))
    except OSError as exc:
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", 1)
    return 0


def config_from_args(args: argparse.Namespace) -> AuthConfig:
    pusher_url = args.pusher_url or os.environ.get("PUSHER_URL")
    if not pusher_url:
        raise ConfigError("no pusher app: give --pusher-url or set PUSHER_URL")
    app = parse_pusher_url(pusher_url)
    users, display_names, groups = {}, {}, {}
    if args.users_file:
        loaded = load_users_file(args.users_file)
        users, display_names, groups = loaded.users, loaded.display_names, loaded.groups
    users.update(parse_user_spec(spec) for spec in args.user)
    groups.update(_parse_group_spec(spec) for spec in args.group)
    if not users:
        raise ConfigError("no users: give --user NAME:PASSWORD or --users-file FILE")
    return AuthConfig(
        **app,
        users=users,
        display_names=display_names,
        groups=groups,
        cors_origins=tuple(args.cors_origin),
        token_ttl=args.token_ttl,
    )


async def serve(config: AuthConfig, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM, after printing the one line that says where."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C still interrupts
            loop.add_signal_handler(signum, stopping.set)
    async with AuthServer(config, host, port) as server:
        print(f"{PROG} listening on {server.url}", flush=True)
        await stopping.wait()


def hash_password_command() -> int:
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            return _fail("passwords differ", 2)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        return _fail("empty password", 2)
    print(hash_password(password))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m auth_server [options]`` or ``python -m auth_server hash-password``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["hash-password"]:
        return hash_password_command()
    parser = argparse.ArgumentParser(prog="python -m auth_server", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def _parse_group_spec(spec: str) -> tuple[str, tuple[str, ...]]:
    group, sep, members = spec.partition(":")
    if not sep:
        raise ConfigError(f"group must be GROUP:USER,USER,...: {spec!r}")
    return group, tuple(member for member in members.split(",") if member)


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code
