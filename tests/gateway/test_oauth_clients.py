"""The token endpoint as standard OAuth2 clients see it (RFC 6749): requests-oauthlib, unmodified."""

from __future__ import annotations

import pytest
from oauthlib.oauth2 import (
    BackendApplicationClient,
    InvalidClientError,
    InvalidGrantError,
    LegacyApplicationClient,
)
from requests_oauthlib import OAuth2Session

PASSWORD = "correct horse battery staple"
PREDICT = {"instances": ["a dog runs"]}


@pytest.fixture(autouse=True)
def plain_http(monkeypatch) -> None:
    """oauthlib refuses http:// unless told; the test gateway listens on 127.0.0.1 without TLS."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def test_client_credentials_through_requests_oauthlib_reach_the_model(gateway, principals) -> None:
    name, key = principals.service("viewer")
    session = OAuth2Session(client=BackendApplicationClient(client_id=name))
    token = session.fetch_token(f"{gateway.url}/oauth/token", client_id=name, client_secret=key)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 900
    assert session.post(f"{gateway.url}/v1/predict", json=PREDICT).status_code == 200


def test_the_password_grant_through_requests_oauthlib(gateway, principals) -> None:
    name = principals.user(PASSWORD, "viewer")
    session = OAuth2Session(client=LegacyApplicationClient(client_id="aiprime-cli"))
    session.fetch_token(f"{gateway.url}/oauth/token", username=name, password=PASSWORD)
    assert session.post(f"{gateway.url}/v1/predict", json=PREDICT).status_code == 200


def test_a_wrong_password_is_invalid_grant_to_a_standard_client(gateway, principals) -> None:
    name = principals.user(PASSWORD, "viewer")
    session = OAuth2Session(client=LegacyApplicationClient(client_id="aiprime-cli"))
    with pytest.raises(InvalidGrantError) as info:
        session.fetch_token(f"{gateway.url}/oauth/token", username=name, password="not the password")
    assert "Wrong user name or password" in info.value.description


def test_a_wrong_secret_is_invalid_client_to_a_standard_client(gateway, principals) -> None:
    name, _ = principals.service("viewer")
    _, other_key = principals.service("viewer")
    session = OAuth2Session(client=BackendApplicationClient(client_id=name))
    with pytest.raises(InvalidClientError) as info:
        session.fetch_token(f"{gateway.url}/oauth/token", client_id=name, client_secret=other_key)
    assert info.value.status_code == 401 and "aiprime keys create" in info.value.description


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "client_credentials", "client_id": "{name}", "client_secret": "{key}"},
        {"grant_type": "client_credentials", "client_id": "{name}", "client_secret": "aip_wrong"},
        {"grant_type": "password"},
    ],
)
def test_token_answers_and_errors_are_never_cached(gateway, principals, form: dict) -> None:
    name, key = principals.service("viewer")
    with gateway.client() as client:
        answer = client.post("/oauth/token", data={k: v.format(name=name, key=key) for k, v in form.items()})
    assert answer.headers["cache-control"] == "no-store" and answer.headers["pragma"] == "no-cache"
    if answer.status_code != 200:
        assert set(answer.json()) == {"error", "error_description", "request_id"}
        assert answer.json()["error"] in {"invalid_request", "invalid_client"}
