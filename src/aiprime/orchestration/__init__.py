"""Dagster definitions: the lineage of every dataset and model, and the jobs, sensors and schedules on it.

Load them with `dagster dev -m aiprime.orchestration.definitions` (or `aiprime ui`).
"""
