from __future__ import annotations

import base64
import json

import pytest

from auth_server.tokens import TokenError, issue_token, verify_token

SECRET = b"s" * 32
NOW = 1_800_000_000.0


def test_a_token_names_its_user_until_it_expires() -> None:
    token = issue_token(SECRET, "alice", int(NOW) + 60)
    assert verify_token(SECRET, token, now=NOW) == "alice"
    assert verify_token(SECRET, token, now=NOW + 59) == "alice"
    with pytest.raises(TokenError, match="expired"):
        verify_token(SECRET, token, now=NOW + 60)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    forged = issue_token(b"x" * 32, "alice", int(NOW) + 60)
    with pytest.raises(TokenError, match="signature"):
        verify_token(SECRET, forged, now=NOW)


@pytest.mark.parametrize("change", [{"sub": "bob"}, {"exp": int(NOW) + 10**6}])
def test_a_token_with_an_altered_payload_is_refused(change: dict[str, object]) -> None:
    payload, signature = issue_token(SECRET, "alice", int(NOW) + 60).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    altered = json.dumps({**claims, **change}, separators=(",", ":")).encode()
    encoded = base64.urlsafe_b64encode(altered).rstrip(b"=").decode()
    with pytest.raises(TokenError, match="signature"):
        verify_token(SECRET, f"{encoded}.{signature}", now=NOW)


@pytest.mark.parametrize(
    "token",
    ["", ".", "abc", "a.b.c", "abc.!!!", "é.é", "x" * 5000, "eyJzdWIiOiJhbGljZSJ9."],
)
def test_malformed_tokens_are_refused_without_crashing(token: str) -> None:
    with pytest.raises(TokenError):
        verify_token(SECRET, token, now=NOW)
