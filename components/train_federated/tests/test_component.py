"""train_federated: without the federated venv it stops before any work with the command that builds it."""

from __future__ import annotations

import pytest
from kfp import dsl

from aiprime.errors import ConfigError


def test_a_checkout_without_the_federated_venv_names_make_federated(
    component, artifact, datasets, tmp_path
) -> None:
    with pytest.raises(ConfigError, match="make federated"):
        component("train_federated")(
            **datasets, repo_root=str(tmp_path), clients=3, alpha=0.3, rounds=1, strategy="fedavg", secagg=False,
            dp_epsilon=0.0, seed=0, model=artifact(dsl.Model, "model"), metrics=artifact(dsl.Metrics, "metrics"),
        )  # fmt: skip
