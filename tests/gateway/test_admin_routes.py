"""Administration over HTTP: reserved actor names are refused, and an admin cannot remove itself."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("name", ["anonymous", "cli:root", "System:gateway"])
def test_a_principal_named_like_a_system_actor_is_refused(gateway, principals, name: str) -> None:
    _, key = principals.service("admin")
    with gateway.client(key) as client:
        answer = client.post("/v1/admin/users", json={"name": name, "kind": "service"})
    assert answer.status_code == 400
    assert (
        "reserved" in answer.json()["error"]["message"] and "'cli:...'" in answer.json()["error"]["message"]
    )


def test_an_admin_cannot_remove_itself(gateway, principals) -> None:
    name, key = principals.service("admin")
    with gateway.client(key) as client:
        answer = client.delete(f"/v1/admin/users/{name}")
        still = client.get("/v1/admin/users")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "admin_lockout"
    assert "another admin" in answer.json()["error"]["message"]
    assert still.status_code == 200 and name in {p["name"] for p in still.json()}


def test_a_405_names_every_method_of_the_path(gateway, principals) -> None:
    _, key = principals.service("admin")
    with gateway.client(key) as client:
        answer = client.request("OPTIONS", "/v1/admin/users")
    assert answer.status_code == 405 and answer.headers["allow"] == "GET, POST"
