"""OAuth2 grants, API keys, tampered tokens over HTTP, revocation, and an external OIDC issuer."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from aiprime.gateway.auth import LookupCache
from aiprime.security import apikeys

PASSWORD = "correct horse battery staple"
PREDICT = {"instances": ["a dog runs"]}


def test_the_password_grant_gives_a_working_token(gateway, principals) -> None:
    name = principals.user(PASSWORD, "viewer")
    with gateway.client() as client:
        answer = client.post(
            "/oauth/token", data={"grant_type": "password", "username": name, "password": PASSWORD}
        )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    with gateway.client(body["access_token"]) as client:
        assert client.post("/v1/predict", json=PREDICT).status_code == 200


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "password", "username": "{name}", "password": "not the password"},
        {"grant_type": "password", "username": "nobody-at-all", "password": PASSWORD},
    ],
)
def test_a_wrong_password_or_user_is_invalid_grant(gateway, principals, form: dict) -> None:
    name = principals.user(PASSWORD, "viewer")
    with gateway.client() as client:
        answer = client.post("/oauth/token", data={k: v.format(name=name) for k, v in form.items()})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_client_credentials_work_as_form_fields_and_as_http_basic(gateway, principals) -> None:
    name, key = principals.service("viewer")
    with gateway.client() as client:
        basic = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(name, key))
        wrong = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "someone-else", "client_secret": key},
        )
    assert basic.status_code == 200, basic.text
    assert gateway.token(name, key)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")


def test_an_unknown_grant_type_is_a_clear_400(gateway) -> None:
    with gateway.client() as client:
        answer = client.post("/oauth/token", data={"grant_type": "implicit"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "unsupported_grant_type"
    assert "grant_type" in answer.json()["error_description"]


def test_an_api_key_works_as_a_bearer_credential(gateway, principals) -> None:
    _, key = principals.service("viewer")
    with gateway.client(key) as client:
        assert client.post("/v1/predict", json=PREDICT).status_code == 200


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "wrong audience",
        "wrong issuer",
        "alg none",
        "HS256 with the public key",
        "bad signature",
        "garbage",
    ],
)
def test_a_tampered_token_gets_401_over_http(gateway, principals, case: str) -> None:
    name, key = principals.service("viewer")
    good = gateway.token(name, key)
    head, payload, sig = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    signer = gateway.app.state.runtime.issuer.key.private
    forged = {
        "expired": lambda: jwt.encode(claims | {"exp": int(time.time()) - 60}, signer, "EdDSA"),
        "wrong audience": lambda: jwt.encode(claims | {"aud": "other"}, signer, "EdDSA"),
        "wrong issuer": lambda: jwt.encode(claims | {"iss": "other"}, signer, "EdDSA"),
        "alg none": lambda: jwt.encode(claims, None, "none"),
        "HS256 with the public key": lambda: _hs256_with_public_key(claims, gateway),
        "bad signature": lambda: f"{head}.{payload}.{sig[::-1]}",
        "garbage": lambda: "not-a-token",
    }[case]()
    with gateway.client(forged) as client:
        answer = client.post("/v1/predict", json=PREDICT)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "unauthenticated"


def _hs256_with_public_key(claims: dict, gateway) -> str:
    import base64
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import serialization

    pem = gateway.app.state.runtime.issuer.key.public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    signing_input = (
        f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}"
    )
    return f"{signing_input}.{b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())}"


def test_revoked_keys_roles_and_principals_stop_at_once_without_a_cache(make_gateway, principals) -> None:
    gw = make_gateway(identity_cache_s=0)
    name, key = principals.service("viewer")
    token = gw.token(name, key)
    me = principals.actor
    with gw.client(token) as client:
        assert client.post("/v1/predict", json=PREDICT).status_code == 200
        principals.admin.revoke(me, name, "viewer")
        assert client.post("/v1/predict", json=PREDICT).status_code == 403
        principals.admin.remove_principal(me, name)
        assert client.post("/v1/predict", json=PREDICT).status_code == 401
    with gw.client(key) as client:
        assert client.post("/v1/predict", json=PREDICT).status_code == 401


def test_a_token_dies_with_the_api_key_it_was_obtained_with(make_gateway, principals) -> None:
    gw = make_gateway(identity_cache_s=0)
    name, key = principals.service("viewer")
    token = gw.token(name, key)
    with gw.client(token) as client:
        assert client.post("/v1/predict", json=PREDICT).status_code == 200
        principals.admin.revoke_key(principals.actor, apikeys.parse_key(key).key_id)
        answer = client.post("/v1/predict", json=PREDICT)
    assert answer.status_code == 401
    assert "has been revoked" in answer.json()["error"]["message"]


def test_a_removed_users_token_stays_dead_when_the_name_is_created_again(make_gateway, principals) -> None:
    gw = make_gateway(identity_cache_s=0)
    name = principals.user(PASSWORD, "viewer")
    with gw.client() as client:
        form = {"grant_type": "password", "username": name, "password": PASSWORD}
        token = client.post("/oauth/token", data=form).json()["access_token"]
    principals.admin.remove_principal(principals.actor, name)
    principals.admin.add_principal(principals.actor, name, "user", PASSWORD)
    principals.admin.grant(principals.actor, name, "viewer")
    with gw.client(token) as client:
        answer = client.post("/v1/predict", json=PREDICT)
    assert answer.status_code == 401
    assert "earlier principal" in answer.json()["error"]["message"]


def test_a_re_created_principals_new_token_works_at_once_and_its_old_one_does_not(
    make_gateway, principals
) -> None:
    gw = make_gateway(identity_cache_s=600)  # the cache still holds the first principal's identity

    def token(name: str) -> str:
        form = {"grant_type": "password", "username": name, "password": PASSWORD}
        with gw.client() as client:
            return client.post("/oauth/token", data=form).json()["access_token"]

    name = principals.user(PASSWORD, "viewer")
    old = token(name)
    with gw.client(old) as client:
        assert client.post("/v1/predict", json=PREDICT).status_code == 200
    principals.admin.remove_principal(principals.actor, name)
    principals.admin.add_principal(principals.actor, name, "user", PASSWORD)
    principals.admin.grant(principals.actor, name, "viewer")
    with gw.client(token(name)) as client:
        assert client.post("/v1/predict", json=PREDICT).status_code == 200
    with gw.client(old) as client:
        assert client.post("/v1/predict", json=PREDICT).status_code == 401


def test_a_full_identity_cache_makes_room_without_forgetting_its_recent_entries() -> None:
    loads: list[str] = []
    cache = LookupCache(60, time.monotonic, max_items=3)

    async def look_up(names: str) -> None:
        for name in names:
            await cache.get(name, lambda name=name: loads.append(name) or name)

    asyncio.run(look_up("abcd"))  # "d" does not fit: the least recently used, "a", makes room
    asyncio.run(look_up("bcd"))
    assert loads == list("abcd"), "a full cache sent every lookup back to PostgreSQL"


@pytest.fixture(scope="module")
def idp():
    """An OIDC provider's RSA key and its JWKS, served by a real HTTP server on 127.0.0.1."""
    key = rsa.generate_private_key(65537, 2048)
    with jwks_server(key, "k1") as url:
        yield key, url


