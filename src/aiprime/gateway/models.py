"""The gateway's request and answer documents (they make its OpenAPI schema at /openapi.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from aiprime.rag.search import ANSWER_K
from aiprime.security.passwords import MAX_LENGTH, MIN_LENGTH
from aiprime.security.rbac import NAME_PATTERN, RESERVED_PATTERN, ROLES

PrincipalName = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
Scalar = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    """What went wrong and how to fix it."""

    code: str = Field(description="Stable, machine-readable: unauthenticated, forbidden, rate_limited, ...")
    message: str = Field(description="For people: what was wrong and what to do.")
    request_id: str | None = Field(
        description="Quote it to an operator: it finds the log lines and audit row."
    )


class ErrorBody(BaseModel):
    """Every error the gateway answers has this shape."""

    error: ErrorDetail


class PredictRequest(_Strict):
    """KServe v1 inference request, forwarded to the InferenceGraph router."""

    instances: list[Text | dict[str, Any]] = Field(
        min_length=1, max_length=256, description="Texts (or KServe instance objects) to classify."
    )
    parameters: dict[str, Scalar] | None = Field(None, max_length=32)


class ExplainRequest(PredictRequest):
    """The same request as for a prediction, explained."""


class AskRequest(_Strict):
    """A question for retrieval-augmented answering."""

    question: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    top_k: int = Field(ANSWER_K, ge=1, le=50, description="Passages to retrieve.")


class SearchRequest(_Strict):
    """A retrieval search: the passages a question would be answered from, without the answer."""

    query: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    top_k: int = Field(5, ge=1, le=50, description="Passages to return.")


class IngestRequest(_Strict):
    """Ingest and version a data set."""

    dataset: Slug


class TrainRequest(_Strict):
    """Start a training pipeline."""

    pipeline: Slug
    parameters: dict[Slug, Scalar] = Field(
        default_factory=dict, max_length=64, json_schema_extra={"additionalProperties": False}
    )


class DeployRequest(_Strict):
    """Serve a registered model version."""

    model: Slug
    version: Slug = Field(description="A version number or an alias such as `champion`.")


class PasswordGrant(BaseModel):
    """RFC 6749 4.3: a user's name and password."""

    model_config = ConfigDict(title="password grant")

    grant_type: Literal["password"]
    username: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    password: Annotated[str, StringConstraints(max_length=1024)]
    client_id: Annotated[str, StringConstraints(max_length=128)] | None = None  # a public client may send it


class ClientCredentialsGrant(BaseModel):
    """RFC 6749 4.4: a service account's name and API key (or the same as HTTP Basic)."""

    model_config = ConfigDict(title="client_credentials grant")

    grant_type: Literal["client_credentials"]
    client_id: Annotated[str, StringConstraints(max_length=128)] | None = None
    client_secret: Annotated[str, StringConstraints(max_length=256)] | None = None


TokenRequest = Annotated[PasswordGrant | ClientCredentialsGrant, Field(discriminator="grant_type")]


class TokenAnswer(BaseModel):
    """RFC 6749 access token response."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class OAuthError(BaseModel):
    """RFC 6749 section 5.2 error response of the token endpoint."""

    error: str = Field(
        description="invalid_request, invalid_client, invalid_grant, unsupported_grant_type, ..."
    )
    error_description: str = Field(description="For people: what was wrong and what to do.")
    request_id: str | None = Field(
        description="Quote it to an operator: it finds the log lines and audit row."
    )


class NewPrincipal(_Strict):
    """A principal to create; it holds no role until one is granted."""

    # Only a user may have a password: say so in the schema, which cannot otherwise relate two fields.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"not": {"required": ["password"]}},
                {"properties": {"password": {"type": "null"}}},
                {"not": {"required": ["kind"]}},
                {"properties": {"kind": {"const": "user"}}},
            ]
        },
    )

    name: PrincipalName = Field(
        description="Not `anonymous`, nor starting with `cli:` or `system:` (the audit log's own actors).",
        json_schema_extra={"not": {"pattern": RESERVED_PATTERN}},
    )
    kind: Literal["user", "service", "external"] = "user"
    password: Annotated[str, StringConstraints(min_length=MIN_LENGTH, max_length=MAX_LENGTH)] | None = Field(
        None, description="Users only; without one, the user cannot use the password grant."
    )


class PrincipalOut(BaseModel):
    """A principal and its assigned roles."""

    name: str
    kind: str
    roles: list[str]
    created_at: datetime
    created_by: str


RoleName = Literal[ROLES]  # the roles migration 0003 seeds; there is no route that adds one


class RoleGrant(_Strict):
    """A role to assign."""

    role: RoleName


class RoleOut(BaseModel):
    """A role with its own and effective permissions."""

    name: str
    description: str
    permissions: list[str]
    inherits: list[str]
    effective_permissions: list[str]


class NewApiKey(BaseModel):
    """A new API key. `api_key` is shown this once: only its hash is stored."""

    key_id: str
    api_key: str
    principal: str


class AuditRowOut(BaseModel):
    """One audit log row."""

    seq: int
    at: datetime
    actor: str
    action: str
    resource: str
    decision: str
    status: int | None
    request_id: str | None
    trace_id: str | None
    detail: dict[str, Any]
    hash: str


class AuditPage(BaseModel):
    """Audit rows after a sequence number; pass `next_after` as `after` for the next page."""

    entries: list[AuditRowOut]
    next_after: int


class ChainProblem(BaseModel):
    """A row the chain check found altered or deleted."""

    seq: int
    kind: str
    message: str


class ChainReport(BaseModel):
    """The outcome of walking the audit log's hash chain."""

    ok: bool
    rows: int
    head_seq: int
    head_hash: str
    published_seq: int | None = Field(
        None, description="The last published head it was checked against (None: none published yet)."
    )
    published_at: str | None = Field(None, description="When that head was published (ISO 8601, UTC).")
    problems: list[ChainProblem]


class Health(BaseModel):
    """Liveness or readiness."""

    status: Literal["ok"]
