"""Feast definitions for the `feast` CLI: the library builds them (aiprime.features.definitions)."""

from aiprime.features.definitions import feature_objects
from aiprime.settings import Settings

# Feast's loader reads module-level objects; the settings choose where the offline files are.
(expert, document, expert_stats_push, expert_serving_stats, document_metadata) = feature_objects(Settings().home)
