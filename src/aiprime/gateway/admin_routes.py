"""The gateway's admin routes (permission `admin`) and audit routes (permission `read-audit`).

Admin changes go through `aiprime.security.admin.Admin`, so each commits together with its audit entry.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from aiprime.gateway.auth import Caller
from aiprime.gateway.models import (
    AuditPage,
    AuditRowOut,
    ChainReport,
    NewApiKey,
    NewPrincipal,
    PrincipalName,
    PrincipalOut,
    RoleGrant,
    RoleName,
    RoleOut,
)
from aiprime.gateway.routes import ERRORS, require, runtime
from aiprime.security import audit, auditheads, rbac

router = APIRouter(responses=ERRORS)
Admin = Annotated[Caller, Depends(require("admin"))]
Auditor = Annotated[Caller, Depends(require("read-audit"))]
NameParam = Annotated[PrincipalName, Path(description="A principal's name.")]


def _out(p: rbac.Principal) -> PrincipalOut:
    return PrincipalOut(
        name=p.name, kind=p.kind, roles=list(p.roles), created_at=p.created_at, created_by=p.created_by
    )


def _read(request: Request, query):
    """Run `query(conn)` on a pooled connection in a worker thread."""

    def run():
        with runtime(request).engine.connect() as conn:
            return query(conn)

    return run_in_threadpool(run)


@router.get("/v1/admin/users", tags=["admin"], response_model=list[PrincipalOut], summary="List principals")
async def list_users(request: Request, caller: Admin) -> list[PrincipalOut]:
    """Every principal with its assigned roles."""
    return [_out(p) for p in await _read(request, rbac.list_principals)]


@router.post(
    "/v1/admin/users",
    tags=["admin"],
    status_code=201,
    response_model=PrincipalOut,
    summary="Create a principal (no role)",
)
async def add_user(body: NewPrincipal, request: Request, caller: Admin) -> PrincipalOut:
    """Create a user, service account or external subject; it holds no role until granted one."""
    rt = runtime(request)
    actor = rt.actor(request.state.ctx, caller)
    return _out(await run_in_threadpool(rt.admin.add_principal, actor, body.name, body.kind, body.password))


@router.delete("/v1/admin/users/{name}", tags=["admin"], status_code=204, summary="Remove a principal")
async def remove_user(name: NameParam, request: Request, caller: Admin) -> Response:
    """Remove a principal, its role assignments and its API keys."""
    rt = runtime(request)
    await run_in_threadpool(rt.admin.remove_principal, rt.actor(request.state.ctx, caller), name)
    return Response(status_code=204)


@router.post(
    "/v1/admin/users/{name}/roles", tags=["admin"], response_model=PrincipalOut, summary="Grant a role"
)
async def grant(name: NameParam, body: RoleGrant, request: Request, caller: Admin) -> PrincipalOut:
    """Assign a role; 409 if it breaks a separation-of-duty constraint."""
    rt = runtime(request)
    return _out(await run_in_threadpool(rt.admin.grant, rt.actor(request.state.ctx, caller), name, body.role))


@router.delete(
    "/v1/admin/users/{name}/roles/{role}",
    tags=["admin"],
    response_model=PrincipalOut,
    summary="Revoke a role",
)
async def revoke(
    name: NameParam, role: Annotated[RoleName, Path()], request: Request, caller: Admin
) -> PrincipalOut:
    """Remove a role assignment."""
    rt = runtime(request)
    return _out(await run_in_threadpool(rt.admin.revoke, rt.actor(request.state.ctx, caller), name, role))


@router.post(
    "/v1/admin/users/{name}/keys",
    tags=["admin"],
    status_code=201,
    response_model=NewApiKey,
    summary="Create an API key for a service account",
)
async def create_key(name: NameParam, request: Request, caller: Admin) -> NewApiKey:
    """The key is in this answer only; the gateway keeps its hash."""
    rt = runtime(request)
    key = await run_in_threadpool(rt.admin.create_key, rt.actor(request.state.ctx, caller), name)
    return NewApiKey(key_id=key.key_id, api_key=key.token, principal=name)


@router.delete("/v1/admin/keys/{key_id}", tags=["admin"], status_code=204, summary="Revoke an API key")
async def revoke_key(
    key_id: Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")], request: Request, caller: Admin
) -> Response:
    """Revoke a key by its id (the 12 hex digits after `aip_`)."""
    rt = runtime(request)
    await run_in_threadpool(rt.admin.revoke_key, rt.actor(request.state.ctx, caller), key_id)
    return Response(status_code=204)


@router.get("/v1/admin/roles", tags=["admin"], response_model=list[RoleOut], summary="List roles")
async def list_roles(request: Request, caller: Admin) -> list[RoleOut]:
    """Roles with their own permissions, the roles they inherit from, and their effective permissions."""
    return [
        RoleOut(
            name=r.name,
            description=r.description,
            permissions=list(r.permissions),
            inherits=list(r.juniors),
            effective_permissions=list(r.effective_permissions),
        )
        for r in await _read(request, rbac.list_roles)
    ]


@router.get("/v1/audit", tags=["audit"], response_model=AuditPage, summary="Read the audit log")
async def read_audit(
    request: Request,
    caller: Auditor,
    after: Annotated[int, Query(ge=0, le=2**62, description="Rows numbered above this.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    request_id: Annotated[str | None, Query(max_length=64)] = None,
) -> AuditPage:
    """Audit rows, oldest first, optionally of one actor or one request."""
    rows = await _read(request, lambda c: audit.read(c, after, limit, actor, request_id))
    entries = [
        AuditRowOut(
            seq=r.seq,
            hash=r.hash,
            **{k: getattr(r.entry, k) for k in AuditRowOut.model_fields if k not in ("seq", "hash")},
        )
        for r in rows
    ]
    return AuditPage(entries=entries, next_after=rows[-1].seq if rows else after)


@router.get("/v1/audit/verify", tags=["audit"], response_model=ChainReport, summary="Verify the hash chain")
async def verify_audit(request: Request, caller: Auditor) -> ChainReport:
    """Walk the whole chain and check it against the last published head; `problems` names every altered,
    deleted or re-hashed row."""
    rt = runtime(request)
    store = rt.heads.store if rt.heads is not None else None
    report, published = await run_in_threadpool(auditheads.verify_published, rt.engine, store)
    return ChainReport(
        ok=report.ok,
        rows=report.rows,
        head_seq=report.head_seq,
        head_hash=report.head_hash,
        published_seq=published.seq if published else None,
        published_at=published.at if published else None,
        problems=[{"seq": p.seq, "kind": p.kind, "message": p.message} for p in report.problems],
    )
