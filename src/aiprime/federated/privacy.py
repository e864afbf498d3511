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
