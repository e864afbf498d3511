"""The agents' tool policy: retrained on the simulator, gated by off-policy evaluation, registered in MLflow.

`agent_policy` (group "agents") builds the task suite from the checkout's data, runs every tool plan on every
task through the offline tools (classify with the MLflow champion mixture when there is one), trains a new
policy online on the training templates, and logs interactions on the held-out templates under uniform
plans. It registers the new policy as `challenger` of `aiprime-agent-policy` and promotes it only if its
doubly robust estimate on that log beats the champion's on the same log. Its learning curve is written to
`<AIPRIME_HOME>/agents/learning_curve.json` for the console.
"""

import json
from pathlib import Path

import dagster as dg
import numpy as np
from pydantic import Field

from aiprime.agents.offpolicy import estimate, greedy, simulated_log
from aiprime.agents.plans import PLANS
from aiprime.agents.policy import ToolPolicy, contexts, register_policy, registered_champion
from aiprime.agents.simulate import Classify, Toolbox, moe_classifier, reward_matrix, train
from aiprime.agents.tasks import Sources, build_suite
from aiprime.errors import ModelNotReady
from aiprime.moe.embeddings import embed_texts, model_id
from aiprime.orchestration.resources import Workspace
from aiprime.settings import Settings

GROUP = "agents"
CURVE_FILE = "learning_curve.json"  # under <AIPRIME_HOME>/agents/


class AgentPolicyConfig(dg.Config):
    """How the tool policy is retrained."""

    per_kind: int = Field(300, ge=1, description="Tasks per kind in the suite (8 kinds).")
    interactions: int = Field(5000, ge=1, description="Simulated interactions the new policy learns from.")
    logged: int = Field(5000, ge=1, description="Interactions logged on held-out templates for the gate.")
    learner: str = Field(
        "vw",
        pattern="^(vw|linucb)$",
        description="vw (LinUCB's held-out success in a sixth of its time: bench/agent_policy.py) or linucb.",
    )
    seed: int = Field(0, description="Seed of the suite, the training draws and the log.")


def champion_classifier(settings: Settings) -> Classify | None:
    """classify through the MLflow champion mixture, or None (classify then answers nothing) when absent."""
    from aiprime.moe.system import MoESystem

    try:
        return moe_classifier(MoESystem.from_registry(settings.mlflow_url), settings.home / "embeddings")
    except ModelNotReady:
        return None


def retrain_policy(settings: Settings, data_dir: Path, config: AgentPolicyConfig) -> dict:
    """Train, evaluate off-policy, register and gate a new tool policy (data from `data_dir`, the checkout's
    `data/`); a summary with the registry's `Promotion`."""
    sources = Sources.load(data_dir)
    suite = build_suite(sources, config.per_kind, config.seed)
    rewards = reward_matrix(Toolbox(sources, champion_classifier(settings)), suite, PLANS)
    embed = lambda texts: embed_texts(texts, settings.home / "embeddings")
    policy = ToolPolicy.new(config.learner, embed, model_id(), seed=config.seed)
    x = contexts(embed, [task.text for task in suite])
    test = np.array([task.split == "test" for task in suite])
    curve, _ = train(
        policy.learner, (x[~test], rewards[~test]), (x[test], rewards[test]), config.interactions, config.seed
    )
    uniform = np.full(rewards[test].shape, 1 / len(PLANS))
    log = simulated_log(uniform, x[test], rewards[test], config.logged, config.seed)
    challenger = estimate(log, greedy(policy.best(log.x), len(PLANS)))
    champion = registered_champion(settings.mlflow_url, embed)
    before = (
        None if champion is None else estimate(log, greedy(champion.best(log.x), len(PLANS))).doubly_robust
    )
    tags = {"learner": config.learner, "tasks": str(len(suite)), "interactions": str(config.interactions)}
    promotion = register_policy(settings.mlflow_url, policy, challenger.doubly_robust, before, tags)
    write_curve(
        settings,
        {"learner": config.learner, "oracle": float(rewards[test].max(axis=1).mean()), "curve": curve},
    )
    return {"curve": curve[-1], "ips": challenger.ips, "dr": challenger.doubly_robust, "champion_dr": before,
            "oracle": float(rewards[test].max(axis=1).mean()), "promotion": promotion}  # fmt: skip


def write_curve(settings: Settings, report: dict) -> Path:
    """The learning curve as JSON for the console: `{"learner", "oracle", "curve": [{"interactions",
    "mean_reward", "cumulative_regret", "test_success"}, ...]}` (regret against the best plan per task)."""
    path = settings.home / "agents" / CURVE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


agent_policy_job = dg.define_asset_job(
    "agents",
    selection=dg.AssetSelection.groups(GROUP),
    description="Retrain the agents' tool policy (kept out of `everything`: minutes of simulated interactions).",
)


@dg.asset(group_name=GROUP, deps=[dg.AssetKey("moe_models")], kinds={"mlflow", "vowpalwabbit"})
def agent_policy(
    context: dg.AssetExecutionContext, config: AgentPolicyConfig, workspace: dg.ResourceParam[Workspace]
) -> dg.MaterializeResult:
    """The agents' tool policy, retrained on simulated interactions and promoted in MLflow
    (`aiprime-agent-policy`) only when off-policy evaluation says it beats the champion."""
    summary = retrain_policy(workspace.settings, workspace.root / "data", config)
    promotion = summary["promotion"]
    context.log.info(promotion.reason)
    return dg.MaterializeResult(
        metadata={
            "held_out_success": summary["curve"]["test_success"],
            "oracle_success": summary["oracle"],
            "ips": summary["ips"],
            "doubly_robust": summary["dr"],
            "champion_doubly_robust": summary["champion_dr"],
            "promoted": promotion.promoted,
            "reason": promotion.reason,
            "learning_curve": dg.MetadataValue.path(str(workspace.settings.home / "agents" / CURVE_FILE)),
        },
        data_version=dg.DataVersion(f"{promotion.name}@{promotion.challenger}"),
    )
