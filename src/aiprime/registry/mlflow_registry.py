"""Registered models in MLflow, one per role (`aiprime-gate`, `aiprime-expert-<domain>`, `aiprime-dense`).

A new candidate gets the alias `challenger`; `promote` moves `champion` to it only when it beats the current
champion on the same validation split. Serving loads whatever carries `champion`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from aiprime.errors import ModelNotReady
from aiprime.registry.mlflow_plugins import skip_unwanted_header_providers

skip_unwanted_header_providers()  # before this process's first request to MLflow (see mlflow_plugins)

CHALLENGER, CHAMPION = "challenger", "champion"
ARTIFACT_PATH = "model"


def registered_name(role: str) -> str:
    """The registry name of a role: `gate`, `expert-<domain>`, `dense`."""
    return f"aiprime-{role}"


def register(tracking_uri: str, name: str, model_dir: Path, run_id: str, tags: dict[str, str]) -> str:
    """Log `model_dir` into the run, register it as a new version of `name` aliased `challenger`; its version."""
    client = MlflowClient(tracking_uri)
    client.log_artifacts(run_id, str(model_dir), artifact_path=ARTIFACT_PATH)
    try:
        client.create_registered_model(name)
    except MlflowException as e:  # RestException from a server; the base class from a database store
        if e.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    version = client.create_model_version(name, f"runs:/{run_id}/{ARTIFACT_PATH}", run_id=run_id, tags=tags)
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    return str(version.version)  # a server answers a string, a database store an int


def version_for(tracking_uri: str, name: str, alias: str) -> str | None:
    """The version of `name` that carries `alias`, or None."""
    try:
        return str(MlflowClient(tracking_uri).get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


@dataclass(frozen=True)
class Promotion:
    """The outcome of the champion gate for one registered model."""

    name: str
    challenger: str
    champion_before: str | None
    challenger_score: float
    champion_score: float | None
    promoted: bool

    @property
    def reason(self) -> str:
        """One sentence for logs and the closing summary."""
        if self.champion_before is None:
            return f"{self.name} v{self.challenger} is the first version: champion"
        verdict = "beats" if self.promoted else "does not beat"
        return (
            f"{self.name} v{self.challenger} ({self.challenger_score:.4f}) {verdict} champion "
            f"v{self.champion_before} ({self.champion_score:.4f}) on validation"
        )


def promote(
    tracking_uri: str,
    name: str,
    challenger_score: float,
    champion_score: float | None,
    min_delta: float = 0.0,
) -> Promotion:
    """Move `champion` to the challenger if it scores above the champion by more than `min_delta`.

    Both scores must come from the same validation split (the caller evaluates the current champion on it).
    """
    client = MlflowClient(tracking_uri)
    challenger = version_for(tracking_uri, name, CHALLENGER)
    if challenger is None:
        raise ModelNotReady(
            f"{name} has no `challenger` version to promote. Register one first (aiprime train)."
        )
    champion = version_for(tracking_uri, name, CHAMPION)
    wins = champion is None or champion_score is None or challenger_score > champion_score + min_delta
    if wins and champion != challenger:
        client.set_registered_model_alias(name, CHAMPION, challenger)
    outcome = Promotion(name, challenger, champion, challenger_score, champion_score, wins)
    client.set_model_version_tag(name, challenger, "promotion", outcome.reason)
    return outcome


def download(tracking_uri: str, name: str, alias: str, dst: Path) -> Path:
    """Download the files of the version of `name` that carries `alias` into `dst`; the folder holding them."""
    return download_alias(tracking_uri, name, alias, dst)[0]


def download_alias(tracking_uri: str, name: str, alias: str, dst: Path) -> tuple[Path, str]:
    """Download the version of `name` that carries `alias` into `dst`; the folder holding it, and the version."""
    version = version_for(tracking_uri, name, alias)
    if version is None:
        raise ModelNotReady(
            f"No version of {name} carries the alias {alias!r} at {tracking_uri}. "
            "Train and register one with `aiprime train`."
        )
    dst.mkdir(parents=True, exist_ok=True)
    # `models:/` URIs resolve against the process-wide registry URI; the version's source does not.
    source = MlflowClient(tracking_uri).get_model_version_download_uri(name, version)
    path = mlflow.artifacts.download_artifacts(
        artifact_uri=source, dst_path=str(dst), tracking_uri=tracking_uri
    )
    return Path(path), version
