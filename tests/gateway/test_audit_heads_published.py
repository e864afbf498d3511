"""The running gateway publishes the audit chain's head, and its verify route checks against it."""

from __future__ import annotations


def test_the_gateway_publishes_the_head_that_verify_then_checks(make_gateway, principals, tmp_path) -> None:
    gw = make_gateway(audit_heads=str(tmp_path / "heads"))
    _, key = principals.service("auditor")
    with gw.client(key) as client:
        assert client.get("/v1/audit", params={"limit": 1}).status_code == 200
        gw.flush_audit()
        head = gw.app.state.runtime.heads.publish_once()
        report = client.get("/v1/audit/verify").json()
    assert head is not None and (tmp_path / "heads" / "aiprime.jsonl").read_text().count("\n") == 1
    assert report["ok"] and report["published_seq"] == head.seq and report["problems"] == []
