"""Write (or check) every deployment file that lists experts, from the expert registry.

    python -m aiprime.deploy.generate           # what `make generate` runs: rewrite the files
    python -m aiprime.deploy.generate --check   # exit 1 naming the files that differ from the registry

The files are committed; `tests/deploy/test_generate.py` fails when one is stale, as the compiled KFP
pipelines do. Adding an expert is one `ExpertSpec` in `aiprime/moe/experts.py` plus `make generate`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from aiprime.deploy import graphs, manifests, policies
from aiprime.moe.experts import EXPERTS, ExpertSpec, check_registry

REPO = Path(__file__).resolve().parents[3]
NOTICE = "Generated from aiprime/moe/experts.py by `make generate` (aiprime.deploy.generate): do not edit."
_CONTRACT = (
    "Contract of every service it calls, and how the router treats timeouts: README.md beside this file."
)
_GRAPHS: Mapping[str, tuple[tuple[str, ...], Callable[[Sequence[ExpertSpec]], dict[str, Any]]]] = {
    "kserve/graphs/top1.yaml": (
        (
            "Top-1 mixture of experts: the gate picks one expert per request and the router sends it there;",
            "when the calibrated gate is unsure (below its threshold), its top two answer, combined.",
        ),
        graphs.top1,
    ),
    "kserve/graphs/top2.yaml": (
        (
            "Top-2 mixture of experts: the gate's first and second choices run in parallel, then the",
            "combiner weights their outputs by the gate's probabilities.",
        ),
        graphs.top2,
    ),
    "kserve/graphs/fallback.yaml": (
        (
            "Top-1 with fallbacks: the gate's first choice answers when it can; if it answers an error, or",
            "hangs past moe-first-choice's serviceClient limit, the second choice answers; then the generalist.",
        ),
        graphs.fallback,
    ),
    "kserve/graphs/fallback-first-choice.yaml": (
        (
            "The gate's first choice, called by fallback.yaml: its short serviceClient limit turns a hung",
            "expert into a JSON error answer that fallback.yaml falls back from.",
        ),
        lambda specs: graphs.choice(specs, 0),
    ),
    "kserve/graphs/fallback-second-choice.yaml": (
        ("The gate's second choice, called by fallback.yaml when the first choice answered an error.",),
        lambda specs: graphs.choice(specs, 1),
    ),
    "kserve/graphs/rag.yaml": (
        (
            "Retrieval-augmented answers: the gate picks an expert, the expert classifies the question, the",
            "retriever finds passages (preferring the expert's domain when the gate is sure) and the",
            "generator writes an answer.",
        ),
        graphs.rag,
    ),
    "kserve/graphs/multimodal.yaml": (
        (
            "Text, speech or an image: the modality step passes text on, transcribes speech and refuses other",
            "sound (422); an image goes to the image expert (its domain), text and transcripts to top-1.",
        ),
        graphs.multimodal,
    ),
    "kserve/graphs/rag-multimodal.yaml": (
        (
            "The RAG graph for text, speech or an image: an image's top synset's words are retrieved and",
            "answered with citations, as a typed question is.",
        ),
        graphs.rag_multimodal,
    ),
}


def _file(header: Sequence[str], documents: Sequence[Any]) -> str:
    """A YAML file: `header` as comment lines, the notice, then the documents."""
    comments = "".join(f"# {line}\n" for line in (*header, NOTICE))
    return comments + yaml.safe_dump_all(documents, sort_keys=False, width=120)


def render(specs: Sequence[ExpertSpec] = EXPERTS) -> dict[str, str]:
    """Every generated file's text, by path relative to the repository root."""
    check_registry(specs)
    manifests.check_names(specs)
    documents = {path: build(specs) for path, (_, build) in _GRAPHS.items()}
    files = {path: _file((*_GRAPHS[path][0], _CONTRACT), [doc]) for path, doc in documents.items()}
    files["kserve/graphs/services.local.yaml"] = _file(
        (
            "serviceName -> the URL KServe's controller would resolve it to on a cluster",
            "(<InferenceService status.address.url>/v1/models/<model>:predict), here on loopback ports.",
        ),
        [manifests.local_services(specs)],
    )
    files["kustomize/base/inference/experts.yaml"] = _file(
        (
            "One KServe InferenceService per expert (scaled on its own load) and its PodDisruptionBudget.",
            "Shared predictor settings (security context, probes, service account): predictor-defaults.yaml.",
        ),
        manifests.expert_objects(specs),
    )
    files["kustomize/base/inference/media.yaml"] = _file(
        (
            "One KServe InferenceService per media server of the multimodal graphs (aiprime.serving.media_models",
            ".MEDIA_SERVERS; sizes: aiprime.deploy.manifests.MEDIA_SERVING) and its PodDisruptionBudget.",
            "Shared predictor settings (security context, probes, service account): predictor-defaults.yaml.",
        ),
        manifests.media_objects(),
    )
    return files | _cluster_files(documents)


def _cluster_files(documents: Mapping[str, dict[str, Any]]) -> dict[str, str]:
    """What a cluster serves: the graphs the gateway reaches (kustomization) and their NetworkPolicies."""
    by_name = {doc["metadata"]["name"]: doc for doc in documents.values()}
    served = policies.served(by_name)
    files = [Path(path).name for path, doc in documents.items() if doc["metadata"]["name"] in served]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": files,
    }
    return {
        "kserve/graphs/kustomization.yaml": _file(
            (
                "The InferenceGraphs a cluster serves, for kustomize/base: those the gateway's upstreams reach",
                "(aiprime.deploy.policies.GATEWAY_GRAPHS) and the graphs they call. The others run locally.",
            ),
            [kustomization],
        ),
        "kustomize/base/network-policies/inference.yaml": _file(
            (
                "Model servers (InferenceService pods) and the InferenceGraph routers that chain them: each policy",
                "admits exactly the hops of one served graph, or the gateway's (aiprime.deploy.policies).",
            ),
            policies.network_policies(by_name),
        ),
        "kustomize/base/gateway/upstreams.yaml": _file(
            (
                "The gateway's upstreams (a patch of deployment.yaml): the Services KServe creates for the graphs",
                "it serves (aiprime.deploy.policies.GATEWAY_UPSTREAMS) and the gate's predictor for explain.",
            ),
            [policies.gateway_upstreams()],
        ),
    }


def write(root: Path = REPO, specs: Sequence[ExpertSpec] = EXPERTS) -> list[str]:
    """Write every generated file under `root`; returns the paths that changed."""
    changed = stale(root, specs)
    for path, text in render(specs).items():
        if path in changed:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text, encoding="utf-8")
    return changed


def stale(root: Path = REPO, specs: Sequence[ExpertSpec] = EXPERTS) -> list[str]:
    """The generated files under `root` that are missing or differ from what the registry generates."""
    return [
        path
        for path, text in render(specs).items()
        if not (root / path).is_file() or (root / path).read_text(encoding="utf-8") != text
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m aiprime.deploy.generate [--check] [--root DIR]`; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only list stale files; exit 1 if any")
    parser.add_argument("--root", type=Path, default=REPO, help="the repository root to write under")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale(args.root)
        for path in outdated:
            print(f"stale: {path}; run `make generate`", file=sys.stderr)
        return 1 if outdated else 0
    for path in write(args.root):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
