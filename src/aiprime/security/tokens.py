"""Access tokens: JWTs signed with Ed25519 (`EdDSA`) by the gateway, and optionally an external OIDC issuer.

Verification pins the algorithm per issuer (EdDSA for ours, the configured asymmetric ones for OIDC), so
`alg: none` and algorithm confusion (an HS256 token "signed" with our public key) fail before any key is
used; expiry, issuer, audience and subject are required.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from aiprime.errors import ConfigError, Unauthenticated

LOCAL_ALGORITHM = "EdDSA"
_REQUIRED = ["exp", "iat", "iss", "aud", "sub"]
_OIDC_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")  # asymmetric only: HMAC would need a shared secret


@dataclass(frozen=True)
class SigningKey:
    """The gateway's Ed25519 private key and its key id (a thumbprint of the public key)."""

    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh key."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: str, source: str) -> SigningKey:
        """Load a PKCS#8 PEM key; ConfigError names `source` (where the PEM came from) and the fix."""
        try:
            key = serialization.load_pem_private_key(pem.encode(), password=None)
        except (ValueError, TypeError) as e:
            raise ConfigError(
                f"The gateway signing key from {source} is not a PEM private key ({e}). "
                "Delete it to let the gateway generate a new one, or store an Ed25519 PKCS#8 PEM."
            ) from e
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(
                f"The gateway signing key from {source} is a {type(key).__name__}, not Ed25519. "
                "Generate one with `openssl genpkey -algorithm ed25519`."
            )
        return cls(key)

    def to_pem(self) -> str:
        """The key as unencrypted PKCS#8 PEM (for the secrets store only)."""
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    @property
    def public(self) -> Ed25519PublicKey:
        """The verifying half."""
        return self.private.public_key()

    @property
    def kid(self) -> str:
        """RFC 7638-style thumbprint: base64url SHA-256 of the raw public key, first 16 characters."""
        raw = self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()).decode()[:16]


@dataclass(frozen=True)
class Claims:
    """A verified token: whose it is and who issued it."""

    subject: str
    issuer: str
    external: bool  # issued by the OIDC provider rather than this gateway
    expires_at: int
    token_id: str | None = None
    principal_id: str | None = None  # `pid`: the principal's never-reused id (this gateway's tokens)
    key_id: str | None = None  # `key`: the API key the token was obtained with, if any


@dataclass(frozen=True)
class TokenIssuer:
    """Issues the gateway's access tokens."""

    key: SigningKey
    issuer: str
    audience: str
    ttl_s: int
    clock: Callable[[], float] = time.time

    def issue(
        self, subject: str, kind: str, principal_id: str | None = None, key_id: str | None = None
    ) -> tuple[str, int]:
        """A signed token for `subject` (a principal of `kind`) and its lifetime in seconds.

        Args:
            subject: the principal's name.
            kind: user, service or external.
            principal_id: the principal's id (`pid`), which a re-created principal of the same name lacks.
            key_id: the API key the caller authenticated with (`key`), so revoking it ends the token too.
        """
        now = int(self.clock())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl_s,
            "jti": uuid.uuid4().hex,
            "kind": kind,
        }
        bound = {"pid": principal_id, "key": key_id}
        claims |= {name: value for name, value in bound.items() if value is not None}
        token = jwt.encode(claims, self.key.private, algorithm=LOCAL_ALGORITHM, headers={"kid": self.key.kid})
        return token, self.ttl_s


@dataclass
class OidcIssuer:
    """An external OpenID Connect issuer whose tokens the gateway accepts, with keys from its JWKS URL."""

    issuer: str
    jwks_url: str
    audience: str
    principal_claim: str = "sub"
    algorithms: tuple[str, ...] = _OIDC_ALGORITHMS
    _client: jwt.PyJWKClient | None = field(default=None, repr=False)

    def signing_key(self, token: str) -> Any:
        """The JWKS key that the token's `kid` names (fetched over the network, then cached by PyJWT)."""
        if self._client is None:
            self._client = jwt.PyJWKClient(self.jwks_url, cache_keys=True, lifespan=300, timeout=5)
        try:
            return self._client.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientError as e:
            raise Unauthenticated(
                f"No key of {self.jwks_url} verifies this token ({e}).", "unknown_key"
            ) from e


