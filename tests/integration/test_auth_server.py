"""The auth server over real HTTP, called the way pysher and pusher-js call it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest
import requests

from auth_server import AuthConfig, AuthServer, AuthServerThread, Login, hash_password, login
from auth_server.app import THROTTLE
from auth_server.client import LoginError
from auth_server.passwords import verify_password
from auth_server.tokens import issue_token
from tests.waiting import async_wait_until

APP_ID, KEY, SECRET = "4242", "test-key", "7ad3773142a6692b25b8"  # secret of PROTOCOL.md §16
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}
ORIGIN = "http://localhost:5006"
SOCKET_ID = "1234.1234"
BASE_DELAY = 0.02
TIMEOUT = 10


def make_config(**options: Any) -> AuthConfig:
    settings: dict[str, Any] = {
        "app_id": APP_ID,
        "key": KEY,
        "secret": SECRET,
        "users": {name: hash_password(pw, n=16) for name, pw in PASSWORDS.items()},
        "display_names": {"alice": 'Alice "Zoë" 🚀'},
        "groups": {"book_club": ["alice", "carol"]},
        "cors_origins": (ORIGIN,),
        "failure_base_delay": BASE_DELAY,
        "failure_max_delay": 1.0,
        **options,
    }
    return AuthConfig(**settings)


@pytest.fixture
def server() -> Iterator[AuthServerThread]:
    with AuthServerThread(make_config()) as running:
        yield running


@pytest.fixture
def alice(server: AuthServerThread) -> Login:
    return server.login("alice", PASSWORDS["alice"])


def signature(message: str) -> str:
    """Independent of the server and the SDK: HMAC-SHA256 hex with the app secret."""
    return hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# The three ways a client posts to the auth endpoint.
def post_like_pysher(url: str, fields: dict[str, Any], headers: dict[str, str]) -> Any:
    return requests.post(url, data=fields, headers=headers, timeout=TIMEOUT)  # pusher.py:176


def post_like_pusher_js(url: str, fields: dict[str, Any], headers: dict[str, str]) -> Any:
    body = "&".join(f"{k}={urllib.parse.quote(str(v), safe='')}" for k, v in fields.items())
    form = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    return requests.post(url, data=body.encode(), headers=form, timeout=TIMEOUT)


def post_json(url: str, fields: dict[str, Any], headers: dict[str, str]) -> Any:
    return requests.post(url, json=fields, headers=headers, timeout=TIMEOUT)


Poster = Callable[[str, dict[str, Any], dict[str, str]], Any]
POSTERS = pytest.mark.parametrize(
    "post", [post_like_pysher, post_like_pusher_js, post_json], ids=["pysher", "pusher-js", "json"]
)


def test_health_answers_ok(server: AuthServerThread) -> None:
    response = requests.get(f"{server.url}/health", timeout=TIMEOUT)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@POSTERS
def test_login_returns_a_token_and_the_user_data_for_pysher(
    server: AuthServerThread, post: Poster
) -> None:
    response = post(server.login_url, {"user": "alice", "password": "alice-pw"}, {})
    body = response.json()
    assert response.status_code == 200
    assert body["user"] == "alice"
    assert body["user_data"] == {"user_id": "alice", "user_info": {"name": 'Alice "Zoë" 🚀'}}
    assert time.time() < body["expires_at"] <= time.time() + server.config.token_ttl
    assert body["token"].count(".") == 1


@pytest.mark.parametrize(
    ("user", "password"),
    [("alice", "wrong"), ("nobody", "alice-pw"), ("Alice", "alice-pw"), ("", ""), ("bob", "")],
)
def test_bad_credentials_get_the_same_401_whatever_was_wrong(
    server: AuthServerThread, user: str, password: str
) -> None:
    response = post_like_pysher(server.login_url, {"user": user, "password": password}, {})
    assert response.status_code == 401
    assert response.json() == {"error": "invalid user or password"}
    with pytest.raises(LoginError):
        login(server.url, user, password)


def timed_failed_login(server: AuthServerThread, user: str) -> float:
    started = time.monotonic()
    response = post_json(server.login_url, {"user": user, "password": "guess"}, {})
    assert response.status_code == 401
    return time.monotonic() - started


def test_repeated_failures_are_answered_ever_more_slowly(server: AuthServerThread) -> None:
    elapsed = [timed_failed_login(server, "alice") for _ in range(4)]
    for failures, seconds in enumerate(elapsed, start=1):
        assert seconds >= BASE_DELAY * 2 ** (failures - 1)
    assert server.login("alice", "alice-pw").user == "alice"  # the right password still works


def test_failures_from_one_address_slow_down_guesses_at_other_users(
    server: AuthServerThread,
) -> None:
    for user in ("alice", "bob", "carol"):
        timed_failed_login(server, user)
    assert timed_failed_login(server, "nobody") >= BASE_DELAY * 2**3


async def test_a_throttled_login_does_not_block_the_server() -> None:
    config = make_config(failure_base_delay=0.5, failure_max_delay=0.5)
    async with AuthServer(config) as server, aiohttp.ClientSession() as session:
        throttle = server.app[THROTTLE]
        failing = asyncio.create_task(
            session.post(server.login_url, json={"user": "alice", "password": "guess"})
        )
        await async_wait_until(lambda: throttle.failures("user:alice") == 1)
        async with session.get(f"{server.url}/health") as health:
            assert health.status == 200
        assert not failing.done(), "health was answered while the 401 was still being delayed"
        async with await failing as response:
            assert response.status == 401


@POSTERS
def test_private_dm_auth_is_the_sdk_signature(
    server: AuthServerThread, alice: Login, post: Poster
) -> None:
    channel = "private-dm-alice-bob"
    fields = {"socket_id": SOCKET_ID, "channel_name": channel}
    response = post(server.auth_endpoint, fields, alice.headers)
    assert response.status_code == 200
    assert response.json() == {"auth": f"{KEY}:{signature(f'{SOCKET_ID}:{channel}')}"}


@pytest.mark.parametrize("user", ["alice", "bob"])
@pytest.mark.parametrize("channel", ["presence-lobby", "presence-dm-alice-bob"])
def test_presence_channel_data_is_byte_identical_to_what_pysher_sends(
    server: AuthServerThread, user: str, channel: str
) -> None:
    logged_in = server.login(user, PASSWORDS[user])
    user_data = logged_in.user_data
    # Exactly pysher's remote presence request: user_data goes along as repeated form fields.
    fields = {"channel_name": channel, "socket_id": SOCKET_ID, "user_data": user_data}
    response = post_like_pysher(server.auth_endpoint, fields, logged_in.headers)
    assert response.status_code == 200
    sent_by_pysher = json.dumps(user_data)  # pysher/pusher.py:104
    answer = response.json()
    assert answer["channel_data"] == sent_by_pysher
    assert answer["auth"] == f"{KEY}:{signature(f'{SOCKET_ID}:{channel}:{sent_by_pysher}')}"


def test_presence_channel_data_comes_from_the_server_not_the_request(
    server: AuthServerThread, alice: Login
) -> None:
    forged = json.dumps({"user_id": "bob", "user_info": {"name": "Bob"}})
    fields = {"socket_id": SOCKET_ID, "channel_name": "presence-lobby", "channel_data": forged}
    answer = post_like_pusher_js(server.auth_endpoint, fields, alice.headers).json()
    assert json.loads(answer["channel_data"])["user_id"] == "alice"


def test_signatures_match_the_protocol_test_vectors() -> None:
    # PROTOCOL.md §16, computed by the helper this file verifies the server with.
    assert signature("1234.1234:private-foobar") == (
        "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
    )
    assert signature('1234.1234::user::{"id":"12345"}') == (
        "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"
    )


@pytest.mark.parametrize(
    ("user", "channel", "status"),
    [
        ("alice", "presence-lobby", 200),
        ("carol", "presence-lobby", 200),
        ("alice", "presence-group-book_club", 200),
        ("carol", "presence-group-book_club", 200),
        ("bob", "presence-group-book_club", 403),
        ("alice", "presence-group-chess", 403),
        ("bob", "private-dm-alice-bob", 200),
        ("carol", "private-dm-alice-bob", 403),
        ("carol", "presence-dm-alice-bob", 403),
        ("alice", "private-dm-bob-alice", 403),
        ("alice", "private-dm-alice-alice", 403),
        ("alice", "private-dm-alice", 403),
        ("alice", "private-encrypted-dm-alice-bob", 403),
        ("alice", "private-lobby", 403),
        ("alice", "lobby", 403),
        ("alice", "#server-to-user-alice", 400),
        ("alice", "presence-lobby!", 400),
        ("alice", "presence-" + "x" * 200, 400),
        ("alice", "", 400),
    ],
)
def test_channel_policy_over_http(
    server: AuthServerThread, user: str, channel: str, status: int
) -> None:
    logged_in = server.login(user, PASSWORDS[user])
    fields = {"socket_id": SOCKET_ID, "channel_name": channel}
    response = post_like_pysher(server.auth_endpoint, fields, logged_in.headers)
    assert response.status_code == status
    assert ("auth" in response.json()) is (status == 200)
    if status != 200:
        assert isinstance(response.json()["error"], str)


def forged_tokens(config: AuthConfig, alice_token: str) -> dict[str, str]:
    payload, sig = alice_token.split(".")
    return {
        "garbage": "not-a-token",
        "empty": "",
        "other secret": issue_token(b"o" * 32, "alice", int(time.time()) + 60),
        "bob's payload, alice's signature": (
            f"{issue_token(config.token_secret, 'bob', int(time.time()) + 60).split('.')[0]}.{sig}"
        ),
        "expired": issue_token(config.token_secret, "alice", int(time.time()) - 1),
        "unknown user": issue_token(config.token_secret, "mallory", int(time.time()) + 60),
        "truncated signature": f"{payload}.{sig[:-2]}",
    }


@pytest.mark.parametrize("endpoint", ["auth_endpoint", "user_auth_endpoint"])
def test_forged_expired_and_missing_tokens_get_401(
    server: AuthServerThread, alice: Login, endpoint: str
) -> None:
    url = getattr(server, endpoint)
    fields = {"socket_id": SOCKET_ID, "channel_name": "presence-lobby"}
    header_sets = [{}, {"Authorization": alice.token}, {"Authorization": f"Basic {alice.token}"}]
    header_sets += [bearer(t) for t in forged_tokens(server.config, alice.token).values()]
    for headers in header_sets:
        response = post_like_pysher(url, fields, headers)
        assert response.status_code == 401, headers
        assert set(response.json()) == {"error"}
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_another_users_token_opens_only_that_users_channels(
    server: AuthServerThread, alice: Login
) -> None:
    bob = server.login("bob", PASSWORDS["bob"])
    for logged_in, status in ((alice, 403), (bob, 200)):
        fields = {"socket_id": SOCKET_ID, "channel_name": "private-dm-bob-carol"}
        assert post_json(server.auth_endpoint, fields, logged_in.headers).status_code == status


@pytest.mark.parametrize(
    "socket_id", ["", "abc", "1.2.3", "1234", "١٢.٣٤", "1.2\n", "-1.2", "1" * 30 + ".1"]
)
def test_bad_socket_ids_get_400(server: AuthServerThread, alice: Login, socket_id: str) -> None:
    for url in (server.auth_endpoint, server.user_auth_endpoint):
        fields = {"socket_id": socket_id, "channel_name": "presence-lobby"}
        response = post_like_pusher_js(url, fields, alice.headers)
        assert response.status_code == 400
        assert "socket_id" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"socket_id": 1.2, "channel_name": "presence-lobby"}', "application/json"),
        (b'{"socket_id": "1.2", "channel_name": ["presence-lobby"]}', "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"socket_id=1.2&channel_name=presence-lobby", "text/plain"),
        (b"", "application/x-www-form-urlencoded"),
        (b"%%%", "application/x-www-form-urlencoded"),
        (
            b"socket_id=1.2&channel_name=presence-lobby",
            "application/x-www-form-urlencoded; charset=bogus",
        ),
        (b'{"socket_id": "1.2"}', "application/json; charset=bogus"),
        (b"garbage", "multipart/form-data; boundary=xx"),
    ],
)
def test_malformed_bodies_get_400_json(
    server: AuthServerThread, alice: Login, body: bytes, content_type: str
) -> None:
    headers = {"Content-Type": content_type, **alice.headers}
    response = requests.post(server.auth_endpoint, data=body, headers=headers, timeout=TIMEOUT)
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


def test_oversized_bodies_get_413_json(server: AuthServerThread, alice: Login) -> None:
    fields = {"socket_id": SOCKET_ID, "channel_name": "x" * 100_000}
    response = post_like_pysher(server.auth_endpoint, fields, alice.headers)
    assert (response.status_code, set(response.json())) == (413, {"error"})


@POSTERS
def test_user_auth_signs_the_sign_in_user_data(
    server: AuthServerThread, alice: Login, post: Poster
) -> None:
    response = post(server.user_auth_endpoint, {"socket_id": SOCKET_ID}, alice.headers)
    answer = response.json()
    assert response.status_code == 200
    assert json.loads(answer["user_data"]) == {
        "id": "alice",
        "user_info": {"name": 'Alice "Zoë" 🚀'},
    }
    expected = signature(f"{SOCKET_ID}::user::{answer['user_data']}")
    assert answer["auth"] == f"{KEY}:{expected}"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere", 404),
        ("POST", "/pusher/auth/extra", 404),
        ("GET", "/login", 405),
        ("PUT", "/pusher/auth", 405),
        ("DELETE", "/health", 405),
        ("OPTIONS", "/login", 405),  # not a preflight: no Access-Control-Request-Method
    ],
)
def test_unknown_routes_and_methods_get_json_errors(
    server: AuthServerThread, method: str, path: str, status: int
) -> None:
    response = requests.request(method, f"{server.url}{path}", timeout=TIMEOUT)
    assert response.status_code == status
    assert set(response.json()) == {"error"}
    if status == 405:
        assert "POST" in response.headers["Allow"] or "GET" in response.headers["Allow"]


def preflight(server: AuthServerThread, origin: str) -> requests.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    return requests.options(server.auth_endpoint, headers=headers, timeout=TIMEOUT)


def test_cors_preflight_is_allowed_for_configured_origins(server: AuthServerThread) -> None:
    response = preflight(server, ORIGIN)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_cors_preflight_is_refused_for_other_origins(server: AuthServerThread) -> None:
    response = preflight(server, "http://evil.example")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_headers_reach_answers_and_errors_for_configured_origins_only(
    server: AuthServerThread, alice: Login
) -> None:
    fields = {"socket_id": SOCKET_ID, "channel_name": "presence-lobby"}
    for headers, status in ((alice.headers, 200), ({}, 401)):
        allowed = post_like_pusher_js(server.auth_endpoint, fields, {"Origin": ORIGIN, **headers})
        other = post_like_pusher_js(
            server.auth_endpoint, fields, {"Origin": "http://evil.example", **headers}
        )
        assert allowed.status_code == other.status_code == status
        assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "Access-Control-Allow-Origin" not in other.headers


def test_thread_runner_stops_cleanly_and_frees_its_port() -> None:
    runner = AuthServerThread(make_config()).start()
    port = runner.port
    assert requests.get(f"{runner.url}/health", timeout=TIMEOUT).status_code == 200
    runner.stop()
    runner.stop()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


def test_thread_runner_raises_when_the_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        runner = AuthServerThread(make_config(), port=taken.getsockname()[1])
        with pytest.raises(OSError):
            runner.start()


# --- the command line ---------------------------------------------------------------------

PUSHER_URL = f"http://{KEY}:{SECRET}@127.0.0.1:4000/apps/{APP_ID}"


def start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("command", "env"),
    [
        (["auth_server", "--pusher-url", PUSHER_URL], {}),
        (["doubletick.cli", "auth"], {"PUSHER_URL": PUSHER_URL}),
    ],
    ids=["python -m auth_server", "doubletick auth + PUSHER_URL"],
)
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_on_the_printed_url_until_signalled(
    command: list[str], env: dict[str, str], stop_signal: signal.Signals
) -> None:
    process = start_cli(*command, "--port", "0", "--user", "alice:pw", env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("auth server listening on http://127.0.0.1:"), line
        url = line.split()[-1]
        assert login(url, "alice", "pw").user_data["user_id"] == "alice"
        process.send_signal(stop_signal)
        assert process.wait(timeout=TIMEOUT) == 0
    finally:
        process.kill()
        process.communicate()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "alice:pw"], "PUSHER_URL"),
        (["--pusher-url", "http://nope/apps/1", "--user", "alice:pw"], "pusher url"),
        (["--pusher-url", PUSHER_URL, "--user", "alice"], "NAME:PASSWORD"),
        (["--pusher-url", PUSHER_URL, "--user", "Alice:pw"], "NAME:PASSWORD"),
        (["--pusher-url", PUSHER_URL, "--users-file", "/no/such/file"], "users file"),
        (["--pusher-url", PUSHER_URL], "no users"),
        (["--pusher-url", PUSHER_URL, "--user", "a:b", "--group", "Bad:a"], "group"),
    ],
)
def test_cli_reports_invalid_config_in_one_line_and_exits_2(args: list[str], message: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != "PUSHER_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "auth_server", "--port", "0", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command", [["auth_server", "hash-password"], ["doubletick.cli", "auth", "--hash-password"]]
)
def test_cli_hashes_a_password_from_stdin(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *command],
        input="s3cret pw\n",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    stored = result.stdout.strip()
    assert verify_password("s3cret pw", stored)
    assert not verify_password("s3cret pw\n", stored)


def test_cli_serves_users_from_a_users_file(tmp_path: Any) -> None:
    users_file = tmp_path / "users.json"
    users_file.write_text(
        json.dumps(
            {
                "users": {"bob": {"password": hash_password("bob-pw"), "name": "Bob B."}},
                "groups": {"club": ["bob"]},
            }
        )
    )
    process = start_cli(
        "auth_server", "--pusher-url", PUSHER_URL, "--port", "0", "--users-file", str(users_file)
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        bob = login(url, "bob", "bob-pw")
        assert bob.user_data == {"user_id": "bob", "user_info": {"name": "Bob B."}}
        fields = {"socket_id": SOCKET_ID, "channel_name": "presence-group-club"}
        response = post_like_pysher(f"{url}/pusher/auth", fields, bob.headers)
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=TIMEOUT) == 0
    finally:
        process.kill()
        process.communicate()
