"""The Dagster definitions of AI Prime; the one place where the environment picks the resources.

`dagster dev -m aiprime.orchestration.definitions` or `aiprime ui` loads them.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from aiprime import versioning
from aiprime.orchestration.agent_assets import GROUP as AGENTS
from aiprime.orchestration.agent_assets import (
    agent_drift_check_job,
    agent_drift_sensor,
    agent_policy,
    agent_policy_job,
    agent_traffic_drift,
    hourly_agent_drift_check,
)
from aiprime.orchestration.data_assets import build_data_assets, data_code_version, debian_sources
from aiprime.orchestration.data_checks import DATA_CHECKS
from aiprime.orchestration.drift_assets import (
    DRIFT_JOBS,
    DRIFT_SCHEDULES,
    drift_sensor,
    gate_feedback,
    traffic_drift,
)
from aiprime.orchestration.feature_assets import document_features, feature_store
from aiprime.orchestration.federated_assets import GROUP as FEDERATED
from aiprime.orchestration.federated_assets import federated_heads, federated_job
from aiprime.orchestration.lineage_events import lineage_sensors
from aiprime.orchestration.media_assets import GROUP as MEDIA
from aiprime.orchestration.media_assets import (
    audio_clips_follow_their_stamps,
    audio_dataset,
    audio_embeddings,
    drawing_embeddings,
    image_link,
    media_job,
    stamp_dataset,
    stamp_embeddings,
    stamp_folds_caption_disjoint,
    stamp_search_vectors,
)
from aiprime.orchestration.model_assets import moe_models
from aiprime.orchestration.rag_assets import (
    build_early_embeddings_asset,
    build_embeddings_asset,
    embedding_code_version,
    index_recall,
    reranker,
    reranker_calibration,
    vector_index,
)
from aiprime.orchestration.resources import Workspace, trainer_for
from aiprime.orchestration.serving_assets import deployment, first_answer
from aiprime.settings import Settings

everything_job = dg.define_asset_job(
    "everything",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups(FEDERATED, AGENTS, MEDIA),
    description="Materialise every asset but federated training, the agents' policy and the image assets: what `make run` runs.",
)


def build_definitions(settings: Settings, repo_root: Path) -> dg.Definitions:
    """Definitions for a checkout at `repo_root` with state under `settings.home`."""
    return dg.Definitions(
        assets=[
            debian_sources,
            *build_data_assets(data_code_version()),
            feature_store,
            document_features,
            build_early_embeddings_asset(embedding_code_version()),
            build_embeddings_asset(embedding_code_version()),
            vector_index,
            reranker,
            reranker_calibration,
            moe_models,
            traffic_drift,
            gate_feedback,
            first_answer,
            deployment,
            federated_heads,
            agent_policy,
            agent_traffic_drift,
            stamp_dataset,
            audio_dataset,
            audio_embeddings,
            stamp_embeddings,
            drawing_embeddings,
            image_link,
            stamp_search_vectors,
        ],
        asset_checks=[
            *DATA_CHECKS,
            index_recall,
            stamp_folds_caption_disjoint,
            audio_clips_follow_their_stamps,
        ],
        jobs=[everything_job, federated_job, agent_policy_job, agent_drift_check_job, media_job, *DRIFT_JOBS],
        schedules=[*DRIFT_SCHEDULES, hourly_agent_drift_check],
        sensors=[drift_sensor, agent_drift_sensor, *lineage_sensors(settings)],
        resources={"workspace": Workspace(repo_root, settings), "trainer": trainer_for(settings)},
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Entry point for Dagster's loaders: settings from the environment, the checkout from the cwd."""
    return build_definitions(Settings(), versioning.find_repo_root(Path.cwd()))
