from __future__ import annotations

import pytest

from auth_server.passwords import (
    MAX_PASSWORD_CHARS,
    PasswordHashError,
    hash_password,
    parse_hash,
    verify_password,
)

CHEAP = 2**4  # hashes for tests: the cost travels with the hash, so any n verifies


def test_a_hash_verifies_its_password_and_nothing_else() -> None:
    stored = hash_password("correct horse", n=CHEAP)
    assert verify_password("correct horse", stored)
    assert not verify_password("correct hors", stored)
    assert not verify_password("", stored)


def test_hashes_are_salted() -> None:
    assert hash_password("same", n=CHEAP) != hash_password("same", n=CHEAP)


def test_default_hash_uses_strong_scrypt_parameters() -> None:
    parsed = parse_hash(hash_password("pw"))
    assert (parsed.n, parsed.r, parsed.p) == (2**14, 8, 1)
    assert len(parsed.salt) == 16 and len(parsed.key) == 32


def test_too_long_password_never_matches() -> None:
    password = "x" * (MAX_PASSWORD_CHARS + 1)
    assert not verify_password(password, hash_password(password, n=CHEAP))


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain-text-password",
        "bcrypt$16$8$1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
        "scrypt$16$8$1$c2FsdHNhbHQ",
        "scrypt$x$8$1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
        "scrypt$15$8$1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
        f"scrypt${2**30}$8$1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
        "scrypt$16$8$1$!!!$a2V5a2V5a2V5a2V5a2V5a2V5",
        "scrypt$16$8$1$c2FsdHNhbHQ$c2hvcnQ",
    ],
)
def test_malformed_or_dangerous_hashes_are_refused(stored: str) -> None:
    with pytest.raises(PasswordHashError):
        parse_hash(stored)
