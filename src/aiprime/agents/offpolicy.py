"""Off-policy evaluation: a policy's expected reward estimated from interactions another policy logged.

Each logged interaction holds a context, the plan the logging policy chose, the probability it had of
choosing it (its propensity) and the reward. For a target policy with plan probabilities pi(a | x):

- IPS (inverse propensity scoring): mean of pi(a_n | x_n) / p_n * r_n. Unbiased whenever the logging policy
  gave every plan the target may choose a positive probability.
- Doubly robust: mean of sum_a pi(a | x_n) r_hat(x_n, a) + pi(a_n | x_n) / p_n * (r_n - r_hat(x_n, a_n)).
  Unbiased under the same condition whatever the reward model r_hat, and of lower variance the better r_hat
  is. r_hat is a ridge regression per plan on the contexts, cross-fitted: each half of the log is
  predicted by the model fitted on the other half, so r_hat never saw the reward it corrects.

The promotion gate compares the challenger's and the champion's doubly robust estimates on the same log.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aiprime.errors import InvalidInput

RIDGE = 1.0  # the reward model's L2 penalty


@dataclass(frozen=True)
class Logged:
    """Interactions a logging policy recorded, with their contexts."""

    x: np.ndarray  # (N, d) contexts
    actions: np.ndarray  # (N,) index of the plan chosen
    propensities: np.ndarray  # (N,) its probability under the logging policy
    rewards: np.ndarray  # (N,)

    def __post_init__(self) -> None:
        n = len(self.x)
        if not (len(self.actions) == len(self.propensities) == len(self.rewards) == n) or n == 0:
            raise InvalidInput(
                f"A log needs as many actions, propensities and rewards as contexts (>= 1); got {n} contexts, "
                f"{len(self.actions)} actions, {len(self.propensities)} propensities, {len(self.rewards)} rewards."
            )
        if np.any(self.propensities <= 0) or np.any(self.propensities > 1):
            raise InvalidInput(
                "Every propensity must be in (0, 1]; log the probability the plan was chosen with."
            )


def chosen(target: np.ndarray, logged: Logged) -> np.ndarray:
    """pi(a_n | x_n): the target's probability of each logged action, (N,) from (N, P)."""
    if target.shape[0] != len(logged.actions):
        raise InvalidInput(
            f"target has {target.shape[0]} rows for {len(logged.actions)} logged interactions."
        )
    return target[np.arange(len(logged.actions)), logged.actions]


def ips(logged: Logged, target: np.ndarray) -> float:
    """The IPS estimate of the target policy's mean reward; `target` (N, P) its plan probabilities."""
    return float(np.mean(chosen(target, logged) / logged.propensities * logged.rewards))


def doubly_robust(logged: Logged, target: np.ndarray, r_hat: np.ndarray) -> float:
    """The doubly robust estimate; `r_hat` (N, P) the reward model's prediction of every plan's reward."""
    direct = np.sum(target * r_hat, axis=1)  # (N,)
    residual = logged.rewards - r_hat[np.arange(len(logged.actions)), logged.actions]  # (N,)
    return float(np.mean(direct + chosen(target, logged) / logged.propensities * residual))


def ridge_fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Weights (d + 1,) of a ridge regression of y on x with an intercept."""
    xb = np.hstack([x, np.ones((len(x), 1))])  # (n, d + 1)
    return np.linalg.solve(xb.T @ xb + RIDGE * np.eye(xb.shape[1]), xb.T @ y)


def reward_model(logged: Logged, n_plans: int, seed: int = 0) -> np.ndarray:
    """r_hat (N, P): per-plan ridge regressions of reward on context, cross-fitted over two halves."""
    order = np.random.default_rng(seed).permutation(len(logged.x))
    halves = (order[: len(order) // 2], order[len(order) // 2 :])
    r_hat = np.zeros((len(logged.x), n_plans))
    for fit_rows, predict_rows in (halves, halves[::-1]):
        xb = np.hstack([logged.x[predict_rows], np.ones((len(predict_rows), 1))])
        for plan in range(n_plans):
            rows = fit_rows[logged.actions[fit_rows] == plan]
            if len(rows):
                r_hat[predict_rows, plan] = xb @ ridge_fit(logged.x[rows], logged.rewards[rows])
    return np.clip(r_hat, 0.0, 1.0)


@dataclass(frozen=True)
class Estimate:
    """A target policy's value estimated on one log."""

    ips: float
    doubly_robust: float
    interactions: int


def estimate(logged: Logged, target: np.ndarray, r_hat: np.ndarray | None = None) -> Estimate:
    """IPS and doubly robust estimates of `target` (N, P) on `logged` (r_hat fitted here when not given)."""
    r_hat = reward_model(logged, target.shape[1]) if r_hat is None else r_hat
    return Estimate(ips(logged, target), doubly_robust(logged, target, r_hat), len(logged.actions))


def greedy(actions: np.ndarray, n_plans: int) -> np.ndarray:
    """The plan probabilities (N, P) of a deterministic policy that picks `actions` (N,)."""
    target = np.zeros((len(actions), n_plans))
    target[np.arange(len(actions)), actions] = 1.0
    return target


def simulated_log(pmf: np.ndarray, x: np.ndarray, rewards: np.ndarray, n: int, seed: int = 0) -> Logged:
    """`n` interactions on random rows of a reward matrix (N, P), each plan drawn from `pmf` (N, P) and its
    reward revealed: a logging policy's traffic, simulated."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(len(x), size=n)
    actions = np.array([rng.choice(pmf.shape[1], p=pmf[row] / pmf[row].sum()) for row in rows])
    return Logged(x[rows], actions, pmf[rows, actions], rewards[rows, actions])
