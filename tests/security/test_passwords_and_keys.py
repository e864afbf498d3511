"""Argon2id passwords and service-account API keys."""

from __future__ import annotations

import pytest

from aiprime.errors import InvalidInput
from aiprime.security import apikeys
from aiprime.security.passwords import hash_password, verify_password


def test_a_password_verifies_and_a_wrong_one_does_not() -> None:
    stored = hash_password("correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password("correct horse battery staple", stored)
    assert not verify_password("correct horse battery stapl", stored)
    assert hash_password("correct horse battery staple") != stored  # salted


def test_an_unknown_user_fails_after_the_same_work() -> None:
    assert not verify_password("correct horse battery staple", None)


@pytest.mark.parametrize("password", ["short", "x" * 1025])
def test_a_password_outside_the_length_bounds_names_them(password: str) -> None:
    with pytest.raises(InvalidInput, match="use 12 to 1024"):
        hash_password(password)


def test_an_api_key_round_trips_and_only_its_hash_matches() -> None:
    key = apikeys.new_key()
    parsed = apikeys.parse_key(key.token)
    assert parsed == key
    assert apikeys.matches(parsed, key.secret_sha256)
    assert not apikeys.matches(apikeys.new_key(), key.secret_sha256)
    assert key.secret not in key.secret_sha256


@pytest.mark.parametrize("token", ["eyJhbGciOi.x.y", "aip_short_secret", "aip_0123456789ab_tooshort", "aip"])
def test_what_is_not_an_api_key_is_not_parsed(token: str) -> None:
    assert apikeys.parse_key(token) is None
