"""Signing in to the auth server from Python, the way a chat client does (blocking, requests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

DEFAULT_TIMEOUT = 10.0


class LoginError(RuntimeError):
    """The server refused the login (bad credentials) or answered something unexpected."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"login failed ({status}): {message}")
        self.status = status


@dataclass(frozen=True)
class Login:
    """A successful ``POST /login``: the bearer token and the user's presence data."""

    token: str
    user: str
    user_data: dict[str, Any]
    expires_at: int

    @property
    def headers(self) -> dict[str, str]:
        """Headers for the auth endpoints (pysher `auth_endpoint_headers`, pusher-js
        `channelAuthorization.headers`)."""
        return {"Authorization": f"Bearer {self.token}"}


def login(base_url: str, user: str, password: str, *, timeout: float = DEFAULT_TIMEOUT) -> Login:
    """``POST {base_url}/login``; raise `LoginError` unless it succeeds."""
    response = requests.post(
        f"{base_url.rstrip('/')}/login",
        json={"user": user, "password": password},
        timeout=timeout,
    )
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not isinstance(body, dict) or "token" not in body:
        message = body.get("error", response.reason) if isinstance(body, dict) else response.reason
        raise LoginError(response.status_code, str(message))
    return Login(body["token"], body["user"], body["user_data"], body["expires_at"])
