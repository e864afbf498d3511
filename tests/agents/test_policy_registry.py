"""The tool policy in MLflow: champion/challenger by off-policy value, loaded back by URI, retrained by Dagster's
asset body on the tests' data subset."""

from __future__ import annotations

from pathlib import Path

import pytest
from _helpers.bow_embedder import hashed_bag_of_words

from aiprime.agents.plans import PLANS
from aiprime.agents.policy import REGISTERED_NAME, ToolPolicy, load_policy, register_policy
from aiprime.orchestration.agent_assets import AgentPolicyConfig, retrain_policy
from aiprime.registry import mlflow_registry as registry
from aiprime.settings import Settings

pytestmark = pytest.mark.slow


def test_promoted_only_when_its_off_policy_value_beats_the_champion(mlflow_url: str) -> None:
    policy = ToolPolicy.new("vw", hashed_bag_of_words, "hashed-bow-test")
    first = register_policy(mlflow_url, policy, 0.80, None, {"test": "gate"})
    worse = register_policy(mlflow_url, policy, 0.50, 0.80, {"test": "gate"})
    better = register_policy(mlflow_url, policy, 0.90, 0.80, {"test": "gate"})
    assert first.promoted and not worse.promoted and better.promoted
    assert registry.version_for(mlflow_url, REGISTERED_NAME, registry.CHAMPION) == better.challenger
    loaded = load_policy(f"models:/{REGISTERED_NAME}@champion", mlflow_url, embed=hashed_bag_of_words)
    assert loaded.choose('What is "lambda calculus" in computing?').tools in PLANS


def test_the_asset_retrains_registers_and_gates(mlflow_url: str, subset_splits: Path, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, mlflow_tracking_uri=mlflow_url, _env_file=None)
    config = AgentPolicyConfig(per_kind=15, interactions=400, logged=400, learner="vw")
    summary = retrain_policy(settings, subset_splits.parent, config)
    assert summary["promotion"].promoted == (
        summary["champion_dr"] is None or summary["dr"] > summary["champion_dr"]
    )
    assert 0.0 <= summary["curve"]["test_success"] <= summary["oracle"] <= 1.0
    assert (tmp_path / "agents" / "learning_curve.json").is_file()
    again = retrain_policy(settings, subset_splits.parent, config.model_copy(update={"interactions": 1}))
    assert again["champion_dr"] is not None
    assert again["promotion"].promoted == (again["dr"] > again["champion_dr"])
