"""Every kustomize overlay builds, holds the whole platform, and is correct in ways a cluster would only tell
us at deploy time: KServe objects match the CRDs, every hop from the gateway through the InferenceGraphs to
the model servers resolves and is admitted by the NetworkPolicies, pods pass the restricted Pod Security
Standard, selectors select something, and nothing is left pointing at a placeholder.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from _helpers import wiring
from _helpers.crds import strict_validators

from aiprime.deploy import generate
from aiprime.gateway.config import UPSTREAMS
from aiprime.moe.experts import EXPERTS, ExpertSpec
from aiprime.serving.graph import create_app, load_graph, load_services, parse_graph
from aiprime.serving.media_models import MEDIA_SERVERS
from aiprime.serving.names import service_name

EXPERT_SERVICES = {service_name("expert", spec.domain): spec for spec in EXPERTS}
# combiner: the top-1 graph's unsure branch weights the two experts' answers with it; MEDIA_SERVERS: the
# multimodal graphs' modality step and image expert
MODELS = {"gate", *EXPERT_SERVICES, "retriever", "generator", "combiner", *MEDIA_SERVERS}
UNSERVED = {"ingest", "train", "deploy"}  # gateway upstreams with no service on a cluster (Dagster runs them)
KINDS = {
    "Namespace",
    "ConfigMap",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "Deployment",
    "Service",
    "Ingress",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "InferenceService",
    "InferenceGraph",
    "ServiceMonitor",
    "PodMonitor",
    "PrometheusRule",
}
# Which overlays put the generator on GPU nodes (components/gpu).
GPU_OVERLAYS = {"staging", "prod/common", "prod/us-east-1", "prod/eu-west-1"}


def _name(overlay: Path) -> str:
    return str(overlay).split("kustomize/overlays/", 1)[1]


def _of_kind(manifests: list[dict], kind: str) -> dict[str, dict]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def _pod_specs(manifests: list[dict]) -> dict[str, dict]:
    """Pod specs by workload: Deployment templates and InferenceService predictors (which KServe turns into
    Deployments with the same pod fields)."""
    specs = {
        f"Deployment/{n}": d["spec"]["template"]["spec"] for n, d in _of_kind(manifests, "Deployment").items()
    }
    specs |= {
        f"InferenceService/{n}": i["spec"]["predictor"]
        for n, i in _of_kind(manifests, "InferenceService").items()
    }
    return specs


def test_overlay_builds_with_every_kind(manifests: list[dict], overlay: Path) -> None:
    kinds = {m["kind"] for m in manifests}
    assert KINDS <= kinds, f"{_name(overlay)} lacks {sorted(KINDS - kinds)}"


def test_overlay_serves_every_model(manifests: list[dict], overlay: Path) -> None:
    services = _of_kind(manifests, "InferenceService")
    assert set(services) == MODELS, f"{_name(overlay)}: InferenceServices {sorted(services)}"
    for name, isvc in services.items():
        args = isvc["spec"]["predictor"]["containers"][0]["args"]
        spec = EXPERT_SERVICES.get(name)
        # kserve/<server>/ runs as a folder (python /app/kserve/gate); an expert's server is its modality's
        command = ["python", f"/app/kserve/{spec.server if spec else MEDIA_SERVERS.get(name, name)}"]
        assert args[: len(command)] == command, name
        assert args[len(command) : len(command) + 2] == ["--model_name", name], name
        if spec:  # the domain it loads: expert-people-society serves people_society
            assert args[args.index("--domain") + 1] == spec.domain, name
        assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard", name


def test_every_hop_from_the_gateway_resolves_and_is_admitted(manifests: list[dict], overlay: Path) -> None:
    problems = wiring.broken_hops(manifests, UPSTREAMS, UNSERVED)
    assert not problems, f"{_name(overlay)}: broken hops:\n  " + "\n  ".join(problems)


def test_network_policies_admit_no_call_to_a_model_server_but_the_hops(
    manifests: list[dict], overlay: Path
) -> None:
    extra = wiring.unexpected_reach(manifests, UPSTREAMS)
    assert not extra, f"{_name(overlay)}:\n  " + "\n  ".join(extra)


def test_overlay_renders_exactly_the_graphs_the_gateway_reaches(manifests: list[dict], overlay: Path) -> None:
    rendered = set(_of_kind(manifests, "InferenceGraph"))
    reached = wiring.reached_graphs(manifests, UPSTREAMS)
    assert rendered and rendered == reached, f"{_name(overlay)}: rendered {rendered}, reached {reached}"


def test_rendered_graphs_pass_the_routers_validation(manifests: list[dict], overlay: Path) -> None:
    for name, graph in _of_kind(manifests, "InferenceGraph").items():
        parse_graph(graph, source=f"{_name(overlay)}: InferenceGraph/{name}")  # raises naming the fault


def test_wiring_check_names_the_hop_it_breaks(manifests: list[dict]) -> None:
    without_expert = [m for m in manifests if m["metadata"]["name"] != "expert-actions"]
    assert any(
        "InferenceGraph/moe-first-choice node 'root' step 'actions'" in problem
        and "no InferenceService named 'expert-actions'" in problem
        for problem in wiring.broken_hops(without_expert, UPSTREAMS, UNSERVED)
    )
    without_policy = [m for m in manifests if m["metadata"]["name"] != "graph-moe-top1-fallback-ingress"]
    problems = wiring.broken_hops(without_policy, UPSTREAMS, UNSERVED)
    assert any("Deployment/gateway (predict upstream)" in p and "ingress" in p for p in problems), problems


@pytest.fixture(scope="session")
def crd_validators(infra) -> dict[str, jsonschema.Draft7Validator]:
    """A strict validator per KServe kind, from the openAPIV3Schema of ../shared/crds."""
    if not infra.crds.is_dir():
        pytest.skip(f"KServe CRDs not found at {infra.crds}: check out `shared/` beside the repository")
    return strict_validators(infra.crds)


def test_kserve_resources_match_their_crd(manifests: list[dict], overlay: Path, crd_validators) -> None:
    checked = [m for m in manifests if m["kind"] in crd_validators]
    assert checked, f"{_name(overlay)} has no KServe resource to check"
    for manifest in checked:
        errors = sorted(crd_validators[manifest["kind"]].iter_errors(manifest), key=lambda e: list(e.path))
        where = f"{_name(overlay)}: {manifest['kind']}/{manifest['metadata']['name']}"
        assert not errors, (
            where + "\n" + "\n".join(f"  {'.'.join(map(str, e.path))}: {e.message}" for e in errors)
        )


def test_pods_meet_the_restricted_pod_security_standard(manifests: list[dict], overlay: Path) -> None:
    for workload, pod in _pod_specs(manifests).items():
        where = f"{_name(overlay)}: {workload}"
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["runAsUser"] == 10001, f"{where}: the image's user is 10001"
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), f"{where}: {bound}"
            assert "livenessProbe" in container and "readinessProbe" in container, where


def test_only_dagster_mounts_a_kubernetes_token(manifests: list[dict], overlay: Path) -> None:
    accounts = _of_kind(manifests, "ServiceAccount")
    mounting = {name for name, sa in accounts.items() if sa.get("automountServiceAccountToken") is not False}
    assert mounting == {"dagster"}, f"{_name(overlay)}: {sorted(mounting)}"
    role = _of_kind(manifests, "Role")["dagster"]
    assert all("secrets" not in rule["resources"] for rule in role["rules"]), "Dagster must not read Secrets"


def test_objects_share_the_overlay_namespace(manifests: list[dict], overlay: Path) -> None:
    (namespace,) = _of_kind(manifests, "Namespace")
    stray = {
        f"{m['kind']}/{m['metadata']['name']}"
        for m in manifests
        if m["kind"] != "Namespace" and m["metadata"].get("namespace") != namespace
    }
    assert not stray, f"{_name(overlay)}: outside {namespace}: {sorted(stray)}"
    subjects = _of_kind(manifests, "RoleBinding")["dagster"]["subjects"]
    assert {s["namespace"] for s in subjects} == {namespace}, (
        f"{_name(overlay)}: RoleBinding subjects {subjects}"
    )


def test_network_is_default_deny(manifests: list[dict], overlay: Path) -> None:
    policy = _of_kind(manifests, "NetworkPolicy")["default-deny"]["spec"]
    assert policy["podSelector"] == {} and set(policy["policyTypes"]) == {"Ingress", "Egress"}, _name(overlay)
    assert not policy.get("ingress") and not policy.get("egress"), _name(overlay)


def test_deployable_overlays_narrow_the_vpc_range(manifests: list[dict], overlay: Path) -> None:
    if _name(overlay) == "prod/common":
        pytest.skip("prod/common is shared by the region overlays and never deployed on its own")
    text = yaml.safe_dump_all(_of_kind(manifests, "NetworkPolicy").values())
    assert "10.0.0.0/8" not in text, f"{_name(overlay)} still admits base's 10.0.0.0/8 placeholder"


def _selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def test_selectors_select_a_workload(manifests: list[dict], overlay: Path) -> None:
    deployments = _of_kind(manifests, "Deployment")
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in deployments.values()]
    # KServe labels each predictor pod with the InferenceService's name.
    pod_labels += [{"serving.kserve.io/inferenceservice": n} for n in _of_kind(manifests, "InferenceService")]
    for kind in ("Service", "PodDisruptionBudget"):
        for name, obj in _of_kind(manifests, kind).items():
            selector = obj["spec"]["selector"]
            selector = selector if "matchLabels" in selector else {"matchLabels": selector}
            assert any(_selects(selector, labels) for labels in pod_labels), (
                f"{_name(overlay)}: {kind}/{name}"
            )
    for name, hpa in _of_kind(manifests, "HorizontalPodAutoscaler").items():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments, f"{_name(overlay)}: HPA {name}"


def test_every_container_runs_the_project_image(manifests: list[dict], overlay: Path) -> None:
    for workload, pod in _pod_specs(manifests).items():
        for container in pod["containers"]:
            repository, _, tag = container["image"].partition(":")
            assert repository in {"ghcr.io/aiprime/aiprime", "ghcr.io/aiprime/aiprime-cuda"}, workload
            assert tag and tag != "latest", f"{_name(overlay)}: {workload} has no release tag"


def test_dagster_runs_use_the_deployed_image(manifests: list[dict], overlay: Path) -> None:
    for name in ("dagster-daemon", "dagster-webserver"):
        container = _of_kind(manifests, "Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["DAGSTER_CURRENT_IMAGE"] == container["image"], f"{_name(overlay)}: {name}"


def test_generator_is_on_gpus_only_where_the_gpu_component_is(manifests: list[dict], overlay: Path) -> None:
    services = _of_kind(manifests, "InferenceService")
    on_gpu = {
        n
        for n, i in services.items()
        if "nvidia.com/gpu" in i["spec"]["predictor"]["containers"][0]["resources"]["limits"]
    }
    expected = {"generator"} if _name(overlay) in GPU_OVERLAYS else set()
    assert on_gpu == expected, _name(overlay)
    if expected:
        predictor = services["generator"]["spec"]["predictor"]
        assert predictor["nodeSelector"] == {"aiprime.io/pool": "gpu"}
        assert predictor["tolerations"][0]["key"] == "nvidia.com/gpu"
        assert predictor["containers"][0]["image"].startswith("ghcr.io/aiprime/aiprime-cuda:")


def test_irsa_roles_exist_in_terraform(infra, manifests: list[dict], overlay: Path) -> None:
    annotated = {
        n
        for n, sa in _of_kind(manifests, "ServiceAccount").items()
        if "eks.amazonaws.com/role-arn" in sa["metadata"].get("annotations", {})
    }
    if _name(overlay) == "prod/common":
        assert not annotated, "role ARNs are per region; they belong in the region overlays"
        return
    # every environment's terragrunt.hcl sources the one root stack, which declares the roles
    irsa = infra.load_hcl(infra.terraform / "stacks" / "platform" / "irsa.tf")["locals"][0]["irsa_roles"]
    assert annotated == set(irsa), (
        f"{_name(overlay)}: annotated {sorted(annotated)}, Terraform roles {sorted(irsa)}"
    )


def test_prometheus_alerts_link_to_runbook_sections(infra, manifests: list[dict], overlay: Path) -> None:
    runbook = (infra.repo / "docs" / "runbook.md").read_text()
    anchors = {
        line.lstrip("#").strip().lower().replace(" ", "-")
        for line in runbook.splitlines()
        if line.startswith("#")
    }
    for rules in _of_kind(manifests, "PrometheusRule").values():
        for group in rules["spec"]["groups"]:
            for rule in (r for r in group["rules"] if "alert" in r):  # recording rules carry no runbook
                anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
                assert anchor in anchors, f"{rule['alert']} links to #{anchor}, which docs/runbook.md lacks"


def test_crd_check_rejects_a_misspelt_field(crd_validators) -> None:
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "typo"},
        "spec": {
            "predictor": {"minReplica": 1, "containers": [{"name": "kserve-container", "image": "x:1"}]}
        },
    }
    errors = [e.message for e in crd_validators["InferenceService"].iter_errors(isvc)]
    assert any("minReplica" in message for message in errors), errors


NEW_EXPERT = ExpertSpec("geography", domain="geography")


def test_adding_an_expert_is_one_spec_and_a_generate(
    tmp_path: Path, kubectl: str, infra, crd_validators
) -> None:
    """A seventh ExpertSpec, generated into a copy of the deployment files, is served and wired everywhere."""
    for folder in ("kustomize", "kserve/graphs"):
        shutil.copytree(infra.repo / folder, tmp_path / folder)
    specs = (*EXPERTS, NEW_EXPERT)
    changed = generate.write(tmp_path, specs)
    # fallback.yaml names only the generalist (its choice graphs list the experts); kustomization.yaml, files;
    # the media servers and the gateway's upstreams name no expert
    assert set(changed) == set(generate.render(specs)) - {
        "kserve/graphs/fallback.yaml",
        "kserve/graphs/kustomization.yaml",
        "kustomize/base/inference/media.yaml",
        "kustomize/base/gateway/upstreams.yaml",
    }
    for path in changed:
        assert "expert-geography" in (tmp_path / path).read_text(), f"{path} lacks the new expert"
    rendered = subprocess.run(
        [kubectl, "kustomize", str(tmp_path / "kustomize/overlays/dev")],
        capture_output=True,
        text=True,
        check=True,
    )
    manifests = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    assert "expert-geography" in _of_kind(manifests, "InferenceService")
    assert wiring.broken_hops(manifests, UPSTREAMS, UNSERVED) == []
    assert wiring.unexpected_reach(manifests, UPSTREAMS) == []
    first_choice = wiring.step_hops(_of_kind(manifests, "InferenceGraph")["moe-first-choice"])
    assert "isvc:expert-geography" in {hop.url for hop in first_choice}
    for manifest in (m for m in manifests if m["kind"] in crd_validators):
        assert not list(crd_validators[manifest["kind"]].iter_errors(manifest)), manifest["metadata"]["name"]
    graphs = tmp_path / "kserve/graphs"
    create_app(load_graph(graphs / "fallback.yaml"), load_services(graphs / "services.local.yaml"))
