"""The deployment files that list experts are generated from the registry, committed, and kept fresh."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiprime.deploy import generate, graphs, manifests
from aiprime.errors import ConfigError
from aiprime.moe.experts import EXPERTS, ExpertSpec, Modality, ServingSpec

CLASSES = ("a", "b")


def test_committed_deployment_files_match_the_registry() -> None:
    assert generate.stale() == [], "generated files are stale: run `make generate` and commit them"


def test_check_names_a_stale_file_and_generate_rewrites_it(tmp_path: Path) -> None:
    assert sorted(generate.write(tmp_path)) == sorted(generate.render())
    (tmp_path / "kserve/graphs/top1.yaml").write_text("# edited by hand\n")
    assert generate.main(["--check", "--root", str(tmp_path)]) == 1
    assert generate.stale(tmp_path) == ["kserve/graphs/top1.yaml"]
    assert generate.main(["--root", str(tmp_path)]) == 0 and generate.stale(tmp_path) == []


def test_an_expert_of_another_modality_runs_its_own_server() -> None:
    image = ExpertSpec("landmarks", domain="landmarks", modality=Modality.IMAGE,
                       serving=ServingSpec(server="image-expert", cpu=("1", "4")))  # fmt: skip
    isvc = manifests.inference_service(image)
    container = isvc["spec"]["predictor"]["containers"][0]
    assert container["args"][:2] == ["python", "/app/kserve/image-expert"]
    assert container["resources"]["limits"]["cpu"] == "4"
    assert isvc["metadata"]["labels"]["aiprime.io/modality"] == "image"
    with pytest.raises(ConfigError, match="'sounds' takes audio input, which no model server serves"):
        manifests.inference_service(ExpertSpec("sounds", domain="sounds", modality=Modality.AUDIO))


def test_serving_settings_do_not_change_what_is_trained() -> None:
    plain = ExpertSpec("x", domain="x")
    assert ExpertSpec("x", domain="x", serving=ServingSpec(max_replicas=9)).fingerprint(CLASSES) == (
        plain.fingerprint(CLASSES)
    )
    assert ExpertSpec("x", domain="x", modality=Modality.IMAGE).fingerprint(CLASSES) != plain.fingerprint(
        CLASSES
    )


def test_the_fallback_graphs_need_the_generalist() -> None:
    without = tuple(spec for spec in EXPERTS if spec.domain != graphs.GENERALIST)
    with pytest.raises(ConfigError, match="generalist 'abstractions'"):
        generate.render(without)


def test_an_expert_kubernetes_cannot_name_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match="Expert 'Geo' would be served as 'expert-Geo'"):
        generate.render((*EXPERTS, ExpertSpec("Geo", domain="Geo")))
