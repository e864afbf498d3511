"""API keys of service accounts: `aip_<key id>_<secret>`, of which only a SHA-256 of the secret is stored.

The secret has 256 random bits, so a fast hash is enough (no password stretching): nobody can guess it, and
a leaked table does not reveal a usable key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "aip"


@dataclass(frozen=True)
class ApiKey:
    """A parsed API key: its public id (stored, shown in lists) and its secret (shown once)."""

    key_id: str
    secret: str

    @property
    def token(self) -> str:
        """The key as the caller sends it: `Authorization: Bearer aip_<id>_<secret>`."""
        return f"{PREFIX}_{self.key_id}_{self.secret}"

    @property
    def secret_sha256(self) -> str:
        """What the database stores instead of the secret."""
        return hashlib.sha256(self.secret.encode()).hexdigest()


def new_key() -> ApiKey:
    """A fresh key: a 48-bit id and a 256-bit secret."""
    return ApiKey(key_id=secrets.token_hex(6), secret=secrets.token_urlsafe(32))


def parse_key(token: str) -> ApiKey | None:
    """The key in `token` if it has the `aip_<id>_<secret>` form, else None (it may be a JWT)."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or len(key_id) != 12 or len(secret) < 32:
        return None
    return ApiKey(key_id, secret)


def matches(key: ApiKey, stored_sha256: str) -> bool:
    """Whether `key`'s secret hashes to the stored digest (constant-time comparison)."""
    return hmac.compare_digest(key.secret_sha256, stored_sha256)
