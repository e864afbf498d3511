"""The tool policy: both learners learn a toy suite, choices carry their propensity, saved policies load back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _helpers.bow_embedder import hashed_bag_of_words

from aiprime.agents.plans import PLANS, Plan
from aiprime.agents.policy import ToolPolicy, contexts, load_policy
from aiprime.agents.simulate import train
from aiprime.errors import NotFound

LEARNERS = ("vw", "linucb")


def toy_suite(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Contexts around one centre per plan, where only that plan earns a reward: (N, 16), (N, P)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(len(PLANS), 16))
    best = rng.integers(len(PLANS), size=n)
    x = centres[best] + 0.3 * rng.normal(size=(n, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    rewards = np.zeros((n, len(PLANS)), dtype=np.float32)
    rewards[np.arange(n), best] = 1.0
    return x.astype(np.float32), rewards


def new_policy(learner: str) -> ToolPolicy:
    return ToolPolicy.new(learner, hashed_bag_of_words, "hashed-bow-test", seed=1)


@pytest.mark.parametrize("learner", LEARNERS)
def test_learns_a_toy_suite(learner: str) -> None:
    policy, (x_test, r_test) = new_policy(learner), toy_suite(300, 2)
    untrained = r_test[np.arange(300), policy.best(x_test)].mean()
    curve, logged = train(policy.learner, toy_suite(600, 1), (x_test, r_test), interactions=1500, every=500)
    assert untrained < 0.5 and curve[-1]["test_success"] >= 0.9
    assert curve[-1]["cumulative_regret"] < 1500 * 0.5  # far below a random policy's 0.9 per step
    assert len(logged.actions) == 1500 and np.all((logged.propensities > 0) & (logged.propensities <= 1))


@pytest.mark.parametrize("learner", LEARNERS)
def test_choose_returns_a_plan_and_the_probability_it_had(learner: str) -> None:
    policy = new_policy(learner)
    text = 'What is "lambda calculus" in computing?'
    plan = policy.choose(text)
    pmf = policy.learner.pmf(contexts(policy.embed, [text]))[0]
    assert isinstance(plan, Plan) and plan.tools in PLANS
    assert plan.propensity == pytest.approx(pmf[PLANS.index(plan.tools)], abs=1e-6)


@pytest.mark.parametrize("learner", LEARNERS)
def test_load_policy_round_trips(learner: str, tmp_path: Path) -> None:
    policy = new_policy(learner)
    x, rewards = toy_suite(200, 3)
    train(policy.learner, (x, rewards), (x, rewards), interactions=300, every=300)
    loaded = load_policy(policy.save(tmp_path / "policy"), embed=hashed_bag_of_words)
    assert loaded.learner_name == learner and loaded.plans == policy.plans
    np.testing.assert_allclose(loaded.learner.pmf(x), policy.learner.pmf(x), atol=1e-5)


def test_a_folder_without_a_policy_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="not a saved tool policy"):
        load_policy(tmp_path)
