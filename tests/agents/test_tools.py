"""The agents' tools call a real gateway with the calling principal's token: RBAC and the audit log apply."""

from __future__ import annotations

from pathlib import Path

from _helpers.agent_gateway import PlatformUpstream, agent_gateway, service_account
from _helpers.gateways import Gateway

from aiprime.agents.tools import GatewayTools
from aiprime.db.engine import connect
from aiprime.security import audit


def tools_for(gateway: Gateway, app_db_url: str, *roles: str, **options) -> tuple[str, GatewayTools]:
    name, key = service_account(app_db_url, *roles)
    return name, GatewayTools(gateway.url, gateway.token(name, key), "run-tools-test", **options)


def audit_row(app_db_url: str, request_id: str) -> audit.AuditEntry:
    with connect(app_db_url).connect() as conn:
        (row,) = audit.read(conn, request_id=request_id)
    return row.entry


def test_a_tool_call_is_audited_as_the_caller_with_the_agent_run(gateway: Gateway, app_db_url: str) -> None:
    name, tools = tools_for(gateway, app_db_url, "viewer")
    result = tools.call("classify", "a dog barks")
    assert result.status == "ok", result
    assert result.output["predictions"][0]["lexname"] == "noun.animal"
    gateway.flush_audit()
    entry = audit_row(app_db_url, result.request_id)
    assert (entry.actor, entry.action, entry.decision) == (name, "POST /v1/predict", "allow")
    assert entry.detail["agent_run"] == "run-tools-test"


def test_a_permission_the_caller_lacks_is_a_forbidden_step(gateway: Gateway, app_db_url: str) -> None:
    name, tools = tools_for(gateway, app_db_url, "auditor")  # read-audit only: no ask
    result = tools.call("ask", "what is a dog?")
    assert result.status == "forbidden" and result.http_status == 403
    assert "ask" in result.message and result.output is None
    gateway.flush_audit()
    entry = audit_row(app_db_url, result.request_id)
    assert (entry.actor, entry.decision, entry.status) == (name, "deny", 403)


def test_wordnet_and_foldoc_lookups_keep_their_source_of_the_retrievers_hits(
    gateway: Gateway, app_db_url: str, platform: PlatformUpstream
) -> None:
    _, tools = tools_for(gateway, app_db_url, "viewer")
    assert [h["title"] for h in tools.call("wordnet", "dog").output] == ["dog"]
    assert [h["title"] for h in tools.call("foldoc", "TCP").output] == ["TCP"]
    assert platform.seen[-1]["body"] == {"instances": ["TCP"], "parameters": {"k": 20}}


def test_an_answer_over_the_output_limit_is_dropped_with_a_status(gateway: Gateway, app_db_url: str) -> None:
    _, tools = tools_for(gateway, app_db_url, "viewer", max_output_bytes=100)
    result = tools.call("search", "dog")  # the retriever's answer: about 400 bytes
    assert result.status == "too_large" and result.output is None
    assert "100 bytes" in result.message


def test_a_hanging_tool_stops_at_its_timeout(
    app_db_url: str, platform: PlatformUpstream, tmp_path: Path
) -> None:
    gw = agent_gateway(app_db_url, tmp_path, platform.url, ask="/hang")
    try:
        _, tools = tools_for(gw, app_db_url, "viewer", timeout_s=0.5)
        result = tools.call("ask", "anything")
        assert result.status == "timeout" and "0.5 s" in result.message
    finally:
        platform.release.set()
        gw.stop()
        platform.release.clear()


def test_python_runs_in_the_gateways_sandbox_audited_and_only_with_its_permission(
    gateway: Gateway, app_db_url: str
) -> None:
    name, tools = tools_for(gateway, app_db_url, "viewer")
    result = tools.call("python", "print(6 * 7)")
    assert result.status == "ok" and result.output["stdout"] == "42\n"
    gateway.flush_audit()
    entry = audit_row(app_db_url, result.request_id)
    assert (entry.actor, entry.action, entry.resource) == (name, "POST /v1/agents/python", "python")
    assert tools.call("python", "import time; time.sleep(5)", time_left_s=1.0).status == "timeout"
    _, roleless = tools_for(gateway, app_db_url)
    refused = roleless.call("python", "print(1)")
    assert refused.status == "forbidden" and "python" in refused.message


def test_the_local_stacks_gateway_forwards_search_to_the_retriever(tmp_path: Path) -> None:
    from aiprime.serving import launcher
    from aiprime.settings import Settings

    servers = [
        launcher.Server(name, 1, (), f"http://127.0.0.1:1/v1/models/{name}:predict", "")
        for name in ("gate", "retriever")
    ] + [launcher.Server(launcher.ROUTER, 2, (), "http://127.0.0.1:2/", "")]
    argv = launcher._gateway(3, servers, Settings(home=tmp_path, _env_file=None)).argv
    assert argv[argv.index("--search-url") + 1] == "http://127.0.0.1:1/v1/models/retriever:predict"
    without_rag = launcher._gateway(3, [servers[0], servers[2]], Settings(home=tmp_path, _env_file=None)).argv
    assert "--search-url" not in without_rag
