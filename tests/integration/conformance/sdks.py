"""One facade over the real server SDKs: PyPI `pusher` 3.3.4 and npm `pusher` 5.3.4.

Every call answers `Answer(status, body)`, also when the SDK raised or reported an error,
so one scenario asserts the same thing against both. Raw, hand-signed REST requests (for
what no SDK would send: stale timestamps, forged signatures) are in `signed_request`.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import pusher
import pusher.errors
import requests

from doubletick.protocol import signing
from tests.integration.conformance.http_side import MASTER_KEY_BASE64
from tests.nodeclients import node_sdk


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True)
class Credentials:
    host: str
    port: int
    app_id: str
    key: str
    secret: str


class PythonSdk:
    """PyPI `pusher` 3.3.4 (requests backend)."""

    kind = "python"

    def __init__(self, creds: Credentials) -> None:
        self.creds = creds
        self.client = pusher.Pusher(
            app_id=creds.app_id,
            key=creds.key,
            secret=creds.secret,
            host=creds.host,
            port=creds.port,
            ssl=False,
            encryption_master_key_base64=MASTER_KEY_BASE64,
        )

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Answer:
        try:
            return Answer(200, getattr(self.client, method)(*args, **kwargs))
        except pusher.errors.PusherBadRequest as exc:
            return Answer(400, str(exc))
        except pusher.errors.PusherBadAuth as exc:
            return Answer(401, str(exc))
        except pusher.errors.PusherForbidden as exc:
            return Answer(403, str(exc))
        except pusher.errors.PusherBadStatus as exc:
            match = re.match(r"(\d{3}): (.*)", str(exc), re.S)
            assert match, f"unexpected PusherBadStatus text {exc}"
            return Answer(int(match[1]), match[2])

    def trigger(
        self, channels: list[str], event: str, data: str, socket_id: str | None = None
    ) -> Answer:
        return self._call("trigger", channels, event, data, socket_id)

    def trigger_batch(self, batch: list[dict[str, Any]]) -> Answer:
        return self._call("trigger_batch", batch)

    def channels(self, prefix: str | None = None, info: list[str] | None = None) -> Answer:
        return self._call("channels_info", prefix, info or [])

    def channel(self, name: str, info: list[str] | None = None) -> Answer:
        return self._call("channel_info", name, info or [])

    def users(self, name: str) -> Answer:
        return self._call("users_info", name)

    def send_to_user(self, user_id: str, event: str, data: str) -> Answer:
        return self._call("send_to_user", user_id, event, data)

    def terminate(self, user_id: str) -> Answer:
        return self._call("terminate_user_connections", user_id)

    def validate_webhook(self, headers: dict[str, str], body: bytes) -> list[dict[str, Any]] | None:
        lowered = {k.lower(): v for k, v in headers.items()}
        result = self.client.validate_webhook(
            lowered.get("x-pusher-key", ""), lowered.get("x-pusher-signature", ""), body.decode()
        )
        return None if result is None else list(result["events"])


class NodeSdk:
    """npm `pusher` 5.3.4, one Node process per call (tests/node/sdk.mjs)."""

    kind = "node"

    def __init__(self, creds: Credentials) -> None:
        self.creds = creds
        self.config = {
            "appId": creds.app_id,
            "key": creds.key,
            "secret": creds.secret,
            "host": creds.host,
            "port": creds.port,
            "encryptionMasterKeyBase64": MASTER_KEY_BASE64,
        }

    def _call(self, call: str, *args: Any) -> Answer:
        answer = node_sdk(self.config, call, *args)
        if "status" in answer and "error" not in answer:
            return Answer(answer["status"], answer["body"])
        assert "status" in answer, f"the Node SDK got no answer: {answer}"
        return Answer(answer["status"], answer.get("body"))

    def trigger(
        self,
        channels: list[str],
        event: str,
        data: str,
        socket_id: str | None = None,
        info: str | None = None,
    ) -> Answer:
        params: dict[str, str] = {}
        if socket_id is not None:
            params["socket_id"] = socket_id
        if info is not None:
            params["info"] = info
        return self._call("trigger", channels, event, data, params)

    def trigger_batch(self, batch: list[dict[str, Any]]) -> Answer:
        return self._call("triggerBatch", batch)

    def get(self, path: str, params: dict[str, str] | None = None) -> Answer:
        return self._call("get", {"path": path, "params": params or {}})

    def channels(self, prefix: str | None = None, info: list[str] | None = None) -> Answer:
        params = {"filter_by_prefix": prefix} if prefix else {}
        if info:
            params["info"] = ",".join(info)
        return self.get("/channels", params)

    def channel(self, name: str, info: list[str] | None = None) -> Answer:
        return self.get(f"/channels/{name}", {"info": ",".join(info)} if info else {})

    def users(self, name: str) -> Answer:
        return self.get(f"/channels/{name}/users")

    def send_to_user(self, user_id: str, event: str, data: str) -> Answer:
        return self._call("sendToUser", user_id, event, data)

    def terminate(self, user_id: str) -> Answer:
        return self._call("terminateUserConnections", user_id)

    def validate_webhook(self, headers: dict[str, str], body: bytes) -> list[dict[str, Any]] | None:
        answer = node_sdk(self.config, "webhook", {"headers": headers, "body": body.decode()})
        return list(answer["events"]) if answer["isValid"] else None


Sdk = PythonSdk | NodeSdk


# --- raw REST -----------------------------------------------------------------------------


def signed_request(
    creds: Credentials,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    params: dict[str, str] | None = None,
    timestamp: float | None = None,
    secret: str | None = None,
    body_md5: str | None = None,
    key: str | None = None,
) -> requests.Response:
    """One REST request signed as PROTOCOL.md 12.1 says, with any part overridable to forge it."""
    query = {
        "auth_key": key or creds.key,
        "auth_timestamp": str(int(time.time() if timestamp is None else timestamp)),
        "auth_version": "1.0",
        **(params or {}),
    }
    if body or body_md5 is not None:
        query["body_md5"] = body_md5 or hashlib.md5(body).hexdigest()
    query["auth_signature"] = signing.sign_rest_request(secret or creds.secret, method, path, query)
    url = f"http://{creds.host}:{creds.port}{path}?{urllib.parse.urlencode(query)}"
    headers = {"Content-Type": "application/json"} if body else {}
    return requests.request(method, url, data=body, headers=headers, timeout=10)


def event_body(channel: str, name: str = "my-event", data: str = "{}") -> bytes:
    return json.dumps({"name": name, "channels": [channel], "data": data}).encode()
