"""The process-wide default runtime: which Pusher endpoint chat clients use, and its auth server.

Without configuration it starts, once per process, doubletick's own Pusher-compatible server
(with a higher client-event limit than Pusher's, so the dashboard can run fast automatic
conversations) and the auth server that signs its channels, both on free loopback ports.
With configuration it uses another endpoint instead:

- ``PUSHER_URL=http://KEY:SECRET@api-CLUSTER.pusher.com/apps/ID`` (Pusher's hosted service,
  or any Pusher-compatible server): clients connect to ``wss://ws-CLUSTER.pusher.com/app/KEY``
  (or ``DOUBLETICK_WS_URL`` when set) and a local auth server signs with SECRET; clients keep
  to Pusher's 10 client events per second.
- ``DOUBLETICK_WS_URL`` + ``DOUBLETICK_AUTH_URL`` (+ ``DOUBLETICK_USERS=alice:pw,bob:pw``):
  an endpoint and an auth server run elsewhere; every session uses those two accounts.
- ``DOUBLETICK_CLIENT_EVENTS_PER_SECOND`` overrides the clients' own budget.

Keep the runtime here, in an imported module: a script served by Panel loses its globals
when a browser session ends, and every session must share one server.
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from auth_server import AuthConfig, AuthServerThread, hash_password
from auth_server.config import is_name, parse_pusher_url

if TYPE_CHECKING:
    from doubletick.client.chat import ChatClient
    from doubletick.server import ServerThread

EMBEDDED_CLIENT_EVENT_LIMIT = 100  # per connection per second, on the embedded server
PUSHER_CLIENT_EVENT_LIMIT = 10  # Pusher's hosted service
SESSION_PASSWORD_COST = 2**10  # random 32-byte passwords need no slow hash
_PUSHER_API_HOST = re.compile(r"api-([a-z0-9-]+)\.pusher\.com")


class RuntimeConfigError(ValueError):
    """The environment names an endpoint inconsistently; the message says what to set."""


@dataclass(frozen=True, slots=True)
class Account:
    """A user the runtime's auth server knows, with the password to log in."""

    user: str
    password: str
    display_name: str


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    """What a page shows about the endpoint in use.

    `kind`: "embedded" (our local server, restartable), "pusher" (Pusher's hosted service)
    or "external" (another server). `server_limit`: the client events per second per
    connection the endpoint allows (None when unknown); `client_events_per_second`: the
    budget our clients keep to.
    """

    kind: str
    ws_url: str
    auth_url: str
    pusher_url: str | None
    server_limit: int | None
    client_events_per_second: float

    @property
    def restartable(self) -> bool:
        return self.kind == "embedded"

    def describe(self) -> str:
        where = {
            "embedded": "embedded local Pusher server",
            "pusher": "Pusher Channels (hosted)",
            "external": "external Pusher endpoint",
        }[self.kind]
        limit = "unknown" if self.server_limit is None else f"{self.server_limit}/s"
        return (
            f"{where} at {self.ws_url}; client events limit {limit} per connection, "
            f"clients send at most {self.client_events_per_second:g}/s"
        )


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    """Which endpoint to use; `from_environ` reads the variables in the module docstring."""

    pusher_url: str | None = None
    ws_url: str | None = None
    auth_url: str | None = None
    users: tuple[tuple[str, str], ...] = ()
    client_events_per_second: float | None = None
    embedded_limit: int = EMBEDDED_CLIENT_EVENT_LIMIT

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> RuntimeSettings:
        env = os.environ if environ is None else environ
        rate = env.get("DOUBLETICK_CLIENT_EVENTS_PER_SECOND")
        settings = cls(
            pusher_url=env.get("PUSHER_URL") or None,
            ws_url=env.get("DOUBLETICK_WS_URL") or None,
            auth_url=env.get("DOUBLETICK_AUTH_URL") or None,
            users=_parse_users(env.get("DOUBLETICK_USERS", "")),
            client_events_per_second=float(rate) if rate else None,
        )
        settings.check()
        return settings

    @property
    def kind(self) -> str:
        if self.auth_url is not None:
            return "external"
        if self.pusher_url is not None:
            is_hosted = _PUSHER_API_HOST.fullmatch(urlsplit(self.pusher_url).hostname or "")
            return "pusher" if is_hosted else "external"
        return "embedded"

    def check(self) -> None:
        if self.auth_url is not None and (self.ws_url is None or len(self.users) < 2):
            raise RuntimeConfigError(
                "DOUBLETICK_AUTH_URL needs DOUBLETICK_WS_URL and "
                "DOUBLETICK_USERS=alice:password,bob:password"
            )
        if self.ws_url is not None and self.auth_url is None and self.pusher_url is None:
            raise RuntimeConfigError("DOUBLETICK_WS_URL needs DOUBLETICK_AUTH_URL or PUSHER_URL")
        if self.pusher_url is not None:
            parse_pusher_url(self.pusher_url)  # raises auth_server's ConfigError
        if self.client_events_per_second is not None and self.client_events_per_second <= 0:
            raise RuntimeConfigError("DOUBLETICK_CLIENT_EVENTS_PER_SECOND must be > 0")


