"""The agents' tool policy: retrained on the simulator, gated by off-policy evaluation, registered in MLflow.

`agent_policy` (group "agents") builds the task suite from the checkout's data, runs every tool plan on every
task through the offline tools (classify with the MLflow champion mixture when there is one), trains a new
policy online on the training templates, and logs interactions on the held-out templates under uniform
plans. It registers the new policy as `challenger` of `aiprime-agent-policy` and promotes it only if its
doubly robust estimate on that log beats the champion's on the same log. Its learning curve is written to
`<AIPRIME_HOME>/agents/learning_curve.json` for the console.

The drift sensor covers the agents' traffic as it covers the gate's: `agent_traffic_drift` (group "agents",
materialised hourly by `hourly_agent_drift_check`) compares the latest runs' tasks with the tasks the policy
trains on (`aiprime.agents.traffic`, the gate's MMD and chi-square tests), and `agent_drift_sensor` asks for a
run of the `agents` job, which retrains the policy and promotes it only through the off-policy gate above,
for each check that found drift.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
from pydantic import Field

from aiprime.agents.offpolicy import estimate, greedy, simulated_log
from aiprime.agents.plans import PLANS
from aiprime.agents.policy import ToolPolicy, contexts, curve_path, register_policy, registered_champion
from aiprime.agents.simulate import Classify, Toolbox, moe_classifier, reward_matrix, train
from aiprime.agents.tasks import Sources, build_suite
from aiprime.drift.detect import MIN_SAMPLES
from aiprime.errors import ModelNotReady
from aiprime.moe.embeddings import embed_texts, model_id
from aiprime.orchestration.drift_assets import (
    CHECKED,
    NOT_ENOUGH,
    drift_decision,
    judge_latest_check,
    route_shares,
)
from aiprime.orchestration.resources import Workspace
from aiprime.settings import Settings

GROUP = "agents"


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
    path = curve_path(settings.home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


agent_policy_job = dg.define_asset_job(
    "agents",
    selection=[dg.AssetKey("agent_policy")],
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
            "learning_curve": dg.MetadataValue.path(str(curve_path(workspace.settings.home))),
        },
        data_version=dg.DataVersion(f"{promotion.name}@{promotion.challenger}"),
    )


AGENT_TRAFFIC_DRIFT = dg.AssetKey("agent_traffic_drift")


class AgentDriftConfig(dg.Config):
    """What the agents' drift check compares."""

    window: int = Field(500, ge=MIN_SAMPLES, description="The most recent runs compared with the reference.")
    min_runs: int = Field(100, ge=MIN_SAMPLES, description="Below this many runs: 'not enough traffic'.")
    reference_size: int = Field(1000, ge=MIN_SAMPLES, description="Training tasks sampled as the reference.")
    per_kind: int = Field(300, ge=1, description="The suite agent_policy trains on: tasks per kind.")
    alpha: float = Field(0.01, gt=0, lt=1, description="Family-wise significance level over the two tests.")
    agent: str | None = Field("assistant", description="Whose runs to check (agents.runs.agent); None: all.")
    chooser: str = Field(
        "champion",
        description="What picks each side's plans: champion (the registered policy; the fixed rule while none "
        "is registered), rules, or a saved policy's folder.",
    )
    seed: int = Field(0, description="Seed of the suite, the reference sample and the permutation test.")


@dg.asset(group_name=GROUP, deps=[dg.AssetKey("agent_policy")], kinds={"postgres", "evidently"})
def agent_traffic_drift(
    context: dg.AssetExecutionContext, config: AgentDriftConfig, workspace: dg.ResourceParam[Workspace]
) -> dg.MaterializeResult:
    """Whether the agents' recent tasks have drifted from the tasks their tool policy was trained on."""
    from aiprime.agents.runs import RunStore

    engine = workspace.app_db()
    try:
        tasks = RunStore(engine).recent_tasks(config.window, config.agent)
    finally:
        engine.dispose()
    if len(tasks) < config.min_runs:
        context.log.info(f"{len(tasks)} runs of {config.agent!r} stored; the check needs {config.min_runs}")
        return dg.MaterializeResult(
            metadata={
                "status": NOT_ENOUGH,
                "requests": len(tasks),
                "min_requests": config.min_runs,
                "drifted": False,
            }
        )
    return _compare_tasks(context, config, workspace, tasks)


def _compare_tasks(
    context: dg.AssetExecutionContext, config: AgentDriftConfig, workspace: Workspace, tasks: list[str]
) -> dg.MaterializeResult:
    from aiprime.agents.traffic import chooser, compare_traffic, training_tasks
    from aiprime.drift.report import write_report

    settings = workspace.settings
    embed = lambda texts: embed_texts(texts, settings.home / "embeddings")
    route, routed_by = chooser(config.chooser, settings.mlflow_url, embed)
    reference = training_tasks(workspace.root / "data", config.per_kind, config.reference_size, config.seed)
    check = compare_traffic(reference, tasks, embed, route, config.alpha, config.seed)
    path = settings.home / "reports" / f"agent-drift-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.html"
    write_report(
        check.result, check.reference, check.current, check.reference_routes, check.current_routes, path
    )
    context.log.info(
        f"agent drift {'found' if check.result.drifted else 'not found'}: {check.result}; {path}"
    )
    shares = {
        "reference": route_shares(check.reference_routes),
        "current": route_shares(check.current_routes),
    }
    return dg.MaterializeResult(
        metadata={
            "status": CHECKED,
            "requests": len(tasks),
            "window": config.window,
            "agent": str(config.agent),
            **check.result.as_metadata(),
            "report": dg.MetadataValue.path(str(path)),
            "routed_by": routed_by,
            "plan_shares": dg.MetadataValue.json(shares),
        }
    )


agent_drift_check_job = dg.define_asset_job(
    "agent_drift_check",
    selection=[AGENT_TRAFFIC_DRIFT],
    description="Compare the agents' recent tasks with the tasks their tool policy was trained on.",
)
hourly_agent_drift_check = dg.ScheduleDefinition(
    name="hourly_agent_drift_check",
    job=agent_drift_check_job,
    cron_schedule="30 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


@dg.sensor(job=agent_policy_job, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING)
def agent_drift_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """Retrain the tool policy (the `agents` job: promoted only if off-policy evaluation says it beats the
    champion) when the latest `agent_traffic_drift` materialisation found significant drift."""
    return judge_latest_check(context, AGENT_TRAFFIC_DRIFT, hourly_agent_drift_check.name, policy_retrain)


def policy_retrain(metadata: dict[str, Any], event_id: int) -> dg.RunRequest | dg.SkipReason:
    """An `agents` run for an agent drift check that found drift; otherwise why not, with the p-values."""
    return drift_decision(
        metadata,
        lambda tests, report: dg.RunRequest(
            run_key=f"agent-drift-{event_id}",
            job_name=agent_policy_job.name,
            tags={
                "aiprime/trigger": "agent-drift",
                "aiprime/drift_tests": tests,
                "aiprime/drift_report": report,
            },
        ),
    )
