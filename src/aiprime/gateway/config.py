"""Gateway settings: `AIPRIME_GATEWAY_*` variables, beside the platform's `aiprime.settings.Settings`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aiprime.gateway.requestchecks import Network, trusted_networks
from aiprime.security.secrets import EnvSecrets, FileSecrets, SecretStore, VaultSecrets
from aiprime.settings import Settings

#: The upstream services behind the gateway's data-plane routes, by the permission that guards them (the
#: `media_*` routes, the multimodal graphs, by predict's and ask's), as wired on a cluster (tests/infra checks
#: kustomize against it). `search` (the retriever alone, `POST /v1/search`, guarded by `ask`) is not wired
#: there yet: `search_url` is set where the gateway runs locally.
UPSTREAMS = ("predict", "explain", "ask", "media_predict", "media_ask", "ingest", "train", "deploy")


class GatewaySettings(BaseSettings):
    """How the gateway authenticates, limits, forwards and keeps its secrets."""

    model_config = SettingsConfigDict(
        env_prefix="AIPRIME_GATEWAY_", env_file=".env", extra="ignore", frozen=True
    )

    predict_url: str | None = Field(None, description="The InferenceGraph router (`POST /`).")
    explain_url: str | None = Field(None, description="The explainer; unset answers 503.")
    ask_url: str | None = Field(
        None, description="The retrieval-augmented answer service; unset answers 503."
    )
    search_url: str | None = Field(
        None, description="The retriever's `:predict` (retrieval without an answer); unset answers 503."
    )
    media_predict_url: str | None = Field(
        None,
        description="The multimodal InferenceGraph's router (`POST /v1/predict/media`); unset: predict_url.",
    )
    media_ask_url: str | None = Field(
        None, description="The multimodal RAG InferenceGraph's router (`POST /v1/ask/media`); unset: ask_url."
    )
    ingest_url: str | None = Field(None, description="The data ingestion service; unset answers 503.")
    train_url: str | None = Field(None, description="The training launcher; unset answers 503.")
    deploy_url: str | None = Field(None, description="The deployment service; unset answers 503.")
    upstream_timeout_s: float = Field(30.0, gt=0, le=600, description="Per upstream call; past it: 504.")
    upstream_max_connections: int = Field(100, ge=1, description="Pooled connections per gateway process.")

    issuer: str = Field("aiprime-gateway", description="`iss` of the tokens this gateway issues and accepts.")
    audience: str = Field("aiprime", description="`aud` of the tokens this gateway issues and accepts.")
    token_ttl_s: int = Field(900, ge=60, le=86400, description="Lifetime of issued access tokens.")
    oidc_issuer: str | None = Field(None, description="An external OIDC issuer whose tokens are accepted.")
    oidc_jwks_url: str | None = Field(None, description="Its JWKS URL (required with oidc_issuer).")
    oidc_audience: str | None = Field(None, description="`aud` its tokens must carry; default: `audience`.")
    oidc_principal_claim: str = Field("sub", description="The claim naming the local principal.")

    max_body_bytes: int = Field(1 << 20, ge=1024, description="Larger request bodies are refused with 413.")
    rate_per_s: float = Field(
        50.0, gt=0, description="Sustained requests per second per principal (429 past)."
    )
    burst: int = Field(
        100, ge=1, description="Requests a principal may send at once before the rate applies."
    )
    login_rate_per_s: float = Field(
        1.0, gt=0, description="Password-grant attempts per second, per client address and per user name."
    )
    login_burst: int = Field(10, ge=1, description="Password-grant attempts allowed at once.")
    identity_cache_s: float = Field(
        5.0,
        ge=0,
        description="How long permissions and API keys are cached; revocations take effect within it.",
    )
    audit_heads: str | None = Field(
        None,
        description="Where the audit chain's head is published: a folder (default "
        "<AIPRIME_HOME>/audit-heads, outside the database's data) or s3://bucket/prefix, a bucket with "
        "Object Lock in compliance mode (boto3 honours AWS_ENDPOINT_URL_S3 for an S3-compatible store). "
        "`aiprime audit verify` checks against the last head published there.",
    )
    audit_head_interval_s: float = Field(
        60.0, gt=0, le=86400, description="How often the gateway publishes the audit chain's head."
    )
    db_role: str = Field(
        "aiprime_gateway",
        pattern=r"^([a-z_][a-z0-9_]{0,62})?$",
        description="The PostgreSQL role the gateway connects as (created by migration 0005: it reads the "
        "gateway schema, changes principals, roles and keys, and may only INSERT audit rows); empty: "
        "the user of the platform's database URL.",
    )
    db_password: SecretStr | None = Field(
        None, description="That role's password, where the server asks for one (not the embedded server)."
    )
    audit_backlog: int = Field(
        10000, ge=1, description="Unwritten audit entries past which requests get 503."
    )
    audit_anonymous_share: int | None = Field(
        None,
        ge=1,
        description="Unwritten anonymous audit entries past which requests without a credential get 503 "
        "(they never count against authenticated requests); default a quarter of audit_backlog.",
    )
    audit_spool_dir: Path | None = Field(
        None, description="Where audit entries are spooled durably; default `<AIPRIME_HOME>/audit-spool`."
    )
    max_header_bytes: int = Field(
        16384, ge=1024, le=1 << 20, description="Larger request lines plus headers are refused with 431."
    )
    max_json_depth: int = Field(
        32, ge=2, le=200, description="JSON bodies nested deeper (arrays and objects) are refused with 400."
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses or CIDRs of proxies whose X-Forwarded-For is believed (on a "
        "cluster the ALB's addresses: each kustomize overlay sets its VPC range, docs/hardening.md); empty: the "
        "peer's address is the client's.",
    )

    secrets: Literal["file", "env", "vault"] = Field("file", description="Where the signing key is kept.")
    vault_url: str | None = Field(None, description="Vault address, for secrets=vault.")
    vault_token: SecretStr | None = Field(None, description="Vault token; unset: hvac reads VAULT_TOKEN.")
    vault_mount: str = Field("secret", description="The KV v2 mount.")
    vault_path: str = Field("aiprime", description="The folder under the mount.")

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        try:
            trusted_networks(value.split(","))
        except ValueError as e:
            raise ValueError(f"{e}; list addresses or CIDRs such as 10.0.0.0/8,127.0.0.1") from e
        return value

    def proxy_networks(self) -> tuple[Network, ...]:
        """The trusted proxies as networks."""
        return trusted_networks(self.trusted_proxies.split(","))

    def upstream_url(self, name: str) -> str | None:
        """The URL configured for the upstream `name` (one of UPSTREAMS, or `media_predict`/`media_ask`, which
        fall back to the router of predict/ask: `aiprime serve --media` runs the multimodal graph there)."""
        url = getattr(self, f"{name}_url")
        return url or (
            getattr(self, f"{name.removeprefix('media_')}_url") if name.startswith("media_") else None
        )


def audit_heads(settings: Settings, gateway: GatewaySettings) -> str:
    """Where audit heads are published: AIPRIME_GATEWAY_AUDIT_HEADS, else `<AIPRIME_HOME>/audit-heads`."""
    return gateway.audit_heads or str(settings.home / "audit-heads")


def secret_store(settings: Settings, gateway: GatewaySettings) -> SecretStore:
    """The provider that `AIPRIME_GATEWAY_SECRETS` chooses; files live in `<AIPRIME_HOME>/secrets`."""
    if gateway.secrets == "env":
        return EnvSecrets()
    if gateway.secrets == "vault":
        if not gateway.vault_url:
            from aiprime.errors import ConfigError

            raise ConfigError(
                "AIPRIME_GATEWAY_SECRETS=vault needs AIPRIME_GATEWAY_VAULT_URL "
                "(e.g. https://vault.example:8200)."
            )
        token = gateway.vault_token.get_secret_value() if gateway.vault_token else None
        return VaultSecrets(gateway.vault_url, token, gateway.vault_mount, gateway.vault_path)
    return FileSecrets(settings.home / "secrets")
