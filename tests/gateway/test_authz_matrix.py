"""The authorization matrix: every route against every role, allowed or denied as the RBAC design says."""

from __future__ import annotations

import pytest

# route -> (method, path, body); the permission each needs is in EXPECTED below.
ROUTES = {
    "predict": ("POST", "/v1/predict", {"instances": ["a dog runs"]}),
    "explain": ("POST", "/v1/explain", {"instances": ["a dog runs"]}),
    "ask": ("POST", "/v1/ask", {"question": "what is a dog?"}),
    "ingest": ("POST", "/v1/ingest", {"dataset": "wordnet"}),
    "train": ("POST", "/v1/train", {"pipeline": "moe", "parameters": {"epochs": 1}}),
    "deploy": ("POST", "/v1/deploy", {"model": "moe", "version": "champion"}),
    "admin": ("GET", "/v1/admin/users", None),
    "read-audit": ("GET", "/v1/audit?limit=1", None),
    "console": ("GET", "/v1/console/links", None),
}
# The one table: which roles may use which route (hierarchy: viewer < operator < deployer < admin).
EXPECTED = {
    "none":     {"predict": 0, "explain": 0, "ask": 0, "ingest": 0, "train": 0, "deploy": 0, "admin": 0, "read-audit": 0, "console": 0},
    "viewer":   {"predict": 1, "explain": 1, "ask": 1, "ingest": 0, "train": 0, "deploy": 0, "admin": 0, "read-audit": 0, "console": 1},
    "operator": {"predict": 1, "explain": 1, "ask": 1, "ingest": 1, "train": 1, "deploy": 0, "admin": 0, "read-audit": 0, "console": 1},
    "deployer": {"predict": 1, "explain": 1, "ask": 1, "ingest": 1, "train": 1, "deploy": 1, "admin": 0, "read-audit": 0, "console": 1},
    "admin":    {"predict": 1, "explain": 1, "ask": 1, "ingest": 1, "train": 1, "deploy": 1, "admin": 1, "read-audit": 0, "console": 1},
    "auditor":  {"predict": 0, "explain": 0, "ask": 0, "ingest": 0, "train": 0, "deploy": 0, "admin": 0, "read-audit": 1, "console": 0},
}  # fmt: skip
CASES = [(role, route, bool(allowed)) for role, row in EXPECTED.items() for route, allowed in row.items()]


@pytest.fixture(scope="module")
def tokens(gateway, principals) -> dict[str, str]:
    """An access token per role (and one for a principal with no role)."""
    out = {}
    for role in EXPECTED:
        name, key = principals.service(*(() if role == "none" else (role,)))
        out[role] = gateway.token(name, key)
    return out


def test_the_table_covers_every_route_and_role() -> None:
    assert all(set(row) == set(ROUTES) for row in EXPECTED.values())
    assert set(EXPECTED) == {"none", "viewer", "operator", "deployer", "admin", "auditor"}


@pytest.mark.parametrize(("role", "route", "allowed"), CASES, ids=[f"{r}-{p}" for r, p, _ in CASES])
def test_route_is_allowed_or_denied_by_role(gateway, tokens, role: str, route: str, allowed: bool) -> None:
    method, path, body = ROUTES[route]
    with gateway.client(tokens[role]) as client:
        answer = client.request(method, path, json=body)
    if allowed:
        assert answer.status_code == 200, answer.text
    else:
        assert answer.status_code == 403, answer.text
        error = answer.json()["error"]
        assert error["code"] == "forbidden" and route in error["message"]


@pytest.mark.parametrize("route", list(ROUTES))
def test_every_route_needs_a_credential(gateway, route: str) -> None:
    method, path, body = ROUTES[route]
    with gateway.client() as client:
        answer = client.request(method, path, json=body)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json()["error"]["code"] == "unauthenticated"
