"""Off-policy estimates: unbiased on a synthetic log whose target value is known, and the promotion gate's input."""

from __future__ import annotations

import numpy as np
import pytest

from aiprime.agents.offpolicy import Logged, estimate, greedy, reward_model
from aiprime.errors import InvalidInput

PLANS, DIM = 4, 8


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contexts (n, DIM), each plan's true success probability (n, P), and a target policy's actions (n,)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, DIM))
    weights = np.random.default_rng(0).normal(size=(DIM, PLANS))
    p_success = 1 / (1 + np.exp(-x @ weights))  # (n, P)
    target = (x[:, 0] > 0).astype(int) * 2  # plan 2 on one half of the contexts, plan 0 on the other
    return x, p_success, target


def logged(n: int, seed: int, logging: np.ndarray) -> tuple[Logged, float, np.ndarray]:
    """A log drawn under `logging` (P,), the target's true value on these contexts, and the target's pmf."""
    rng = np.random.default_rng(seed)
    x, p_success, target = synthetic(n, seed)
    actions = rng.choice(PLANS, size=n, p=logging)
    rewards = (rng.random(n) < p_success[np.arange(n), actions]).astype(float)
    true_value = float(p_success[np.arange(n), target].mean())
    return Logged(x, actions, logging[actions], rewards), true_value, greedy(target, PLANS)


@pytest.mark.parametrize("logging", [np.full(PLANS, 1 / PLANS), np.array([0.55, 0.15, 0.15, 0.15])])
def test_ips_and_dr_are_unbiased(logging: np.ndarray) -> None:
    errors = {"ips": [], "doubly_robust": []}
    for seed in range(200):
        log, true_value, target = logged(400, seed, logging)
        value = estimate(log, target)
        errors["ips"].append(value.ips - true_value)
        errors["doubly_robust"].append(value.doubly_robust - true_value)
    for name, errs in errors.items():
        mean, standard_error = np.mean(errs), np.std(errs) / np.sqrt(len(errs))
        assert abs(mean) < 3 * standard_error + 1e-3, (name, mean, standard_error)
    assert np.std(errors["doubly_robust"]) < np.std(errors["ips"])  # the reward model takes variance away


def test_a_constant_reward_model_leaves_dr_equal_to_ips_plus_the_direct_term() -> None:
    log, _, target = logged(300, 1, np.full(PLANS, 1 / PLANS))
    assert estimate(log, target, np.zeros((300, PLANS))).doubly_robust == pytest.approx(
        estimate(log, target).ips
    )


def test_reward_model_never_fits_the_row_it_predicts() -> None:
    log, _, _ = logged(200, 2, np.full(PLANS, 1 / PLANS))
    flipped = Logged(log.x, log.actions, log.propensities, log.rewards.copy())
    flipped.rewards[0] = 1 - flipped.rewards[0]
    assert reward_model(flipped, PLANS)[0] == pytest.approx(reward_model(log, PLANS)[0])


def test_a_log_without_propensities_is_refused() -> None:
    with pytest.raises(InvalidInput, match="propensity"):
        Logged(np.zeros((2, DIM)), np.array([0, 1]), np.array([0.5, 0.0]), np.array([1.0, 0.0]))
