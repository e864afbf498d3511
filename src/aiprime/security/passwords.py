"""Password hashing with Argon2id (from `cryptography`), stored as PHC strings.

The parameters are OWASP's minimum for Argon2id (19 MiB, 2 passes, 1 lane): about 0.1 s per hash here, so
callers in an event loop run these functions in a worker thread.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from aiprime.errors import InvalidInput

MIN_LENGTH = 12  # NIST SP 800-63B asks for at least 8; 12 for accounts that can deploy models
MAX_LENGTH = 1024  # bounds the work one login attempt can cause
# A hash of random bytes: verifies nothing, costs what a real check costs.
_DUMMY = "$argon2id$v=19$m=19456,t=2,p=1$YWlwcmltZS1kdW1teS0xNg$jTb62RCCX5TaoC7jgLP8pzd6Zv/GoATE3+4bvh6+rd4"


def check_strength(password: str) -> None:
    """Refuse passwords outside the length bounds; raise InvalidInput saying what is allowed."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidInput(
            f"A password has {len(password)} characters; use {MIN_LENGTH} to {MAX_LENGTH} "
            "(a passphrase of four random words is easy to type and hard to guess)."
        )


def hash_password(password: str) -> str:
    """The Argon2id PHC string of `password` with a fresh 16-byte salt (checks its length first)."""
    check_strength(password)
    kdf = Argon2id(salt=os.urandom(16), length=32, iterations=2, lanes=1, memory_cost=19 * 1024)
    return kdf.derive_phc_encoded(password.encode())


def verify_password(password: str, phc: str | None) -> bool:
    """Whether `password` matches the stored PHC string; with no stored hash, spend the same time and fail.

    Hashing even for unknown users keeps the answer time from telling which user names exist.
    """
    if len(password) > MAX_LENGTH:
        return False
    try:
        Argon2id.verify_phc_encoded(password.encode(), phc or _DUMMY)
    except (InvalidKey, ValueError):
        return False
    return phc is not None