def ws_url_from_pusher_url(pusher_url: str) -> str:
    """The WebSocket endpoint of the app in a PUSHER_URL (its REST address).

    ``http://K:S@api-eu.pusher.com/apps/1`` -> ``wss://ws-eu.pusher.com/app/K``; any other
    host keeps its host and port (``http`` -> ``ws``, ``https`` -> ``wss``).
    """
    parsed = parse_pusher_url(pusher_url)
    key, host, port = parsed["key"], parsed["pusher_host"], parsed["pusher_port"]
    match = _PUSHER_API_HOST.fullmatch(host)
    if match is not None:
        return f"wss://ws-{match.group(1)}.pusher.com/app/{key}"
    scheme = "wss" if parsed["pusher_ssl"] else "ws"
    netloc = host if port is None else f"{host}:{port}"
    return f"{scheme}://{netloc}/app/{key}"


class SharedTable(Mapping[str, str]):
    """A mapping the auth server reads on every request while sessions add and remove
    entries from other threads (`AuthConfig.users` and `display_names` accept any Mapping)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, str] = {}

    def __getitem__(self, key: str) -> str:
        with self._lock:
            return self._items[key]

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._items))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def set(self, key: str, value: str) -> None:
        with self._lock:
            self._items[key] = value

    def discard(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)


@dataclass
class EmbeddedRuntime:
    """One endpoint plus an auth server; `start()` once, share it, `stop()` at the end.

    Thread-safe: sessions call `create_accounts`, `release_accounts`, `connect` and
    `restart_server` from any thread.
    """

    settings: RuntimeSettings = field(default_factory=RuntimeSettings)
    _server: ServerThread | None = field(default=None, init=False)
    _auth: AuthServerThread | None = field(default=None, init=False)
    _endpoint: EndpointInfo | None = field(default=None, init=False)
    _users: SharedTable = field(default_factory=SharedTable, init=False)
    _names: SharedTable = field(default_factory=SharedTable, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _restart_lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def start(self) -> EmbeddedRuntime:
        with self._lock:
            if self._endpoint is not None:
                return self
            kind = self.settings.kind
            if kind == "external":
                self._endpoint = self._use_external()
            else:
                pusher_url = self.settings.pusher_url or self._start_server()
                self._endpoint = self._start_auth(kind, pusher_url)
        return self

    @property
    def endpoint(self) -> EndpointInfo:
        if self._endpoint is None:
            raise RuntimeError("the runtime is not started: call start() first")
        return self._endpoint

    @property
    def server(self) -> ServerThread | None:
        """The embedded Pusher server (None when another endpoint is used)."""
        return self._server

    def create_accounts(self, *roles: tuple[str, str]) -> tuple[Account, ...]:
        """Accounts for (user, display name) pairs, registered with the auth server until
        `release_accounts`. With an external auth server: the configured accounts, in order."""
        if self.endpoint.kind == "external" and self.settings.auth_url is not None:
            configured = self.settings.users
            return tuple(
                Account(user, password, display)
                for (user, password), (_, display) in zip(configured, roles, strict=False)
            )
        accounts = []
        for user, display_name in roles:
            if not is_name(user):
                raise ValueError(f"user name {user!r} must match [a-z0-9_]{{1,32}}")
            password = secrets.token_urlsafe(24)
            self._names.set(user, display_name)
            self._users.set(user, hash_password(password, n=SESSION_PASSWORD_COST))
            accounts.append(Account(user, password, display_name))
        return tuple(accounts)

    def release_accounts(self, accounts: tuple[Account, ...]) -> None:
        """Forget session accounts: their tokens stop working at the auth server."""
        for account in accounts:
            self._users.discard(account.user)
            self._names.discard(account.user)

    def connect(self, account: Account, **options: Any) -> ChatClient:
        """Log `account` in and return its (not yet started) chat client."""
        from doubletick.client.chat import ChatClient

        endpoint = self.endpoint
        options.setdefault("client_events_per_second", endpoint.client_events_per_second)
        return ChatClient.login(
            account.user,
            account.password,
            ws_url=endpoint.ws_url,
            auth_url=endpoint.auth_url,
            **options,
        )

    def rest_client(self) -> Any:
        """The pusher SDK (`pusher.Pusher`) for the endpoint's REST API, or None when the
        secret is unknown (external auth)."""
        import pusher

        url = self.endpoint.pusher_url
        if url is None:
            return None
        parsed = parse_pusher_url(url)
        return pusher.Pusher(
            app_id=parsed["app_id"],
            key=parsed["key"],
            secret=parsed["secret"],
            host=parsed["pusher_host"],
            port=parsed["pusher_port"],
            ssl=parsed["pusher_ssl"],
        )

    def restart_server(self) -> None:
        """Restart the embedded server on the same port: every client is disconnected and
        reconnects. Raises RuntimeError when another endpoint is in use."""
        server = self._server
        if server is None:
            raise RuntimeError(f"cannot restart a {self.endpoint.kind} endpoint")
        with self._restart_lock:  # two pages may press the button at once
            server.restart()

    def stop(self) -> None:
        """Stop what `start` started; safe to call twice."""
        with self._lock:
            auth, server = self._auth, self._server
            self._auth = self._server = None
            self._endpoint = None
        if auth is not None:
            auth.stop()
        if server is not None:
            server.stop()

    # -- starting ------------------------------------------------------------------------

    def _start_server(self) -> str:
        from doubletick.server import ServerThread
        from doubletick.server.config import AppConfig, ServerConfig

        app = AppConfig(
            app_id="1",
            key="doubletick-" + secrets.token_hex(4),
            secret=secrets.token_urlsafe(24),
            max_client_events_per_second=self.settings.embedded_limit,
        )
        self._server = ServerThread(ServerConfig(apps=(app,)))
        self._server.start()
        pusher_url: str = self._server.info.pusher_url
        return pusher_url

    def _start_auth(self, kind: str, pusher_url: str) -> EndpointInfo:
        config = AuthConfig.from_pusher_url(
            pusher_url, users=self._users, display_names=self._names
        )
        self._auth = AuthServerThread(config).start()
        limit: int | None
        if kind == "embedded":
            assert self._server is not None
            ws_url, limit = self._server.info.ws_url, self.settings.embedded_limit
        else:
            ws_url = self.settings.ws_url or ws_url_from_pusher_url(pusher_url)
            limit = PUSHER_CLIENT_EVENT_LIMIT if kind == "pusher" else None
        return EndpointInfo(
            kind, ws_url, self._auth.url, pusher_url, limit, self._client_rate(limit)
        )

    def _use_external(self) -> EndpointInfo:
        assert self.settings.ws_url is not None and self.settings.auth_url is not None
        return EndpointInfo(
            "external",
            self.settings.ws_url,
            self.settings.auth_url,
            self.settings.pusher_url,
            None,
            self._client_rate(None),
        )

    def _client_rate(self, limit: int | None) -> float:
        """Our clients' budget: a burst of up to 5 plus the rate must fit in one second."""
        if self.settings.client_events_per_second is not None:
            return self.settings.client_events_per_second
        if limit is None or limit <= PUSHER_CLIENT_EVENT_LIMIT:
            return PUSHER_CLIENT_EVENT_LIMIT / 2
        return float(limit - 10)


def _parse_users(spec: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        user, sep, password = item.partition(":")
        if not sep or not is_name(user) or not password:
            raise RuntimeConfigError(f"DOUBLETICK_USERS: expected name:password, got {item!r}")
        pairs.append((user, password))
    return tuple(pairs)


_runtime: EmbeddedRuntime | None = None
_runtime_lock = threading.Lock()


def default_runtime() -> EmbeddedRuntime:
    """The process-wide runtime, started on first use (from the environment) and stopped
    when the interpreter exits."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            runtime = EmbeddedRuntime(RuntimeSettings.from_environ()).start()
            atexit.register(runtime.stop)
            _runtime = runtime
        return _runtime


__all__ = [
    "EMBEDDED_CLIENT_EVENT_LIMIT",
    "Account",
    "EmbeddedRuntime",
    "EndpointInfo",
    "RuntimeConfigError",
    "RuntimeSettings",
    "SharedTable",
    "default_runtime",
    "ws_url_from_pusher_url",
]
