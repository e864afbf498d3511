"""Importing Feast through aiprime.features leaves Prometheus metrics in-process, as every server needs them."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import os
import aiprime.features.store
from prometheus_client import values
print(values.ValueClass is values.MutexValue, os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
"""


def test_importing_the_feature_store_keeps_metric_values_per_registry() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS_MULTIPROC")}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "None"], out.stdout + out.stderr
