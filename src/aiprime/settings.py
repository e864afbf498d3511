"""Runtime settings: the one place where AI Prime reads its environment.

Every value can be set by an `AIPRIME_<FIELD>` environment variable (or a `.env` file in the working
directory). Library functions take a `Settings` argument instead of reading the environment themselves, so
tests pass `Settings(home=tmp_path)` and a cluster passes `AIPRIME_DATABASE_URL`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where AI Prime keeps its state and how it reaches its services."""

    model_config = SettingsConfigDict(env_prefix="AIPRIME_", env_file=".env", extra="ignore", frozen=True)

    home: Path = Field(
        Path(".aiprime"), description="State folder: database, MLflow artifacts, logs, DVC remote."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of an external PostgreSQL with pgvector; unset means the embedded one.",
    )
    host: str = Field("127.0.0.1", description="Interface that local servers bind to.")
    mlflow_port: int = Field(
        5000, ge=1, le=65535, description="Port of the local MLflow UI and tracking server."
    )
    mlflow_tracking_uri: str | None = Field(
        None,
        description="An external MLflow tracking server; unset means the local one backed by PostgreSQL.",
    )
    dagster_port: int = Field(3000, ge=1, le=65535, description="Port of the Dagster UI (`aiprime ui`).")
    pushgateway_url: str | None = Field(
        None,
        description="A Prometheus Pushgateway that drift checks and training runs push their metrics to; they "
        "always write them to <home>/metrics/<job>.prom too.",
    )
    kfp_host: str | None = Field(
        None,
        description="A Kubeflow Pipelines server that Dagster's training runs go to; unset runs them here.",
    )
    openlineage_url: str | None = Field(
        None,
        description="A Marquez-compatible OpenLineage endpoint (events go to `{url}/api/v1/lineage`); unset: "
        "<home>/openlineage/events.jsonl.",
    )
    otlp_endpoint: str | None = Field(
        None,
        description="Where every process sends its spans over OTLP/HTTP: an OpenTelemetry Collector "
        "(`http://otel-collector:4318/v1/traces`) or an MLflow server's `/v1/traces`; unset: `aiprime serve "
        "--trace` sends them to the MLflow server when it answers, and every process to its spans file.",
    )
    otlp_headers: str = Field(
        "",
        description="Headers sent with every OTLP export, as `name=value` pairs joined by commas (the format of "
        "OTEL_EXPORTER_OTLP_HEADERS): MLflow needs `x-mlflow-experiment-id=<id>`, the experiment the traces land in.",
    )
    traces_experiment: str = Field(
        "aiprime-traces",
        min_length=1,
        description="The MLflow experiment that `aiprime serve --trace` sends traces to (created when missing).",
    )
    rag_collection: str = Field(
        "documents",
        min_length=1,
        description="The retrieval collection that Dagster fills and servers search.",
    )
    rag_embedder: Literal["minilm", "minilm-int8"] = Field(
        "minilm-int8",
        description="The retrieval embedding model: `minilm-int8` (all-MiniLM-L6-v2's int8 ONNX export: a sixth "
        "of fp32's CPU per WordNet chunk, a third per long chunk, the same dense quality; "
        "bench/embedding_throughput.py) or `minilm` (fp32, PyTorch). A collection keeps the model it was "
        "ingested with: search refuses the other one until the collection is re-ingested.",
    )
    wordnet_dir: Path = Field(
        Path("/usr/share/wordnet"), description="WordNet 3.0 database (Debian wordnet-base)."
    )
    foldoc_dict: Path = Field(
        Path("/usr/share/dictd/foldoc.dict.dz"), description="FOLDOC dictionary (Debian dict-foldoc)."
    )
    python_docs_dir: Path = Field(
        Path("/usr/share/doc/python3.11/html/_sources"),
        description="Python 3.11 docs sources (python3.11-doc).",
    )
    stamps_dir: Path = Field(
        Path("/usr/share/tuxpaint/stamps"),
        description="Tux Paint stamps: images with English captions (Debian tuxpaint-stamps-default, GPL-2).",
    )
    clipart_dir: Path = Field(
        Path("/usr/share/openclipart/svg"),
        description="openclipart drawings: SVGs titled in their metadata (Debian openclipart-svg, public domain).",
    )
    librivox_dir: Path = Field(
        Path("/usr/share/pocketsphinx/test/data/librivox"),
        description="LibriVox clips with reference transcripts (Debian pocketsphinx-testdata).",
    )
    generator_url: str | None = Field(
        None,
        description="An OpenAI-compatible server that writes RAG answers (`{url}/v1/chat/completions`; a KServe "
        "Hugging Face runtime's is `http://<host>/openai`); unset: SmolLM2-135M-Instruct in process.",
    )
    generator_model: str = Field(
        "smollm2-135m-instruct", min_length=1, description="The `model` field sent to the generator server."
    )
    generator_api_key: SecretStr | None = Field(
        None, description="Bearer token for the generator server, if it asks for one."
    )
    generator_timeout_s: float = Field(60.0, gt=0, description="Seconds to wait for one generated answer.")

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, home: Path) -> Path:
        return home.expanduser().resolve()

    @property
    def pg_dir(self) -> Path:
        """Data folder of the embedded PostgreSQL."""
        return self.home / "pg"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        """Where the local MLflow server stores run artifacts and registered models."""
        return self.home / "mlflow" / "artifacts"

    @property
    def run_dir(self) -> Path:
        """Pid files of the local services."""
        return self.home / "run"

    @property
    def log_dir(self) -> Path:
        """Logs of the local services."""
        return self.home / "logs"

    @property
    def dvc_remote_dir(self) -> Path:
        """The default DVC remote: a local folder."""
        return self.home / "dvc-remote"

    @property
    def mlflow_url(self) -> str:
        """The MLflow tracking URI that clients use."""
        return self.mlflow_tracking_uri or f"http://{self.host}:{self.mlflow_port}"
