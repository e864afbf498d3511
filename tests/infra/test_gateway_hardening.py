"""The gateway's hardening settings on a cluster: the proxies whose X-Forwarded-For it believes are set
explicitly per overlay (the ALB's addresses, never base's placeholder), its durable audit spool has a
bounded volume of its own instead of sharing /tmp, and it publishes the audit chain's heads to its region's
Object Lock bucket (never base's placeholder) through an IRSA role that cannot delete them."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from aiprime.gateway.config import GatewaySettings

PLACEHOLDER = "10.0.0.0/8"
HEADS_PLACEHOLDER = "aiprime-audit-heads-placeholder"
# `terraform output audit_heads_bucket` of stacks/platform, and the prefix its gateway role may write.
HEADS_URI = re.compile(
    r"^s3://(aiprime-[a-z]+-[a-z]+-[a-z]+-[0-9])-audit-heads-[0-9]{12}/audit-heads/[a-z0-9-]+$"
)


def _gateway(manifests: list[dict]) -> tuple[dict, dict]:
    """The gateway Deployment's pod spec and its container."""
    [deployment] = [m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == "gateway"]
    pod = deployment["spec"]["template"]["spec"]
    [container] = [c for c in pod["containers"] if c["name"] == "gateway"]
    return pod, container


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def _alb_ranges(manifests: list[dict]) -> set[str]:
    """The CIDRs the gateway-ingress NetworkPolicy admits: where the ALB's requests come from."""
    [policy] = [
        m for m in manifests if m["kind"] == "NetworkPolicy" and m["metadata"]["name"] == "gateway-ingress"
    ]
    return {
        peer["ipBlock"]["cidr"]
        for rule in policy["spec"]["ingress"]
        for peer in rule["from"]
        if "ipBlock" in peer
    }


def test_trusted_proxies_are_the_albs_addresses(manifests: list[dict], overlay: Path) -> None:
    _, container = _gateway(manifests)
    trusted = _env(container).get("AIPRIME_GATEWAY_TRUSTED_PROXIES")
    assert trusted, f"{overlay}: the gateway must name its trusted proxies (AIPRIME_GATEWAY_TRUSTED_PROXIES)"
    networks = GatewaySettings(trusted_proxies=trusted).proxy_networks()  # valid, as the gateway parses it
    if overlay.name == "common":
        pytest.skip("prod/common is shared by the region overlays and never deployed on its own")
    assert PLACEHOLDER not in trusted, f"{overlay} still trusts base's {PLACEHOLDER} placeholder"
    assert {str(n) for n in networks} == _alb_ranges(manifests)
    assert all(n.subnet_of(ipaddress.ip_network(PLACEHOLDER)) for n in networks)


def test_the_audit_spool_has_a_bounded_volume_of_its_own(manifests: list[dict], overlay: Path) -> None:
    pod, container = _gateway(manifests)
    spool = _env(container)["AIPRIME_GATEWAY_AUDIT_SPOOL_DIR"]
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == spool]
    assert not mount.get("readOnly")
    others = [m for m in container["volumeMounts"] if m is not mount and m["name"] == mount["name"]]
    assert others == [], f"{overlay}: the spool's volume is shared with {others}"
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert "persistentVolumeClaim" in volume or volume["emptyDir"].get("sizeLimit"), volume


def _role_arn(manifests: list[dict], service_account: str) -> str:
    [account] = [
        m for m in manifests if m["kind"] == "ServiceAccount" and m["metadata"]["name"] == service_account
    ]
    return account["metadata"].get("annotations", {}).get("eks.amazonaws.com/role-arn", "")


def test_audit_heads_go_to_the_regions_object_lock_bucket(manifests: list[dict], overlay: Path) -> None:
    pod, container = _gateway(manifests)
    heads = _env(container)["AIPRIME_GATEWAY_AUDIT_HEADS"]
    if overlay.name == "common":
        pytest.skip("prod/common is shared by the region overlays and never deployed on its own")
    assert HEADS_PLACEHOLDER not in heads, f"{overlay} still publishes audit heads to base's placeholder"
    match = HEADS_URI.match(heads)
    assert match, f"{overlay}: {heads} is not s3://<terraform output audit_heads_bucket>/audit-heads/<env>"
    stack = match.group(1)  # aiprime-<env>-<region>: the same stack must issue the gateway's role
    assert _role_arn(manifests, pod["serviceAccountName"]).endswith(f":role/{stack}-gateway")
    [deployment] = [m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == "gateway"]
    assert deployment["spec"]["template"]["metadata"]["labels"].get("aiprime.io/aws-client") == "true", (
        f"{overlay}: without the aws-client label the NetworkPolicies block S3 and STS"
    )


def test_overlays_sharing_a_bucket_publish_under_their_own_prefix(built: dict[Path, list[dict]]) -> None:
    deployed = {overlay: _env(_gateway(m)[1])["AIPRIME_GATEWAY_AUDIT_HEADS"] for overlay, m in built.items()}
    deployed = {o: heads for o, heads in deployed.items() if o.name != "common"}
    assert len(set(deployed.values())) == len(deployed), deployed


def test_the_gateway_role_appends_audit_heads_and_cannot_delete_them(infra) -> None:
    irsa = infra.load_hcl(infra.terraform / "stacks" / "platform" / "irsa.tf")["locals"][0]["irsa_roles"]
    statements = [s for s in irsa["gateway"] if isinstance(s, dict)]
    actions = {a for s in statements for a in s["actions"]}
    assert actions == {
        "s3:ListBucket",
        "s3:ListBucketVersions",
        "s3:PutObject",
        "s3:GetObject",
        "s3:GetObjectVersion",
    }
    objects = {r for s in statements for r in s["resources"] if "/" in r}
    assert objects == {"${local.heads_arn}/audit-heads/*"}  # the prefix HEADS_URI requires
