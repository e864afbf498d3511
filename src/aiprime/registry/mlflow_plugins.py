"""Which of MLflow's installed plugins this process lets MLflow load.

Feast registers a `mlflow.request_header_provider` entry point (`FeastMLflowHeaderProvider`). MLflow loads every
such plugin on a process's first request to its server, which imports the whole of Feast (3.3 s at load 2.8
here, 51 s at load 16), in every pipeline task and model server that talks to MLflow. The provider also sends a
bearer token to the MLflow server: Feast's request token, `MLFLOW_TRACKING_TOKEN`, or the pod's Kubernetes
service-account token, which AI Prime never means to hand to MLflow. So AI Prime skips that one plugin; every
other plugin still loads.
"""

from __future__ import annotations

HEADER_PROVIDERS = "mlflow.request_header_provider"
SKIPPED_MODULES = ("feast.",)  # entry points whose target lies in these packages are not loaded


def skip_unwanted_header_providers() -> None:
    """From now on MLflow does not see the request-header plugins of `SKIPPED_MODULES` (idempotent).

    Call before the process's first request to MLflow: MLflow reads the plugins once, on that request.
    """
    from mlflow.utils import plugins

    if getattr(plugins._get_entry_points, "aiprime_filtered", False):
        return
    original = plugins._get_entry_points

    def entry_points(group: str):
        found = original(group)
        if group != HEADER_PROVIDERS:
            return found
        return [point for point in found if not point.value.startswith(SKIPPED_MODULES)]

    entry_points.aiprime_filtered = True
    plugins._get_entry_points = entry_points
