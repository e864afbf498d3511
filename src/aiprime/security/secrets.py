"""Secrets through one interface, from the environment, files under AIPRIME_HOME, or HashiCorp Vault (KV v2).

Every secret has a short name (`gateway-signing-key`). Providers map it to where they keep it: the variable
`AIPRIME_SECRET_GATEWAY_SIGNING_KEY`, the file `<home>/secrets/gateway-signing-key`, or the KV v2 secret
`<mount>/<path>/gateway-signing-key` whose `value` field holds it.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiprime.errors import ConfigError, InvalidInput, ServiceUnavailable
from aiprime.security.tokens import SigningKey

SIGNING_KEY = "gateway-signing-key"
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidInput(f"Secret name {name!r} is not valid; use lower-case letters, digits and '-'.")
    return name


class SecretStore(ABC):
    """A source of secrets by name."""

    @abstractmethod
    def where(self, name: str) -> str:
        """Where this provider keeps `name`, for messages (never the value)."""

    @abstractmethod
    def get(self, name: str) -> str | None:
        """The secret `name`, or None if this provider has none by that name."""

    def put(self, name: str, value: str) -> None:
        """Store `value` as `name`; read-only providers raise ConfigError saying where to set it instead."""
        raise ConfigError(
            f"{type(self).__name__} is read-only: set {self.where(name)} yourself, "
            "or choose AIPRIME_GATEWAY_SECRETS=file or vault."
        )

    def create(self, name: str, value: str) -> str:
        """Store `value` as `name` unless a value exists; return the stored one (the first writer wins)."""
        existing = self.get(name)
        if existing is not None:
            return existing
        self.put(name, value)
        return value


class EnvSecrets(SecretStore):
    """Secrets from environment variables `AIPRIME_SECRET_<NAME>` (read-only)."""

    def __init__(self, environ: Mapping[str, str] | None = None, prefix: str = "AIPRIME_SECRET_") -> None:
        """Args: environ defaults to `os.environ`, read on each `get`."""
        self._environ, self.prefix = environ, prefix

    def where(self, name: str) -> str:
        return f"the environment variable {self.prefix}{_check_name(name).upper().replace('-', '_')}"

    def get(self, name: str) -> str | None:
        environ = os.environ if self._environ is None else self._environ
        return environ.get(f"{self.prefix}{_check_name(name).upper().replace('-', '_')}")


class FileSecrets(SecretStore):
    """Secrets as files of mode 0600 in a folder of mode 0700 (the local default, under AIPRIME_HOME)."""

    def __init__(self, folder: Path) -> None:
        """Args: folder is created on the first write."""
        self.folder = folder

    def where(self, name: str) -> str:
        return f"the file {self.folder / _check_name(name)}"

    def get(self, name: str) -> str | None:
        try:
            return (self.folder / _check_name(name)).read_text()
        except FileNotFoundError:
            return None

    def put(self, name: str, value: str) -> None:
        path = self._prepare(name)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._write_new(tmp, value)
        os.replace(tmp, path)

    def create(self, name: str, value: str) -> str:
        path = self._prepare(name)
        try:
            self._write_new(path, value)  # O_EXCL: of two processes starting at once, one key wins
        except FileExistsError:
            return path.read_text()
        return value

    def _prepare(self, name: str) -> Path:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.folder / _check_name(name)

    @staticmethod
    def _write_new(path: Path, value: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value)


class VaultSecrets(SecretStore):
    """Secrets in HashiCorp Vault's KV version 2 engine, through `hvac`."""

    def __init__(
        self,
        url: str,
        token: str | None,
        mount: str = "secret",
        path: str = "aiprime",
        timeout_s: float = 5.0,
    ) -> None:
        """Args: token None lets hvac read VAULT_TOKEN; path is the folder under the mount."""
        self.url, self.mount, self.path = url, mount, path.strip("/")
        self._token, self._timeout_s = token, timeout_s
        self._client: Any = None

    def where(self, name: str) -> str:
        secret = f"{self.mount}/{self.path}/{_check_name(name)}"
        return f"the Vault KV v2 secret {secret} (field 'value') at {self.url}"

    def get(self, name: str) -> str | None:
        import hvac.exceptions

        try:
            answer = self._kv().read_secret_version(
                path=f"{self.path}/{_check_name(name)}", mount_point=self.mount, raise_on_deleted_version=True
            )
        except hvac.exceptions.InvalidPath:
            return None
        except Exception as e:
            raise self._error(name, e) from e
        return answer["data"]["data"].get("value")

    def put(self, name: str, value: str) -> None:
        self._write(name, value, cas=None)

    def create(self, name: str, value: str) -> str:
        import hvac.exceptions

        try:
            self._write(name, value, cas=0)  # check-and-set 0: only if the secret does not exist yet
        except ConfigError as e:
            if not isinstance(e.__cause__, hvac.exceptions.InvalidRequest):
                raise
            return self.get(name) or value
        return value

    def _write(self, name: str, value: str, cas: int | None) -> None:
        try:
            self._kv().create_or_update_secret(
                path=f"{self.path}/{_check_name(name)}",
                secret={"value": value},
                cas=cas,
                mount_point=self.mount,
            )
        except Exception as e:
            raise self._error(name, e) from e

    def _kv(self) -> Any:
        if self._client is None:
            import hvac  # imported on use: only deployments that choose Vault need it

            self._client = hvac.Client(url=self.url, token=self._token, timeout=self._timeout_s)
        return self._client.secrets.kv.v2

    def _error(self, name: str, e: Exception) -> Exception:
        import hvac.exceptions

        if isinstance(e, hvac.exceptions.VaultError) and not isinstance(e, hvac.exceptions.VaultDown):
            return ConfigError(
                f"Vault refused {self.where(name)}: {type(e).__name__}: {e}. Check the token "
                "(AIPRIME_GATEWAY_VAULT_TOKEN or VAULT_TOKEN) and its policy on that path."
            )
        return ServiceUnavailable(
            f"Vault at {self.url} did not answer for {self.where(name)} "
            f"({type(e).__name__}: {e}). Check AIPRIME_GATEWAY_VAULT_URL."
        )


def load_signing_key(store: SecretStore) -> SigningKey:
    """The gateway's Ed25519 signing key from `store`, generated and stored there on first use.

    Raises:
        ConfigError: the stored value is not an Ed25519 PEM key, or the store is read-only and has none.
    """
    pem = store.get(SIGNING_KEY)
    if pem is None:
        pem = store.create(SIGNING_KEY, SigningKey.generate().to_pem())
    return SigningKey.from_pem(pem, store.where(SIGNING_KEY))
