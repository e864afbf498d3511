"""The gateway's hardening settings on a cluster: the proxies whose X-Forwarded-For it believes are set
explicitly per overlay (the ALB's addresses, never base's placeholder), and its durable audit spool has a
bounded volume of its own instead of sharing /tmp."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from aiprime.gateway.config import GatewaySettings

PLACEHOLDER = "10.0.0.0/8"


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
