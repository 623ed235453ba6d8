"""Getting channel signatures: from an auth server over HTTP, or signed locally.

pysher's own auth request has no timeout, asserts on any non-200 answer and ignores the
server's presence `channel_data` (CLIENTS.md); the adapter therefore never lets pysher
authorize and asks one of these instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from doubletick.protocol import signing
from doubletick.protocol.channels import ChannelKind, channel_kind


class AuthorizationError(Exception):
    """A subscription was refused (or the auth server could not be asked)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Authorizer(Protocol):
    """Signs one subscription: returns the `auth` (and presence `channel_data`) to send."""

    def authorize(self, socket_id: str, channel: str) -> dict[str, str]: ...


@dataclass
class LocalSigner:
    """Signs with the app secret itself, as pysher does when given `secret` (tests, benches)."""

    key: str
    secret: str
    user_data: dict[str, Any] = field(default_factory=dict)

    def authorize(self, socket_id: str, channel: str) -> dict[str, str]:
        kind, _ = channel_kind(channel)
        if kind is ChannelKind.PRESENCE:
            channel_data = json.dumps(self.user_data)
            auth = signing.channel_auth(self.key, self.secret, socket_id, channel, channel_data)
            return {"auth": auth, "channel_data": channel_data}
        return {"auth": signing.channel_auth(self.key, self.secret, socket_id, channel)}


@dataclass(frozen=True)
class Login:
    """What the auth server's `POST /login` answered."""

    token: str
    user: str
    user_data: dict[str, Any]


class AuthServerClient:
    """Talks to doubletick's auth server (`auth_server/`): log in once, then sign channels."""

    def __init__(self, auth_url: str, *, timeout: float = 5.0) -> None:
        self.auth_url = auth_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.login_info: Login | None = None

    def login(self, user: str, password: str) -> Login:
        answer = self._post("/login", json={"user": user, "password": password})
        token, name = answer.get("token"), answer.get("user", user)
        if not isinstance(token, str) or not isinstance(name, str):
            raise AuthorizationError("the auth server's /login answer has no token")
        user_data = answer.get("user_data")
        if not isinstance(user_data, dict):
            user_data = {"user_id": name, "user_info": {"name": name}}
        self.login_info = Login(token, name, user_data)
        return self.login_info

    def authorize(self, socket_id: str, channel: str) -> dict[str, str]:
        if self.login_info is None:
            raise AuthorizationError("log in before subscribing to private channels")
        headers = {"Authorization": f"Bearer {self.login_info.token}"}
        form = {"socket_id": socket_id, "channel_name": channel}
        answer = self._post("/pusher/auth", data=form, headers=headers)
        if not isinstance(answer.get("auth"), str):
            raise AuthorizationError("the auth server's answer has no 'auth' string")
        return {k: v for k, v in answer.items() if isinstance(v, str)}

    def close(self) -> None:
        self.session.close()

    def _post(self, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.session.post(self.auth_url + path, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise AuthorizationError(f"auth server unreachable: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict):
            message = body.get("error") if isinstance(body, dict) else None
            raise AuthorizationError(
                f"{path}: HTTP {response.status_code} {message or response.reason}",
                status=response.status_code,
            )
        return body
