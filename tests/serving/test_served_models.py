"""The metadata contract between training and serving: what a server refuses to load, and why."""

from __future__ import annotations

import pytest

from aiprime.errors import DataCorrupt, InvalidInput, NotFound
from aiprime.moe.experts import domains
from aiprime.moe.layers import MoEConfig
from aiprime.moe.networks import ExpertConfig, ExpertNet, GateConfig, GateNet, save_model
from aiprime.serving.names import domain_of, registered_model_name, route_name, service_name
from aiprime.serving.served_models import ModelSource, fetch, load, load_served

DOMAINS = list(domains())  # the registry's, in its order


def _expert(tmp_path, metadata: dict):
    module = ExpertNet(
        ExpertConfig(n_classes=2, n_layers=1, moe=MoEConfig(d_model=8, d_hidden=8, n_experts=2))
    )
    return save_model(module, tmp_path / "expert" / "model.pt", metadata)


def test_names_follow_kubernetes_and_the_registry() -> None:
    assert route_name("people_society") == "people-society"
    assert service_name("expert", "people_society") == "expert-people-society"
    assert service_name("gate") == "gate"
    assert domain_of("expert-people-society") == "people_society"
    assert registered_model_name("expert", "people_society") == "aiprime-expert-people_society"
    with pytest.raises(NotFound, match="expert-living"):
        domain_of("expert-nobody")


def test_a_model_saved_with_the_contract_loads(tmp_path) -> None:
    path = save_model(
        GateNet(GateConfig()), tmp_path / "gate" / "model.pt", {"classes": DOMAINS, "role": "gate"}
    )
    served = load_served(path, "gate")
    assert served.classes == tuple(DOMAINS) and served.domain is None and not served.module.training
    assert fetch(ModelSource(model_dir=tmp_path / "gate"), "gate") == (path, None)  # a folder has no version


@pytest.mark.slow
def test_a_registered_model_is_served_with_its_version(tmp_path, mlflow_url: str) -> None:
    from mlflow import MlflowClient

    from aiprime.registry import mlflow_registry as registry

    save_model(GateNet(GateConfig()), tmp_path / "gate" / "model.pt", {"classes": DOMAINS, "role": "gate"})
    client = MlflowClient(mlflow_url)
    run = client.create_run(client.create_experiment(f"served-version-{tmp_path.name}")).info.run_id
    version = registry.register(mlflow_url, "aiprime-gate", tmp_path / "gate", run, {})
    client.set_registered_model_alias(
        "aiprime-gate", "served-version-test", version
    )  # not `champion`: shared

    source = ModelSource(tracking_uri=mlflow_url, alias="served-version-test", cache_dir=tmp_path / "cache")
    served = load(source, "gate")

    assert served.version == f"aiprime-gate@{version}"


@pytest.mark.parametrize(
    ("metadata", "role", "domain", "message"),
    [
        ({"role": "expert", "domain": "living"}, "expert", "living", "no `classes`"),
        ({"classes": ["a", "b"], "role": "gate"}, "expert", "living", "served as 'expert'"),
        (
            {"classes": ["a", "b"], "role": "expert", "domain": "actions"},
            "expert",
            "living",
            "--domain actions",
        ),
        (
            {"classes": ["a", "b", "c"], "role": "expert", "domain": "living"},
            "expert",
            "living",
            "3 classes for 2",
        ),
    ],
)
def test_a_model_that_breaks_the_contract_is_refused_naming_the_fix(
    tmp_path, metadata, role, domain, message
) -> None:
    with pytest.raises(DataCorrupt, match=message):
        load_served(_expert(tmp_path, metadata), role, domain)


def test_a_missing_model_says_where_to_get_one(tmp_path) -> None:
    with pytest.raises(NotFound, match="--model_dir"):
        fetch(ModelSource(model_dir=tmp_path), "gate")
    with pytest.raises(InvalidInput, match="--tracking_uri"):
        fetch(ModelSource(), "gate")
