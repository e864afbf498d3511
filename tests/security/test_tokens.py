"""Access tokens: Ed25519 JWTs that reject every tampering, and an external OIDC issuer's tokens by JWKS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator

import jwt
import pytest
from _helpers import jwks_server
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from aiprime.errors import Unauthenticated
from aiprime.security.tokens import OidcIssuer, SigningKey, TokenIssuer, TokenVerifier

ISS, AUD = "aiprime-gateway", "aiprime"
KEY = SigningKey.generate()
OTHER = SigningKey.generate()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(**changes: object) -> dict:
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "sub": "alice", "iat": now, "exp": now + 300}
    return {k: v for k, v in (claims | changes).items() if v is not None}


def _signed(claims: dict, key: SigningKey = KEY) -> str:
    return jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": KEY.kid})


def _hand_made(alg: str, secret: bytes | None) -> str:
    """A token PyJWT would refuse to make: `alg: none`, or HS256 keyed with our public key's PEM."""
    header = _b64(json.dumps({"alg": alg, "typ": "JWT", "kid": KEY.kid}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    signature = (
        _b64(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()) if secret else ""
    )
    return f"{header}.{payload}.{signature}"


def _flip_signature(token: str) -> str:
    head, payload, sig = token.split(".")
    return f"{head}.{payload}.{sig[:10]}{'A' if sig[10] != 'A' else 'B'}{sig[11:]}"


PUBLIC_PEM = KEY.public.public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
TAMPERED: dict[str, tuple[Callable[[], str], str]] = {
    "expired": (lambda: _signed(_claims(iat=int(time.time()) - 900, exp=int(time.time()) - 600)), "expired"),
    "wrong audience": (lambda: _signed(_claims(aud="someone-else")), "audience"),
    "wrong issuer": (lambda: _signed(_claims(iss="https://evil.example")), "issuer"),
    "alg none": (lambda: _hand_made("none", None), "algorithm"),
    "HS256 with the public key": (lambda: _hand_made("HS256", PUBLIC_PEM), "algorithm"),
    "bad signature": (lambda: _flip_signature(_signed(_claims())), "signature"),
    "signed by another key": (lambda: _signed(_claims(), OTHER), "signature"),
    "altered claims": (
        lambda: ".".join(
            [
                _signed(_claims()).split(".")[0],
                _b64(json.dumps(_claims(sub="root")).encode()),
                _signed(_claims()).split(".")[2],
            ]
        ),
        "signature",
    ),
    "no expiry": (lambda: _signed(_claims(exp=None)), "claims"),
    "not yet valid": (lambda: _signed(_claims(nbf=int(time.time()) + 600)), "not_yet_valid"),
    "not a jwt": (lambda: "hello.world", "malformed"),
}


@pytest.fixture
def verifier() -> TokenVerifier:
    return TokenVerifier({KEY.kid: KEY.public}, ISS, AUD)


def test_an_issued_token_verifies_with_its_subject(verifier: TokenVerifier) -> None:
    token, ttl = TokenIssuer(KEY, ISS, AUD, 600).issue("alice", "user")
    claims = verifier.verify(token)
    assert (claims.subject, claims.issuer, claims.external) == ("alice", ISS, False)
    assert ttl == 600 and claims.expires_at - time.time() == pytest.approx(600, abs=5)
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": KEY.kid, "typ": "JWT"}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_tampered_token_is_refused_with_its_reason(verifier: TokenVerifier, case: str) -> None:
    make, reason = TAMPERED[case]
    with pytest.raises(Unauthenticated) as info:
        verifier.verify(make())
    assert info.value.reason == reason
    assert info.value.http_status == 401


def test_a_token_from_a_retired_key_names_the_fix(verifier: TokenVerifier) -> None:
    token = jwt.encode(_claims(), OTHER.private, algorithm="EdDSA", headers={"kid": OTHER.kid})
    with pytest.raises(Unauthenticated, match="POST /oauth/token") as info:
        verifier.verify(token)
    assert info.value.reason == "unknown_key"


def test_a_signing_key_survives_its_pem_and_a_wrong_pem_says_where_it_came_from() -> None:
    assert SigningKey.from_pem(KEY.to_pem(), "test").kid == KEY.kid
    rsa_pem = (
        rsa.generate_private_key(65537, 2048)
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    with pytest.raises(Exception, match="from the file /x.*not Ed25519"):
        SigningKey.from_pem(rsa_pem, "the file /x")


# --- an external OIDC issuer, its JWKS served on loopback ---------------------------------------------------

OIDC_ISS = "https://idp.example"


@pytest.fixture(scope="module")
def idp() -> Iterator[tuple[rsa.RSAPrivateKey, str]]:
    """An RSA key and the URL of a real HTTP server on 127.0.0.1 serving its JWKS."""
    key = rsa.generate_private_key(65537, 2048)
    with jwks_server(key, "idp-1") as url:
        yield key, url


def _oidc_token(key, kid: str = "idp-1", **changes: object) -> str:
    claims = _claims(iss=OIDC_ISS, aud="aiprime-api", sub="auth0|42") | changes
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def test_an_oidc_token_verifies_by_the_issuers_jwks(idp) -> None:
    key, url = idp
    verifier = TokenVerifier({KEY.kid: KEY.public}, ISS, AUD, OidcIssuer(OIDC_ISS, url, "aiprime-api"))
    claims = verifier.verify(_oidc_token(key))
    assert (claims.subject, claims.external) == ("auth0|42", True)
    assert verifier.verify(_signed(_claims())).subject == "alice"  # our own tokens still work beside it


@pytest.mark.parametrize("case", ["foreign key", "unknown kid", "wrong audience", "HS256 with the JWKS"])
def test_a_forged_oidc_token_is_refused(idp, case: str) -> None:
    key, url = idp
    verifier = TokenVerifier({KEY.kid: KEY.public}, ISS, AUD, OidcIssuer(OIDC_ISS, url, "aiprime-api"))
    token = {
        "foreign key": lambda: _oidc_token(rsa.generate_private_key(65537, 2048)),
        "unknown kid": lambda: _oidc_token(key, kid="idp-9"),
        "wrong audience": lambda: _oidc_token(key, aud="aiprime"),
        "HS256 with the JWKS": lambda: jwt.encode(
            _claims(iss=OIDC_ISS, aud="aiprime-api"), b"x" * 32, "HS256", headers={"kid": "idp-1"}
        ),
    }[case]()
    with pytest.raises(Unauthenticated):
        verifier.verify(token)
