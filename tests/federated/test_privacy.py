"""The privacy accounting, run in the federated venv: Flower's RDP accountant and Opacus's agree, per round."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from aiprime.federated.runner import SOURCE

SCRIPT = """
import json, math
from aiprime.federated.privacy import Accountant, PrivacyBudget, epsilon_after, noise_for
budget = PrivacyBudget(noise_multiplier=4.0, clipping_norm=1.0, epsilon=4.0, delta=1e-5)
accountant = Accountant(budget, clients=10)
spent = []
while accountant.can_release():
    accountant.release()
    spent.append(accountant.spent())
noise = noise_for(3.0, 20, 1e-5)
print(json.dumps({"spent": spent, "noise": noise, "eps_at_noise": epsilon_after(noise, 20, 1e-5),
                  "eps_below": epsilon_after(noise * 0.97, 20, 1e-5)}))
"""


def run_in_venv(venv: Path, script: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(SOURCE)}
    done = subprocess.run([str(venv / "bin" / "python"), "-c", script], env=env, capture_output=True, text=True,
                          check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_budget_is_accounted_per_round_and_stops_before_it_is_passed(federated_venv: Path) -> None:
    result = run_in_venv(federated_venv, SCRIPT)
    spent = result["spent"]
    epsilons = [s["epsilon"] for s in spent]
    assert len(spent) >= 2, "a budget of 4 at noise 4 allows several rounds"
    assert epsilons == sorted(epsilons), "epsilon grows with every round"
    assert epsilons[-1] <= 4.0, "no round is released past the budget"
    for s in spent:  # the two accountants are separate implementations of the same analysis
        assert abs(s["epsilon"] - s["epsilon_opacus"]) <= 0.02 * s["epsilon"]


def test_noise_is_calibrated_to_spend_the_budget_in_the_rounds(federated_venv: Path) -> None:
    result = run_in_venv(federated_venv, SCRIPT)
    assert result["eps_at_noise"] <= 3.0 < result["eps_below"]


RECORD_SCRIPT = """
import json
from aiprime.federated.privacy import RecordAccountant, record_plan
plan = record_plan(rows=2000, batch_size=64, epochs=1, rounds=10, clip=1.0, budget=3.0, delta=1e-4)
accountant = RecordAccountant(plan, 3.0, 1e-4)
spent = []
while accountant.can_run_round():
    accountant.run_round()
    spent.append(accountant.spent()["epsilon"])
resumed = RecordAccountant(plan, 3.0, 1e-4, steps=accountant.steps)
print(json.dumps({"steps_per_round": plan.steps_per_round, "spent": spent, "checked": accountant.cross_checked(),
                  "resumed": resumed.spent()["epsilon"], "can_resume": resumed.can_run_round()}))
"""


def test_per_record_budget_is_spent_in_the_planned_rounds_and_cross_checked(federated_venv: Path) -> None:
    result = run_in_venv(federated_venv, RECORD_SCRIPT)
    spent, checked = result["spent"], result["checked"]
    assert result["steps_per_round"] == 32, "one pass over 2,000 rows in Poisson batches of 64"
    assert len(spent) == 10, "noise calibrated so that the 10 planned rounds fit and an 11th does not"
    assert spent == sorted(spent) and 2.9 <= spent[-1] <= 3.0
    assert abs(checked["epsilon"] - checked["epsilon_flower"]) <= 0.02 * checked["epsilon"]
    assert result["resumed"] == spent[-1] and not result["can_resume"], "the state is the steps taken"
