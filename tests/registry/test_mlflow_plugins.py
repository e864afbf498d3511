"""MLflow's request-header plugins: Feast's is skipped (seconds of imports, a bearer token), others still load."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
{setup}
from mlflow.tracking.request_header.registry import _request_header_provider_registry, resolve_request_headers
resolve_request_headers()
print(sorted(type(p).__name__ for p in _request_header_provider_registry))
print("feast" in sys.modules)
"""


def _providers_and_feast(setup: str) -> tuple[str, str]:
    """What a fresh process's MLflow registers, and whether it imported Feast, after `setup`."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    providers, feast = done.stdout.strip().splitlines()[-2:]
    return providers, feast


def test_importing_the_registry_keeps_feast_out_of_mlflows_first_request() -> None:
    providers, feast = _providers_and_feast("import aiprime.registry.mlflow_registry")
    assert (providers, feast) == (
        "['DatabricksRequestHeaderProvider', 'DefaultRequestHeaderProvider']",
        "False",
    )


def test_without_the_filter_mlflow_loads_feasts_provider() -> None:
    # The condition the filter exists for: if Feast stops registering the plugin, this test says the filter can go.
    providers, feast = _providers_and_feast("")
    assert "FeastMLflowHeaderProvider" in providers and feast == "True"


def test_the_filter_is_idempotent_and_keeps_other_groups() -> None:
    from mlflow.utils import plugins

    from aiprime.registry.mlflow_plugins import skip_unwanted_header_providers

    skip_unwanted_header_providers()
    first = plugins._get_entry_points
    skip_unwanted_header_providers()
    assert plugins._get_entry_points is first
    assert [p.value for p in plugins.get_entry_points("mlflow.request_header_provider")] == []
    assert plugins.get_entry_points("console_scripts")  # other groups pass through untouched