class TokenVerifier:
    """Checks tokens from this gateway (Ed25519 keys by kid) and, if configured, from one OIDC issuer."""

    def __init__(
        self,
        keys: Mapping[str, Ed25519PublicKey],
        issuer: str,
        audience: str,
        oidc: OidcIssuer | None = None,
        leeway_s: int = 30,
    ) -> None:
        """Args: keys maps kid to public key (the current key and any still-valid previous ones)."""
        self.keys, self.issuer, self.audience, self.oidc, self.leeway_s = (
            dict(keys),
            issuer,
            audience,
            oidc,
            leeway_s,
        )

    def is_external(self, token: str) -> bool:
        """Whether the token claims the OIDC issuer (its check may fetch keys: run it off the event loop)."""
        return self.oidc is not None and _peek(token).get("iss") == self.oidc.issuer

    def verify(self, token: str) -> Claims:
        """The token's claims, or Unauthenticated saying what was wrong and how to get a valid token."""
        if self.is_external(token):
            return self._verify_oidc(token)
        kid = _header(token).get("kid")
        key = self.keys.get(kid) if kid else next(iter(self.keys.values()), None)
        if key is None:
            raise Unauthenticated(
                f"The token's key id {kid!r} is not one of this gateway's keys; "
                "get a new token from POST /oauth/token.",
                "unknown_key",
            )
        claims = _decode(token, key, [LOCAL_ALGORITHM], self.issuer, self.audience, self.leeway_s)
        return Claims(
            claims["sub"],
            claims["iss"],
            False,
            claims["exp"],
            claims.get("jti"),
            claims.get("pid"),
            claims.get("key"),
        )

    def _verify_oidc(self, token: str) -> Claims:
        oidc = self.oidc
        algorithm = _header(token).get("alg")
        if algorithm not in oidc.algorithms:
            raise Unauthenticated(
                f"Tokens of {oidc.issuer} must use one of {', '.join(oidc.algorithms)}, not {algorithm!r}.",
                "algorithm",
            )
        claims = _decode(
            token, oidc.signing_key(token), list(oidc.algorithms), oidc.issuer, oidc.audience, self.leeway_s
        )
        subject = claims.get(oidc.principal_claim)
        if not isinstance(subject, str) or not subject:
            raise Unauthenticated(
                f"The token of {oidc.issuer} has no {oidc.principal_claim!r} claim; configure "
                "AIPRIME_GATEWAY_OIDC_PRINCIPAL_CLAIM to a claim it carries.",
                "claims",
            )
        return Claims(subject, claims["iss"], True, claims["exp"], claims.get("jti"))


_MALFORMED = "The bearer token is neither a JWT nor an API key; get a token from POST /oauth/token."


def _peek(token: str) -> dict[str, Any]:
    """The unverified claims (only to choose the issuer whose key and algorithms then verify them)."""
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.DecodeError as e:
        raise Unauthenticated(_MALFORMED, "malformed") from e


def _header(token: str) -> dict[str, Any]:
    """The unverified JOSE header (to pick the key by `kid`; the algorithm is pinned, never taken from it)."""
    try:
        return jwt.get_unverified_header(token)
    except jwt.DecodeError as e:
        raise Unauthenticated(_MALFORMED, "malformed") from e


_REASONS: tuple[tuple[type[Exception], str, str], ...] = (
    (jwt.ExpiredSignatureError, "expired", "The token has expired; get a new one from POST /oauth/token."),
    (
        jwt.ImmatureSignatureError,
        "not_yet_valid",
        "The token is not valid yet (nbf/iat in the future); check the issuer's clock.",
    ),
    (
        jwt.InvalidAudienceError,
        "audience",
        "The token is for another audience; request one for {audience!r}.",
    ),
    (
        jwt.InvalidIssuerError,
        "issuer",
        "The token was issued by another issuer; this gateway trusts {issuer!r}.",
    ),
    (
        jwt.InvalidAlgorithmError,
        "algorithm",
        "The token's algorithm is not allowed; this issuer signs with {algorithms}.",
    ),
    (
        jwt.InvalidSignatureError,
        "signature",
        "The token's signature does not verify; it was altered or signed by another key.",
    ),
    (
        jwt.MissingRequiredClaimError,
        "claims",
        "The token lacks a required claim ({error}); use a token from POST /oauth/token.",
    ),
)


def _decode(token: str, key: Any, algorithms: list[str], issuer: str, audience: str, leeway: int) -> dict:
    try:
        return jwt.decode(
            token,
            key,
            algorithms=algorithms,
            issuer=issuer,
            audience=audience,
            leeway=leeway,
            options={"require": _REQUIRED},
        )
    except jwt.PyJWTError as e:
        for kind, reason, message in _REASONS:
            if isinstance(e, kind):
                raise Unauthenticated(
                    message.format(
                        audience=audience, issuer=issuer, error=e, algorithms=", ".join(algorithms)
                    ),
                    reason,
                ) from e
        raise Unauthenticated(
            f"The token is invalid ({e}); get a new one from POST /oauth/token.", "malformed"
        ) from e
