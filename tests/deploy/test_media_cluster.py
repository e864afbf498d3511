"""The multimodal graphs on a cluster: every overlay serves the media servers and both multimodal graphs, the
gateway's media routes reach them, and the NetworkPolicies admit exactly their hops.

The overlays are rendered with `kubectl kustomize` (those tests skip, saying so, without kubectl); KServe
objects are checked against the CRDs of `../shared/crds` (skipped, saying where it looked, without them).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from _helpers import wiring
from _helpers.crds import CRDS, crd_errors, strict_validators

from aiprime.deploy import generate, policies
from aiprime.gateway.config import UPSTREAMS
from aiprime.serving.media_models import MEDIA_SERVERS
from aiprime.settings import Settings

REPO = Path(__file__).resolve().parents[2]
OVERLAYS = sorted(p.parent for p in (REPO / "kustomize" / "overlays").rglob("kustomization.yaml"))
MEDIA_UPSTREAMS = {"media_predict": "moe-multimodal", "media_ask": "moe-rag-multimodal"}
MEDIA_GRAPHS = set(MEDIA_UPSTREAMS.values())
GATEWAY = "Deployment/gateway"


def _overlay_id(overlay: Path) -> str:
    return str(overlay.relative_to(REPO / "kustomize" / "overlays"))


@pytest.fixture(scope="module", params=OVERLAYS, ids=_overlay_id)
def rendered(request: pytest.FixtureRequest) -> list[dict]:
    """One overlay as `kubectl kustomize` renders it."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH: install kubectl 1.32+ to render the kustomize overlays")
    result = subprocess.run([kubectl, "kustomize", str(request.param)], capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, f"kubectl kustomize {request.param} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def validators() -> dict:
    if not CRDS.is_dir():
        pytest.skip(f"KServe's CRDs are not at {CRDS}: check out `shared/` beside the repository")
    return strict_validators(CRDS)


def test_the_image_holds_the_wordnet_the_image_expert_loads() -> None:
    """The image expert reads WordNet as it loads; the image installs it where the settings look by default."""
    dockerfile = (REPO / "docker" / "aiprime.Dockerfile").read_text()
    assert "wordnet-base" in dockerfile, (
        "the image expert would fail to load: install wordnet-base in the image"
    )
    assert Settings.model_fields["wordnet_dir"].default == Path(
        "/usr/share/wordnet"
    )  # wordnet-base puts it there


def test_gateway_media_upstreams_are_declared_for_the_gateway() -> None:
    assert MEDIA_UPSTREAMS.items() <= policies.GATEWAY_UPSTREAMS.items()
    assert set(policies.GATEWAY_UPSTREAMS) <= set(UPSTREAMS)


def test_overlay_serves_the_media_servers_and_graphs(rendered: list[dict]) -> None:
    isvcs = wiring.of_kind(rendered, "InferenceService")
    for name, folder in MEDIA_SERVERS.items():
        assert name in isvcs, f"no InferenceService {name!r}"
        container = isvcs[name]["spec"]["predictor"]["containers"][0]
        assert container["args"][:4] == ["python", f"/app/kserve/{folder}", "--model_name", name]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True  # predictor-defaults applied
        budget = wiring.of_kind(rendered, "PodDisruptionBudget")[name]
        assert budget["spec"]["selector"]["matchLabels"] == {wiring.ISVC_LABEL: name}
    assert MEDIA_GRAPHS <= set(wiring.of_kind(rendered, "InferenceGraph"))


def test_gateway_points_its_media_routes_at_the_multimodal_graphs(rendered: list[dict]) -> None:
    _, hops, unset = wiring.gateway_hops(rendered, tuple(MEDIA_UPSTREAMS))
    assert not unset, f"AIPRIME_GATEWAY_<NAME>_URL unset for {unset}"
    assert {hop.via: hop.url for hop in hops} == {
        f"{name} upstream": f"http://{graph}" for name, graph in MEDIA_UPSTREAMS.items()
    }
    assert wiring.broken_hops(rendered, tuple(MEDIA_UPSTREAMS), set()) == []


def test_every_service_a_graph_calls_is_an_inference_service(rendered: list[dict]) -> None:
    """Every generated graph, served on a cluster or not, calls only InferenceServices the overlay renders."""
    isvcs = set(wiring.of_kind(rendered, "InferenceService"))
    for path, text in generate.render().items():
        for graph in (doc for doc in yaml.safe_load_all(text) if doc and doc.get("kind") == "InferenceGraph"):
            services, _ = policies.calls(graph)
            assert set(services) <= isvcs, f"{path} calls {sorted(set(services) - isvcs)}, not served"


def _admitted_by(policy: dict, rendered: list[dict]) -> set[tuple[str, str]]:
    """(caller, callee) pairs of inference workloads that `policy` alone lets through on its side."""
    pods = wiring.workloads(rendered)
    spec = policy["spec"]
    direction = spec["policyTypes"][0]
    selected = [p for p in pods if wiring.selects(spec["podSelector"], p.labels)]
    pairs = set()
    for own in selected:
        for peer in (p for p in pods if p != own):
            if wiring.admitted([policy], direction, own, peer, wiring.SERVER_PORT):
                pairs.add((own.name, peer.name) if direction == "Egress" else (peer.name, own.name))
    return pairs


def _graph_callees(rendered: list[dict], graph: str) -> set[str]:
    services, graphs = policies.calls(wiring.of_kind(rendered, "InferenceGraph")[graph])
    return {f"InferenceService/{s}" for s in services} | {f"InferenceGraph/{g}" for g in graphs}


def test_each_media_policy_admits_its_hops_and_nothing_more(rendered: list[dict]) -> None:
    netpols = wiring.of_kind(rendered, "NetworkPolicy")
    gateway_callees = {f"InferenceGraph/{g}" for g in policies.GATEWAY_GRAPHS} | {"InferenceService/gate"}
    egress = _admitted_by(netpols["inference-client-egress"], rendered)
    assert egress == {(GATEWAY, callee) for callee in gateway_callees}
    for graph in MEDIA_GRAPHS:
        router = f"InferenceGraph/{graph}"
        calls = _admitted_by(netpols[f"graph-{graph}-egress"], rendered)
        assert calls == {(router, callee) for callee in _graph_callees(rendered, graph)}, graph
        assert _admitted_by(netpols[f"graph-{graph}-ingress"], rendered) == {(GATEWAY, router)}, graph
    for name in MEDIA_SERVERS:
        callers = {caller for caller, _ in _admitted_by(netpols[f"isvc-{name}-ingress"], rendered)}
        assert callers == {f"InferenceGraph/{g}" for g in MEDIA_GRAPHS}, name


def test_media_objects_match_their_crds(rendered: list[dict], validators: dict) -> None:
    media = [m for m in rendered if m["metadata"]["name"] in {*MEDIA_SERVERS, *MEDIA_GRAPHS}]
    assert {m["kind"] for m in media} >= {"InferenceService", "InferenceGraph"}
    for manifest in media:
        errors = crd_errors(validators, manifest)
        assert not errors, f"{manifest['kind']}/{manifest['metadata']['name']}:\n  " + "\n  ".join(errors)


def test_generated_media_files_match_their_crds(validators: dict) -> None:
    files = generate.render()
    for path in ("kustomize/base/inference/media.yaml", "kserve/graphs/multimodal.yaml",
                 "kserve/graphs/rag-multimodal.yaml"):  # fmt: skip
        for manifest in (doc for doc in yaml.safe_load_all(files[path]) if doc):
            assert not crd_errors(validators, manifest), f"{path}: {manifest['metadata']['name']}"
