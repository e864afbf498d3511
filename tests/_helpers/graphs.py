"""InferenceGraph YAML files for tests that run a router."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def write_graph(folder: Path, name: str, root: dict[str, Any]) -> Path:
    """`folder/graph.yaml`: an InferenceGraph named `name` whose only node, `root`, is `root`
    (e.g. `{"routerType": "Sequence", "steps": [...]}`)."""
    graph = {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "InferenceGraph",
        "metadata": {"name": name},
        "spec": {"nodes": {"root": root}},
    }
    path = folder / "graph.yaml"
    path.write_text(yaml.safe_dump(graph))
    return path
