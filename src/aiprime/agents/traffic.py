"""The agents' traffic against the tool policy's training distribution, with the gate's drift tests.

The policy reads a request as its context: the MiniLM embedding of the request with its quoted subject blanked
(`aiprime.agents.policy.contexts`). So the check compares what the policy reads: the contexts of the latest
runs' tasks (`agents.runs`) with those of a sample of the tasks it trains on (the suite's training templates,
`aiprime.agents.tasks.build_suite`), by MMD, and the plans the policy picks for each side by chi-square
(`aiprime.drift.detect.detect_drift`). Routing both sides with the same chooser compares like with like, as
the gate's check routes its reference with the served gate: a plan the policy would pick wrongly is not drift,
a request it never learned to read is.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aiprime.agents import rules
from aiprime.agents.plans import plan_name
from aiprime.agents.policy import Embed, ToolPolicy, contexts, load_policy, registered_champion
from aiprime.agents.tasks import Sources, build_suite, split_tasks
from aiprime.drift.detect import DriftResult, detect_drift
from aiprime.errors import InvalidInput

Router = Callable[[Sequence[str]], list[str]]  # request texts -> the plan name chosen for each
RULES, CHAMPION = "rules", "champion"


def training_tasks(data_dir: Path, per_kind: int, size: int, seed: int = 0) -> list[str]:
    """`size` tasks drawn from the training templates of the suite `agent_policy` builds (same per_kind, seed)."""
    train = [task.text for task in split_tasks(build_suite(Sources.load(data_dir), per_kind, seed), "train")]
    if not train:
        raise InvalidInput(f"The task suite of {data_dir} has no training task; run `aiprime data ingest`.")
    return random.Random(seed).sample(train, min(size, len(train)))


def policy_router(policy: ToolPolicy) -> Router:
    """The learned policy's choice without exploration (its most probable plan) for each text."""
    return lambda texts: [plan_name(policy.plans[i]) for i in policy.best(contexts(policy.embed, texts))]


def rules_router(texts: Sequence[str]) -> list[str]:
    """The fixed rule's plan for each text."""
    return [rules.choose_plan(text).name for text in texts]


def chooser(which: str, tracking_uri: str, embed: Embed) -> tuple[Router, str]:
    """The plan chooser the check routes with, and what it is: `rules`, `champion` (the registered champion
    policy; the fixed rule while none is registered) or a saved policy's folder."""
    if which == RULES:
        return rules_router, RULES
    if which != CHAMPION:
        return policy_router(load_policy(which, embed=embed)), which
    champion = registered_champion(tracking_uri, embed)
    if champion is None:
        return rules_router, "rules (no champion policy is registered)"
    return policy_router(champion), CHAMPION


@dataclass(frozen=True)
class TrafficCheck:
    """Both sides of a check, as the drift report draws them, and the tests' outcome."""

    result: DriftResult
    reference: np.ndarray  # (N, d) contexts of the training tasks
    current: np.ndarray  # (M, d) contexts of the runs' tasks
    reference_routes: list[str]
    current_routes: list[str]


def compare_traffic(
    reference_tasks: Sequence[str],
    current_tasks: Sequence[str],
    embed: Embed,
    route: Router,
    alpha: float = 0.01,
    seed: int = 0,
) -> TrafficCheck:
    """The runs' tasks against the training tasks: MMD on the policy's contexts, chi-square on the plans."""
    reference, current = contexts(embed, reference_tasks), contexts(embed, current_tasks)  # (N, d), (M, d)
    reference_routes, current_routes = route(reference_tasks), route(current_tasks)
    result = detect_drift(reference, current, reference_routes, current_routes, alpha, seed)
    return TrafficCheck(result, reference, current, reference_routes, current_routes)
