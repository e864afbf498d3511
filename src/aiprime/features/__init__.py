"""Feast features: live per-expert serving statistics (for load-aware routing) and per-document metadata.

Importing Feast has a process-wide side effect that this package undoes: `feast.metrics` sets
PROMETHEUS_MULTIPROC_DIR (and PROMETHEUS_MULTIPROCESS_DIR) when it is imported. prometheus_client, if it is
imported after that, keeps every metric value in files shared by name, so two apps in one process count
into each other's counters, and every subprocess inherits the variables. Here prometheus_client is
imported first (in-process values) and the variables are put back as they were.
"""

import os

import prometheus_client.values  # noqa: F401  (decides in-process metric values before Feast is imported)

_FEAST_VARIABLES = ("PROMETHEUS_MULTIPROC_DIR", "PROMETHEUS_MULTIPROCESS_DIR")
_before = {name: os.environ.get(name) for name in _FEAST_VARIABLES}
import feast  # noqa: F401  (sets the variables above)

for _name, _value in _before.items():
    if _value is None:
        os.environ.pop(_name, None)
    else:
        os.environ[_name] = _value
