"""The OAuth2 token endpoint (RFC 6749): the password grant for users, client credentials for services.

Answers carry `Cache-Control: no-store`, and errors are RFC 6749 section 5.2 documents
(`{"error": "invalid_grant", "error_description": "..."}`), so standard clients (requests-oauthlib,
authlib) work unmodified. The form's schema states the rule between its fields (the password grant needs
`username` and `password`), so a request valid by the schema is never refused for its shape.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Request, Security
from fastapi.routing import APIRoute
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response

from aiprime.errors import AIPrimeError, InvalidClient, InvalidInput
from aiprime.gateway.auth import Caller
from aiprime.gateway.models import (
    ClientCredentialsGrant,
    ErrorBody,
    OAuthError,
    PasswordGrant,
    TokenAnswer,
    TokenRequest,
)
from aiprime.gateway.responses import describe
from aiprime.gateway.runtime import Runtime

#: RFC 6749 5.1: token answers, and errors alike, must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FORM = "application/x-www-form-urlencoded"
_GRANTS = TypeAdapter(TokenRequest)
basic = HTTPBasic(auto_error=False, scheme_name="client", description="OAuth2 client authentication.")


class OAuthRoute(APIRoute):
    """A route that answers as RFC 6749 says: `no-store`, errors as `{"error", "error_description"}`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                answer = await handler(request)
            except AIPrimeError as e:
                answer = _oauth_error(request, e)
            answer.headers.update(NO_STORE)
            return answer

        return handle


def _oauth_error(request: Request, e: AIPrimeError) -> Response:
    status, code, headers = describe(e)
    error = getattr(e, "oauth_error", None) or {"invalid_input": "invalid_request"}.get(code, code)
    ctx = request.state.ctx
    ctx.error = error
    document = OAuthError(error=error, error_description=str(e), request_id=ctx.request_id)
    return Response(document.model_dump_json(), status, headers=headers, media_type="application/json")


class _UnsupportedGrant(InvalidInput):
    """The form names no grant this endpoint serves. HTTP servers should return HTTP_400."""

    oauth_error = "unsupported_grant_type"


def _form_schema() -> dict:
    """The form as JSON Schema: one object per grant (no $ref: OpenAPI resolves those from its root)."""
    grants = [model.model_json_schema() for model in (PasswordGrant, ClientCredentialsGrant)]
    return {"oneOf": grants, "discriminator": {"propertyName": "grant_type"}}


router = APIRouter(route_class=OAuthRoute)
RESPONSES = {
    400: {
        "model": OAuthError | ErrorBody,
        "description": "RFC 6749 5.2: invalid_request, invalid_grant, ...; a form the gateway refuses "
        "before reading it (a NUL character, too deeply nested) gets its general error document.",
    },
    401: {"model": OAuthError, "description": "RFC 6749 5.2: invalid_client (see WWW-Authenticate)."},
    413: {"model": ErrorBody, "description": "The form is larger than the gateway accepts."},
    429: {"model": OAuthError, "description": "Too many attempts: `rate_limited`; see Retry-After."},
    "4XX": {"model": ErrorBody, "description": "Refused before the form was read (headers too large, ...)."},
    "5XX": {"model": ErrorBody, "description": "The gateway failed; quote the request id."},
}


@router.post(
    "/oauth/token",
    tags=["auth"],
    response_model=TokenAnswer,
    responses=RESPONSES,
    summary="OAuth2 token endpoint",
    openapi_extra={
        "requestBody": {"required": True, "content": {_FORM: {"schema": _form_schema()}}},
        "security": [{}],  # client authentication is optional: the password grant needs none
    },
)
async def token(
    request: Request, client: Annotated[HTTPBasicCredentials | None, Security(basic)]
) -> TokenAnswer:
    """RFC 6749: `password` for users, `client_credentials` (the API key as secret) for service accounts."""
    rt: Runtime = request.app.state.runtime
    ctx = request.state.ctx
    rt.take(f"ip:{ctx.client}")  # before any password hashing: bounds guessing and the work it causes
    grant = await _read_grant(request)
    if isinstance(grant, PasswordGrant):
        caller = await _password_grant(rt, ctx, grant)
    else:
        caller = await _client_credentials_grant(rt, ctx, grant, client)
    ctx.actor, ctx.decision = caller.name, "allow"
    access_token, ttl = rt.issuer.issue(caller.name, caller.kind, caller.principal_id, caller.key_id)
    return TokenAnswer(access_token=access_token, expires_in=ttl)


async def _read_grant(request: Request) -> PasswordGrant | ClientCredentialsGrant:
    """The form as one of the grants; InvalidInput (invalid_request or unsupported_grant_type) otherwise."""
    form = await request.form()
    try:
        return _GRANTS.validate_python({k: v for k, v in form.items() if isinstance(v, str)})
    except ValidationError as e:
        fields = ", ".join(".".join(str(x) for x in err["loc"]) or "form" for err in e.errors()[:5])
        kind = (
            _UnsupportedGrant
            if form.get("grant_type") not in ("password", "client_credentials")
            else InvalidInput
        )
        raise kind(
            f"Invalid token request (fields: {fields}): send a form with grant_type=password (with username "
            "and password) or grant_type=client_credentials (with client_id and client_secret, or HTTP Basic)."
        ) from e


async def _password_grant(rt: Runtime, ctx: Any, grant: PasswordGrant) -> Caller:
    ctx.resource = f"token:{grant.username}"
    rt.take(f"ip:{ctx.client}", rt.logins)
    rt.take(f"user:{grant.username}", rt.logins)  # also bounds guessing one account from many addresses
    return await rt.auth.password_grant(grant.username, grant.password)


async def _client_credentials_grant(
    rt: Runtime, ctx: Any, grant: ClientCredentialsGrant, client: HTTPBasicCredentials | None
) -> Caller:
    client_id, secret = (
        (client.username, client.password) if client else (grant.client_id, grant.client_secret)
    )
    if not client_id or not secret:
        raise InvalidClient(
            "The client_credentials grant needs `client_id` and `client_secret` (form fields or HTTP "
            "Basic); the secret is the service account's API key."
        )
    ctx.resource = f"token:{client_id}"
    return await rt.auth.client_credentials(client_id, secret)
