"""Secrets from the environment, files, and Vault KV v2 (a small fake of Vault's HTTP API on loopback)."""

from __future__ import annotations

import http.server
import json
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from _helpers.servers import JsonHandler

from aiprime.errors import ConfigError, ServiceUnavailable
from aiprime.security.secrets import SIGNING_KEY, EnvSecrets, FileSecrets, VaultSecrets, load_signing_key

TOKEN = "s.test-token"


class FakeVault(JsonHandler):
    """Vault's KV v2 read and write endpoints (`/v1/<mount>/data/<path>`), with token and check-and-set."""

    protocol_version = "HTTP/1.0"  # as it was written: one request per connection
    store: ClassVar[dict[str, dict]] = {}

    def _reply(self, status: int, document: dict) -> None:
        self.send_json(status, document)

    def _authorized(self) -> bool:
        if self.headers.get("X-Vault-Token") == TOKEN:
            return True
        self._reply(403, {"errors": ["permission denied"]})
        return False

    def do_GET(self) -> None:
        if not self._authorized():
            return
        found = self.store.get(self.path)
        if found is None:
            self._reply(404, {"errors": []})
        else:
            self._reply(200, {"data": {"data": found["data"], "metadata": {"version": found["version"]}}})

    def do_POST(self) -> None:
        if not self._authorized():
            return
        request = json.loads(self.rfile.read(int(self.headers["content-length"])))
        current = self.store.get(self.path)
        cas = request.get("options", {}).get("cas")
        if cas is not None and cas != (current["version"] if current else 0):
            self._reply(400, {"errors": ["check-and-set parameter did not match the current version"]})
            return
        version = (current["version"] if current else 0) + 1
        self.store[self.path] = {"data": request["data"], "version": version}
        self._reply(200, {"data": {"version": version}})


@pytest.fixture
def vault_url() -> Iterator[str]:
    FakeVault.store = {}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeVault)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_env_secrets_read_the_prefixed_variable_and_refuse_writes() -> None:
    store = EnvSecrets({"AIPRIME_SECRET_GATEWAY_SIGNING_KEY": "pem"})
    assert store.get(SIGNING_KEY) == "pem"
    assert EnvSecrets({}).get(SIGNING_KEY) is None
    with pytest.raises(ConfigError, match="AIPRIME_SECRET_GATEWAY_SIGNING_KEY"):
        load_signing_key(EnvSecrets({}))


def test_file_secrets_are_private_and_the_first_writer_wins(tmp_path: Path) -> None:
    store = FileSecrets(tmp_path / "secrets")
    assert store.get("db-password") is None
    assert store.create("db-password", "first") == "first"
    assert store.create("db-password", "second") == "first"
    assert stat.S_IMODE((tmp_path / "secrets" / "db-password").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    store.put("db-password", "rotated")
    assert store.get("db-password") == "rotated"


@pytest.mark.parametrize("name", ["../etc/passwd", "UPPER", "a/b", ""])
def test_a_secret_name_cannot_leave_its_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(Exception, match="not valid"):
        FileSecrets(tmp_path).get(name)


def test_the_signing_key_is_generated_once_into_the_file_store(tmp_path: Path) -> None:
    store = FileSecrets(tmp_path / "secrets")
    first = load_signing_key(store)
    assert (tmp_path / "secrets" / SIGNING_KEY).read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert load_signing_key(store).kid == first.kid


def test_a_corrupt_signing_key_names_its_file(tmp_path: Path) -> None:
    store = FileSecrets(tmp_path)
    store.put(SIGNING_KEY, "not a key")
    with pytest.raises(ConfigError, match=f"file {tmp_path / SIGNING_KEY}"):
        load_signing_key(store)


def test_vault_kv2_stores_and_reads_and_first_writer_wins(vault_url: str) -> None:
    store = VaultSecrets(vault_url, TOKEN, mount="secret", path="aiprime")
    assert store.get("db-password") is None
    store.put("db-password", "pw1")
    assert store.get("db-password") == "pw1"
    assert FakeVault.store["/v1/secret/data/aiprime/db-password"]["data"] == {"value": "pw1"}
    assert store.create("db-password", "pw2") == "pw1"  # check-and-set 0 refused: it exists
    key = load_signing_key(store)
    assert load_signing_key(VaultSecrets(vault_url, TOKEN)).kid == key.kid


def test_vault_with_a_wrong_token_names_the_path_and_the_fix(vault_url: str) -> None:
    with pytest.raises(ConfigError, match="secret/aiprime/gateway-signing-key.*Check the token"):
        VaultSecrets(vault_url, "s.wrong").get(SIGNING_KEY)


def test_an_unreachable_vault_is_service_unavailable() -> None:
    with pytest.raises(ServiceUnavailable, match="AIPRIME_GATEWAY_VAULT_URL"):
        VaultSecrets("http://127.0.0.1:9", TOKEN, timeout_s=1).get(SIGNING_KEY)
