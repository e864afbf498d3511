"""The privacy budget of central DP, accounted per round with Flower's RDP accountant and checked with Opacus's.

The unit of privacy is an organisation (client-level DP): each round releases the average of every client's
clipped update plus Gaussian noise of `noise_multiplier * clipping_norm / clients`, a Gaussian mechanism
without sampling amplification (every client takes part in every round). Flower's `RdpAccountant` composes one
such release per round; Opacus's `RDPAccountant`, a separate implementation of the same analysis, composes the
same steps, and the two must agree. Runs inside the federated venv (flwr, dp-accounting, opacus).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aiprime.errors import InvalidInput

TOLERANCE = 0.02  # relative gap allowed between the two accountants' epsilon


@dataclass(frozen=True)
class PrivacyBudget:
    """Central DP settings and the budget that ends training."""

    noise_multiplier: float  # noise std over clipping_norm, before dividing by the clients
    clipping_norm: float  # bound on each client's update (L2)
    epsilon: float  # the budget: no round is released that would take the spent epsilon past it
    delta: float  # the delta the budget is stated at (1/N)

    def __post_init__(self) -> None:
        for name in ("noise_multiplier", "clipping_norm", "epsilon", "delta"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidInput(f"dp.{name} is {value}: it must be a positive finite number.")
        if self.delta >= 1:
            raise InvalidInput(f"dp.delta is {self.delta}: it must be below 1 (use 1/N).")


class Accountant:
    """Flower's RDP accountant over `clients` organisations, with Opacus's composing the same rounds."""

    def __init__(self, budget: PrivacyBudget, clients: int) -> None:
        from flwr.serverapp import NeighboringRelation, PrivacyConfig, RdpAccountant, SamplingMethod
        from opacus.accountants import RDPAccountant

        self.budget, self.clients = budget, clients
        config = PrivacyConfig(
            target_delta=budget.delta,
            population_size=clients,
            neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
            sampling_method=SamplingMethod.NO_AMPLIFICATION,
            max_epsilon=budget.epsilon,
        )
        self.flower = RdpAccountant(config)
        self.opacus = RDPAccountant()

    def _event(self):
        from flwr.serverapp import GaussianPrivacyEvent

        return GaussianPrivacyEvent(self.budget.noise_multiplier, self.clients, self.clients)

    def can_release(self) -> bool:
        """Whether one more round stays within the budget."""
        return not self.flower.would_exceed(self._event())

    def release(self) -> None:
        """Account one released round in both accountants."""
        self.flower.compose(self._event())
        self.opacus.step(noise_multiplier=self.budget.noise_multiplier, sample_rate=1.0)

    @property
    def rounds(self) -> int:
        """Rounds released so far."""
        return self.flower.num_releases

    def spent(self) -> dict[str, float]:
        """Epsilon spent at the budget's delta by each accountant (0 before the first round)."""
        if not self.rounds:
            return {"epsilon": 0.0, "epsilon_opacus": 0.0, "delta": self.budget.delta}
        flower = self.flower.get_epsilon(self.budget.delta)
        opacus = float(self.opacus.get_epsilon(delta=self.budget.delta))
        assert math.isclose(flower, opacus, rel_tol=TOLERANCE), (
            f"Flower's RDP epsilon {flower} and Opacus's {opacus} differ by more than {TOLERANCE:.0%}"
        )
        return {"epsilon": flower, "epsilon_opacus": opacus, "delta": self.budget.delta}


def epsilon_after(noise_multiplier: float, rounds: int, delta: float) -> float:
    """Epsilon that `rounds` releases at `noise_multiplier` spend (Opacus's RDP analysis)."""
    from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

    orders = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
    rdp = compute_rdp(q=1.0, noise_multiplier=noise_multiplier, steps=rounds, orders=orders)
    return float(get_privacy_spent(orders=orders, rdp=rdp, delta=delta)[0])


def noise_for(epsilon: float, rounds: int, delta: float) -> float:
    """The smallest noise multiplier (within 1%) whose `rounds` releases spend at most `epsilon`."""
    low, high = 0.05, 500.0
    while high / low > 1.01:
        middle = math.sqrt(low * high)
        low, high = (middle, high) if epsilon_after(middle, rounds, delta) > epsilon else (low, middle)
    return high


