"""The doubletick auth server: who is signed in, and which Pusher channels they may join.

HTTP API (every body is JSON; errors are ``{"error": "..."}``):

- ``POST /login`` ``{user, password}`` (JSON or form) -> ``{"token", "user", "user_data",
  "expires_at"}``. Send the token as ``Authorization: Bearer TOKEN``; give `user_data`
  unchanged to pysher (``Pusher(..., user_data=user_data)``): its ``json.dumps`` is exactly the
  `channel_data` the server signs for presence channels. Bad credentials: 401, and repeated
  failures per user and per address are answered ever more slowly.
- ``POST /pusher/auth`` (``socket_id``, ``channel_name``; form or JSON) -> the pusher SDK's
  ``authenticate`` answer. Channel rules are in `auth_server.policy`.
- ``POST /pusher/user-auth`` (``socket_id``) -> the SDK's ``authenticate_user`` answer for
  ``{"id": user, "user_info": {"name": display name}}``.
- ``GET /health`` -> ``{"status": "ok"}``.

Users file (``--users-file``), JSON::

    {
      "users": {
        "alice": {"password": "scrypt$16384$8$1$<salt>$<key>", "name": "Alice Liddell"},
        "bob": "scrypt$16384$8$1$<salt>$<key>"
      },
      "groups": {"book_club": ["alice", "bob"]}
    }

A user is either an object (``password`` hash, optional display ``name``, default the user
name) or just the hash. User and group names match ``[a-z0-9_]{1,32}``. Make a hash with
``python -m auth_server hash-password`` or ``doubletick auth --hash-password`` (prompts, or
reads one line from stdin), or `hash_password` in Python. ``--user NAME:PASSWORD`` on the
command line is for demos; it adds to (and overrides) the file's users.

Programmatic use::

    config = AuthConfig.from_pusher_url(url, users={"alice": hash_password("pw")})
    with AuthServerThread(config) as server:      # 127.0.0.1, a free port
        login = server.login("alice", "pw")       # or auth_server.login(server.url, ...)
        ...  # server.auth_endpoint, login.headers, login.user_data

In async code: ``async with AuthServer(config) as server`` or ``create_app(config)``.
"""

from __future__ import annotations

from auth_server.app import create_app
from auth_server.client import Login, LoginError, login
from auth_server.config import AuthConfig, ConfigError, load_users_file, parse_pusher_url
from auth_server.passwords import hash_password, verify_password
from auth_server.policy import channel_data, dm_channel, may_join, presence_user_data
from auth_server.runner import AuthServer, AuthServerThread

__all__ = [
    "AuthConfig",
    "AuthServer",
    "AuthServerThread",
    "ConfigError",
    "Login",
    "LoginError",
    "channel_data",
    "create_app",
    "dm_channel",
    "hash_password",
    "load_users_file",
    "login",
    "may_join",
    "parse_pusher_url",
    "presence_user_data",
    "verify_password",
]
