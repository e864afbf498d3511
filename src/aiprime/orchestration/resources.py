"""Dagster resources: where the checkout and the platform's state are."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from aiprime.settings import Settings


class Workspace(dg.ConfigurableResource):
    """The AI Prime checkout (DVC pipeline, data) and the settings that locate its state."""

    repo_root: str = Field(description="The repository root: the folder that holds .dvc/ and data/dvc.yaml.")
    home: str = Field(".aiprime", description="AIPRIME_HOME: database, MLflow artifacts, DVC remote.")
    database_url: str | None = Field(
        None, description="AIPRIME_DATABASE_URL; None means the embedded server."
    )
    mlflow_tracking_uri: str | None = Field(
        None, description="AIPRIME_MLFLOW_TRACKING_URI; None: the local one."
    )
    mlflow_port: int | None = Field(
        None, description="AIPRIME_MLFLOW_PORT of the local MLflow; None: the default."
    )
    kfp_host: str | None = Field(
        None, description="AIPRIME_KFP_HOST; None: training runs here with kfp.local."
    )
    rag_collection: str = Field("documents", description="AIPRIME_RAG_COLLECTION: the retrieval collection.")
    rag_embedder: str = Field("minilm", description="AIPRIME_RAG_EMBEDDER: minilm or minilm-int8.")

    @property
    def root(self) -> Path:
        """The repository root as a path."""
        return Path(self.repo_root)

    @property
    def settings(self) -> Settings:
        """Settings with this workspace's state folder (other values from the environment)."""
        ports = {"mlflow_port": self.mlflow_port} if self.mlflow_port else {}
        return Settings(
            home=Path(self.home),
            database_url=self.database_url,
            mlflow_tracking_uri=self.mlflow_tracking_uri,
            kfp_host=self.kfp_host,
            rag_collection=self.rag_collection,
            rag_embedder=self.rag_embedder,
            **ports,
        )