def test_an_external_oidc_subject_gets_the_roles_of_its_local_principal(
    make_gateway, principals, idp
) -> None:
    key, jwks_url = idp
    gw = make_gateway(oidc_issuer="https://idp.example", oidc_jwks_url=jwks_url)
    registered = principals.user(PASSWORD, "viewer", kind="external")

    def token(sub: str) -> str:
        now = int(time.time())
        return jwt.encode(
            {"iss": "https://idp.example", "aud": "aiprime", "sub": sub, "iat": now, "exp": now + 60},
            key,
            "RS256",
            headers={"kid": "k1"},
        )

    with httpx.Client(base_url=gw.url) as client:
        ok = client.post(
            "/v1/predict", json=PREDICT, headers={"authorization": f"Bearer {token(registered)}"}
        )
        stranger = client.post(
            "/v1/predict", json=PREDICT, headers={"authorization": f"Bearer {token('who')}"}
        )
    assert ok.status_code == 200, ok.text
    assert stranger.status_code == 403 and "no role" in stranger.json()["error"]["message"]
    with httpx.Client(base_url=gw.url) as client:
        spoof = client.post(
            "/v1/predict", json=PREDICT, headers={"authorization": f"Bearer {token('cli:root')}"}
        )
    assert spoof.status_code == 401 and "system's own actors" in spoof.json()["error"]["message"]


def test_password_guessing_is_throttled_before_any_hashing(make_gateway, principals) -> None:
    gw = make_gateway(login_burst=2, login_rate_per_s=0.1)
    name = principals.user(PASSWORD, "viewer")
    form = {"grant_type": "password", "username": name, "password": "guess number one"}
    with gw.client() as client:
        codes = [client.post("/oauth/token", data=form).status_code for _ in range(3)]
        right = client.post("/oauth/token", data=form | {"password": PASSWORD})
    assert codes == [400, 400, 429]
    assert right.status_code == 429 and int(right.headers["retry-after"]) >= 1


def test_a_flood_of_bad_credentials_is_rate_limited_by_address(make_gateway) -> None:
    gw = make_gateway(rate_per_s=0.1, burst=3)
    with gw.client("not-a-token") as client:
        codes = [client.post("/v1/predict", json=PREDICT).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


from _helpers import jwks_server