@dataclass(frozen=True)
class RecordPlan:
    """Per-record DP-SGD in one organisation: its rows, Poisson batch, clipping, noise and steps per round."""

    rows: int  # the organisation's training rows: the population it samples from
    batch_size: int  # expected rows per step (sample rate batch_size / rows)
    clipping_norm: float  # bound on each row's gradient (L2)
    noise_multiplier: float  # noise std over clipping_norm, on each step's summed gradient
    steps_per_round: int  # local steps one round runs

    @property
    def sample_rate(self) -> float:
        """Each row's chance to be in a step's batch (at most 1)."""
        return min(1.0, self.batch_size / self.rows)


def record_plan(rows: int, batch_size: int, epochs: int, rounds: int, clip: float, budget: float, delta: float,
                noise: float = 0.0) -> RecordPlan:  # fmt: skip
    """The plan that spends `budget` at `delta` in `rounds` rounds of `epochs` passes (or uses `noise`)."""
    from opacus.accountants.utils import get_noise_multiplier

    if rows < 1:
        raise InvalidInput("An organisation has no training rows: per-record DP needs at least one.")
    steps = epochs * math.ceil(rows / batch_size)
    rate = min(1.0, batch_size / rows)
    if not noise:
        noise = get_noise_multiplier(
            target_epsilon=budget,
            target_delta=delta,
            sample_rate=rate,
            steps=steps * rounds,
            accountant="rdp",
        )
    return RecordPlan(rows, batch_size, clip, float(noise), steps)


class RecordAccountant:
    """One organisation's per-record budget over its DP-SGD steps (Opacus's RDP analysis of the Poisson
    subsampled Gaussian), checked against Flower's RDP accountant by `cross_checked`; `steps` is its state,
    kept between rounds."""

    def __init__(self, plan: RecordPlan, epsilon: float, delta: float, steps: int = 0) -> None:
        self.plan, self.epsilon, self.delta, self.steps = plan, epsilon, delta, steps

    def epsilon_at(self, steps: int) -> float:
        """Epsilon that `steps` steps of the plan spend at the budget's delta (Opacus)."""
        from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

        if not steps:
            return 0.0
        orders = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
        rdp = compute_rdp(
            q=self.plan.sample_rate, noise_multiplier=self.plan.noise_multiplier, steps=steps, orders=orders
        )
        return float(get_privacy_spent(orders=orders, rdp=rdp, delta=self.delta)[0])

    def can_run_round(self) -> bool:
        """Whether one more round of steps stays within the budget."""
        return self.epsilon_at(self.steps + self.plan.steps_per_round) <= self.epsilon

    def run_round(self) -> None:
        """Account one round of steps."""
        self.steps += self.plan.steps_per_round

    def spent(self) -> dict[str, float]:
        """Epsilon spent so far at the budget's delta."""
        return {"epsilon": self.epsilon_at(self.steps), "delta": self.delta}

    def cross_checked(self) -> dict[str, float]:
        """`spent`, with Flower's RDP accountant (Poisson sampling) composing the same steps; the two must
        agree. Flower's takes about a second per call here, so it runs once per report, not per round."""
        from flwr.serverapp import (
            GaussianPrivacyEvent,
            NeighboringRelation,
            PrivacyConfig,
            RdpAccountant,
            SamplingMethod,
        )

        spent = self.spent()
        if not self.steps:
            return {**spent, "epsilon_flower": 0.0}
        config = PrivacyConfig(
            target_delta=self.delta,
            population_size=self.plan.rows,
            neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
            sampling_method=SamplingMethod.POISSON,
        )
        flower = RdpAccountant(config)
        sample = min(self.plan.batch_size, self.plan.rows)
        flower.compose(
            GaussianPrivacyEvent(self.plan.noise_multiplier, sample, self.plan.rows), count=self.steps
        )
        theirs = flower.get_epsilon(self.delta)
        assert math.isclose(spent["epsilon"], theirs, rel_tol=TOLERANCE), (
            f"Opacus's RDP epsilon {spent['epsilon']} and Flower's {theirs} differ by more than {TOLERANCE:.0%}"
        )
        return {**spent, "epsilon_flower": theirs}
