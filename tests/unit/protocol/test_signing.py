"""Signatures against the test vectors of PROTOCOL.md section 16 and Pusher's REST example."""

from __future__ import annotations

import base64
import hashlib
import json

import pusher
import pytest

from doubletick.protocol import signing
from doubletick.protocol.signing import RestAuthError, RestRequest

SECRET = "7ad3773142a6692b25b8"
KEY = "278d425bdf160c739803"


def test_private_channel_signature_matches_pushers_vector() -> None:
    assert signing.channel_auth(KEY, SECRET, "1234.1234", "private-foobar") == (
        KEY + ":58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
    )


def test_presence_signature_covers_the_raw_channel_data() -> None:
    channel_data = '{"user_id":10,"user_info":{"name":"Mr. Pusher"}}'
    expected = "afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c"
    auth = signing.channel_auth(KEY, SECRET, "1234.1234", "presence-foobar", channel_data)
    assert auth == f"{KEY}:{expected}"
    respaced = signing.channel_auth(
        KEY, SECRET, "1234.1234", "presence-foobar", json.dumps(json.loads(channel_data))
    )
    assert respaced != auth


def test_user_signin_signature_matches_pushers_vector() -> None:
    auth = signing.user_auth(KEY, SECRET, "1234.1234", '{"id":"12345"}')
    assert auth.endswith(":4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba")


def test_our_channel_auth_equals_the_pusher_sdk() -> None:
    sdk = pusher.Pusher(app_id="1", key=KEY, secret=SECRET)
    answer = sdk.authenticate(channel="private-room", socket_id="1.2")
    assert answer["auth"] == signing.channel_auth(KEY, SECRET, "1.2", "private-room")


def test_verify_auth_rejects_non_strings_and_other_keys() -> None:
    good = signing.channel_auth(KEY, SECRET, "1.2", "private-a")
    assert signing.verify_auth(good, good)
    assert not signing.verify_auth(good, None)
    assert not signing.verify_auth(good, "other-key:" + good.split(":")[1])


@pytest.mark.parametrize(
    ("socket_id", "valid"),
    [
        ("1.2", True),
        ("123456.7890", True),
        ("1.", False),
        ("a.b", False),
        ("1.2.3", False),
        (1, False),
    ],
)
def test_socket_ids_have_the_digits_dot_digits_form(socket_id: object, valid: bool) -> None:
    assert signing.is_valid_socket_id(socket_id) is valid


# --- REST -------------------------------------------------------------------------------

EXAMPLE_BODY = b'{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'
EXAMPLE_PARAMS = {
    "auth_key": KEY,
    "auth_timestamp": "1353088179",
    "auth_version": "1.0",
    "body_md5": "ec365a775a4cd0599faeb73354201b6f",
    "auth_signature": "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c",
}


def example(**changes: str) -> RestRequest:
    params = {**EXAMPLE_PARAMS, **changes}
    return RestRequest("POST", "/apps/3/events", params, EXAMPLE_BODY)


def test_pushers_rest_example_body_md5_and_string_to_sign() -> None:
    assert hashlib.md5(EXAMPLE_BODY).hexdigest() == EXAMPLE_PARAMS["body_md5"]
    assert signing.rest_string_to_sign("POST", "/apps/3/events", EXAMPLE_PARAMS) == (
        "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179"
        "&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
    )


def test_pushers_rest_example_verifies_within_the_window() -> None:
    signing.verify_rest_request(example(), KEY, SECRET, now=1353088179 + 599)


def test_a_stale_timestamp_is_rejected_with_401() -> None:
    with pytest.raises(RestAuthError, match="timestamp expired") as info:
        signing.verify_rest_request(example(), KEY, SECRET, now=1353088179 + 601)
    assert info.value.status == 401


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"auth_key": "someone-else"}, "unknown auth_key"),
        ({"auth_version": "2.0"}, "auth_version"),
        ({"auth_timestamp": "yesterday"}, "integer"),
        ({"body_md5": "0" * 32}, "body_md5 does not match"),
        ({"auth_signature": "0" * 64}, "invalid signature"),
    ],
)
def test_forged_or_broken_requests_are_rejected(changes: dict[str, str], message: str) -> None:
    with pytest.raises(RestAuthError, match=message):
        signing.verify_rest_request(example(**changes), KEY, SECRET, now=1353088179)


def test_a_body_without_body_md5_is_rejected() -> None:
    params = {k: v for k, v in EXAMPLE_PARAMS.items() if k != "body_md5"}
    request = RestRequest("POST", "/apps/3/events", params, EXAMPLE_BODY)
    with pytest.raises(RestAuthError, match="body_md5 is required"):
        signing.verify_rest_request(request, KEY, SECRET, now=1353088179)


def test_missing_auth_params_are_named() -> None:
    request = RestRequest("GET", "/apps/3/channels", {}, b"")
    with pytest.raises(RestAuthError, match="auth_key"):
        signing.verify_rest_request(request, KEY, SECRET, now=0)


def test_a_get_signed_with_the_md5_of_an_empty_body_verifies() -> None:
    params = {
        "auth_key": KEY,
        "auth_timestamp": "1000",
        "auth_version": "1.0",
        "body_md5": signing.EMPTY_BODY_MD5,
        "info": "user_count",
    }
    params["auth_signature"] = signing.sign_rest_request(SECRET, "GET", "/apps/3/channels", params)
    signing.verify_rest_request(
        RestRequest("GET", "/apps/3/channels", params, b""), KEY, SECRET, 1000
    )


def test_repeated_params_are_joined_with_commas() -> None:
    text = signing.rest_string_to_sign("GET", "/p", {"B": ["x", "y"], "a": "1"})
    assert text == "GET\n/p\na=1&b=x,y"


def test_webhook_signature_round_trips_and_rejects_tampering() -> None:
    body = b'{"time_ms":1,"events":[]}'
    signature = signing.webhook_signature(SECRET, body)
    assert signing.verify_webhook(SECRET, body, signature)
    assert not signing.verify_webhook(SECRET, body + b" ", signature)


def test_encrypted_channel_shared_secret_matches_the_sdk() -> None:
    master_key = b"0123456789abcdef0123456789abcdef"
    sdk = pusher.Pusher(
        app_id="1",
        key=KEY,
        secret=SECRET,
        encryption_master_key_base64=base64.b64encode(master_key).decode(),
    )
    answer = sdk.authenticate(channel="private-encrypted-room", socket_id="1.2")
    shared = answer["shared_secret"]
    shared = shared.decode() if isinstance(shared, bytes) else shared
    assert shared == signing.encrypted_channel_shared_secret("private-encrypted-room", master_key)
